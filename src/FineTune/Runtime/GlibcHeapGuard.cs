using System.Globalization;

namespace FineTune.Runtime;

/// <summary>
/// Keeps a training process on glibc's malloc near its working set. glibc keeps freed blocks in its arenas for
/// reuse; when every batch has a length of its own (length-grouped batches of real text), the next step's tensors
/// often do not fit the holes the last one left, the heaps grow and RSS climbs step after step (measured: +4.4 GiB
/// per 100 steps at 32 × 256). After each step the guard reads the resident set; when it has grown by more than
/// <see cref="Margin"/> above what a step needs, it returns glibc's free pages to the system
/// (<see cref="NativeMemory.Trim"/>). What a step needs is measured on the first step and on each step after a
/// trim (steps that start without reusable free pages), and only ever rises. A trim costs the page faults of
/// touching those pages again, so it runs only when the heap grew, not after every step.
/// Within a step, the forward pass frees its temporaries between the activations it keeps, and the backward pass's
/// tensors, of other sizes, do not all fit those holes: the heap grows past them and the step's peak exceeds its
/// working set (measured at 32 × 256: 3.0 GiB against tcmalloc's 2.6). Trimming between the two passes
/// (<see cref="BeforeBackward"/>) hands the holes' pages back, and the backward pass reuses their addresses instead of
/// growing the heap (peak 2.7 GiB). It returns only free pages (blocks in use stay where they are; it also merges
/// glibc's small free blocks, which was not measured to raise any peak), but each returned page the step touches again is a page fault, a cost that grows with the
/// batch's activations while the step's time grows faster (attention is quadratic in the length): measured at 5% of
/// the step at 32 × 256 and 15% at 32 × 128, where the peak is well within bounds without it. So the guard trims
/// between the passes of long batches only: rows × length² of at least <see cref="LongBatch"/> (2²⁰, between
/// 32 × 128² and 32 × 256²: from 32 × 182 on).
/// </summary>
internal sealed class GlibcHeapGuard
{
    private long _limit = -1;
    private bool _fresh = true;

    public GlibcHeapGuard(long margin)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(margin);
        Margin = margin;
    }

    /// <summary>How far (bytes) the resident set may grow above a fresh step's before the heap is trimmed.</summary>
    public long Margin { get; }

    /// <summary>How many times the heap was trimmed.</summary>
    public int Trims { get; private set; }

    /// <summary>The guard the library's training loop uses in this process: null unless it runs on glibc's malloc with the library's settings.</summary>
    public static GlibcHeapGuard? ForThisProcess() =>
        NativeMemory.Choice is not AllocatorChoice.System && NativeMemory.GlibcDefaults.TrimMargin is { } margin && NativeMemory.Current == "glibc"
            ? new GlibcHeapGuard(margin)
            : null;

    /// <summary>The size of a batch, rows × length² (the scale of its attention scores), from which the heap is trimmed between its forward and backward pass.</summary>
    public const long LongBatch = 1L << 20;

    /// <summary>How many times the heap was trimmed between a forward and a backward pass.</summary>
    public int BackwardTrims { get; private set; }

    /// <summary>
    /// Called between the forward pass and the backward pass of a batch of <paramref name="rows"/> × <paramref name="length"/>
    /// tokens: for a long batch (<see cref="LongBatch"/>), returns the free pages the forward pass left in glibc's heaps.
    /// </summary>
    public void BeforeBackward(long rows, long length)
    {
        if (rows * length * length < LongBatch) return;
        NativeMemory.Trim();
        BackwardTrims++;
    }

    /// <summary>Called after each step; true when it trimmed the heap.</summary>
    public bool AfterStep() => Observe(ResidentBytes(), NativeMemory.Trim);

    /// <summary>The decision for a step that ended with <paramref name="resident"/> bytes resident; <paramref name="trim"/> runs the trim.</summary>
    internal bool Observe(long resident, Func<bool> trim)
    {
        if (resident <= 0) return false;
        if (_fresh)
        {
            _limit = Math.Max(_limit, resident + Margin);
            _fresh = false;
            return false;
        }
        if (resident <= _limit) return false;
        trim();
        Trims++;
        _fresh = true;
        return true;
    }

    /// <summary>This process's resident set (/proc/self/statm), bytes; -1 when unknown.</summary>
    internal static long ResidentBytes()
    {
        try
        {
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (IOException) { return -1; }
        catch (UnauthorizedAccessException) { return -1; }
        catch (FormatException) { return -1; }
    }
}
