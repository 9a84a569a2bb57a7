using System.Runtime.InteropServices;

namespace FineTune.Runtime;

/// <summary>
/// The native heap that libtorch's tensors live in. Under glibc's malloc, a training loop's large, short-lived
/// tensors (activations freed and re-allocated every step, by several threads) leave the heap fragmented and RSS
/// climbing long after the working set stopped growing; tcmalloc keeps it flat and is faster. These helpers choose
/// and report the allocator: <see cref="PreferTcmalloc"/> restarts a program under tcmalloc when it is installed;
/// without it, glibc runs with <see cref="GlibcDefaults"/> and the training loop's <see cref="GlibcHeapGuard"/>;
/// <see cref="Trim"/> hands free glibc heap memory back to the system.
/// </summary>
public static partial class NativeMemory
{
    /// <summary>Where Debian and Ubuntu install tcmalloc (libtcmalloc-minimal4 / google-perftools).</summary>
    public static IReadOnlyList<string> TcmallocCandidates { get; } =
    [
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib64/libtcmalloc_minimal.so.4",
        "/usr/lib/libtcmalloc_minimal.so.4",
    ];

    /// <summary>
    /// The environment variable that chooses the allocator: "tcmalloc" (the default: tcmalloc when installed, else glibc
    /// with the library's settings), "glibc" (glibc with the library's settings: mallopt at start-up, the heap guard in
    /// training) or "system" (the allocator the process started with, left as it is).
    /// </summary>
    public const string AllocatorVariable = "FINETUNE_ALLOCATOR";

    /// <summary>What <see cref="AllocatorVariable"/> asks for: "glibc" and "system" (any case), else tcmalloc.</summary>
    internal static AllocatorChoice Choice => ParseChoice(Environment.GetEnvironmentVariable(AllocatorVariable));

    /// <summary>The choice a value of <see cref="AllocatorVariable"/> makes.</summary>
    internal static AllocatorChoice ParseChoice(string? value) =>
        value?.Trim().ToLowerInvariant() switch
        {
            "glibc" => AllocatorChoice.Glibc,
            "system" => AllocatorChoice.System,
            _ => AllocatorChoice.Tcmalloc,
        };

    /// <summary>The allocator this process runs on: "tcmalloc" when it is preloaded, else "glibc" (on Linux).</summary>
    public static string Current =>
        !OperatingSystem.IsLinux() ? "system"
        : IsLoaded("tcmalloc") ? "tcmalloc"
        : "glibc";

    /// <summary>The installed tcmalloc library, or null.</summary>
    public static string? FindTcmalloc() =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64
            ? TcmallocCandidates.FirstOrDefault(File.Exists)
            : null;

    /// <summary>
    /// Call first thing in Main (a call from anywhere else does nothing). On Linux, when tcmalloc is installed, not yet loaded, and <see cref="AllocatorVariable"/>
    /// is not "glibc", replaces this process (execve, same process id, same arguments and standard streams) by itself
    /// with tcmalloc preloaded; it returns only when nothing was done (or the exec failed).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void PreferTcmalloc()
    {
        if (!OperatingSystem.IsLinux()) return;
        // Only a program's own Main may replace the process (not a test host that invokes that Main).
        if (System.Reflection.Assembly.GetEntryAssembly() != System.Reflection.Assembly.GetCallingAssembly()) return;
        if (Choice is not AllocatorChoice.Tcmalloc) return;
        if (IsLoaded("tcmalloc")) return;
        var library = FindTcmalloc();
        if (library is null) return;
        // Guard against a loop if the preload does not take (e.g. a secure-execution binary ignores LD_PRELOAD).
        if (Environment.GetEnvironmentVariable("FINETUNE_REEXEC") == "1") return;
        string[] argv;
        try { argv = File.ReadAllText("/proc/self/cmdline").TrimEnd('\0').Split('\0'); }
        catch (IOException) { return; }
        if (argv.Length == 0) return;
        var preload = Environment.GetEnvironmentVariable("LD_PRELOAD");
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => (string)e.Key is not ("LD_PRELOAD" or "FINETUNE_REEXEC"))
            .Select(e => $"{e.Key}={e.Value}")
            .Append("LD_PRELOAD=" + (string.IsNullOrEmpty(preload) ? library : library + ":" + preload))
            .Append("FINETUNE_REEXEC=1")
            .ToArray();
        Console.Out.Flush();
        Console.Error.Flush();
        _ = execve("/proc/self/exe", [.. argv, null], [.. environment, null]);
        // Only reached when exec failed: carry on under glibc.
    }

    /// <summary>Gives free memory at the top of glibc's heaps back to the system (malloc_trim); false when not on glibc.</summary>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux() || Current != "glibc") return false;
        try { return malloc_trim(0) != 0; }
        catch (EntryPointNotFoundException) { return false; }
        catch (DllNotFoundException) { return false; }
    }

    private static bool IsLoaded(string name)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
                if (line.Contains(name, StringComparison.Ordinal)) return true;
        }
        catch (IOException) { }
        return false;
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int execve(string path, string?[] argv, string?[] envp);

    /// <summary>
    /// The malloc settings the library applies on glibc at start-up (<see cref="TuneGlibc"/>), chosen by the
    /// <c>memory</c> benchmark (docs/performance.md).
    /// </summary>
    internal static GlibcMallocSettings GlibcDefaults { get; } = new() { ArenaMax = 2, TrimMargin = 256 << 20 };

    private static int _tuned;

    /// <summary>
    /// Applies <see cref="GlibcDefaults"/> once per process, on Linux under glibc's malloc, unless
    /// <see cref="AllocatorVariable"/> is "system". Called when the library is first used, before libtorch loads.
    /// </summary>
    internal static void TuneGlibc()
    {
        if (Choice is AllocatorChoice.System || Interlocked.Exchange(ref _tuned, 1) == 1) return;
        _ = ApplyGlibcSettings(GlibcDefaults);
    }

    /// <summary>
    /// Sets glibc malloc's tunables with mallopt (process-wide; effective for allocations made afterwards). Returns the
    /// names of the settings glibc rejected; nothing is done (and null returned) when the process is not on glibc.
    /// </summary>
    internal static IReadOnlyList<string>? ApplyGlibcSettings(GlibcMallocSettings settings)
    {
        if (!OperatingSystem.IsLinux() || Current != "glibc") return null;
        var rejected = new List<string>();
        try
        {
            // The arena limit first: it applies to the arenas created from now on.
            if (settings.ArenaMax is { } arenas && mallopt(MArenaMax, arenas) == 0) rejected.Add(nameof(settings.ArenaMax));
            if (settings.MmapThreshold is { } mmap && mallopt(MMmapThreshold, mmap) == 0) rejected.Add(nameof(settings.MmapThreshold));
            if (settings.TrimThreshold is { } trim && mallopt(MTrimThreshold, trim) == 0) rejected.Add(nameof(settings.TrimThreshold));
            if (settings.TopPad is { } pad && mallopt(MTopPad, pad) == 0) rejected.Add(nameof(settings.TopPad));
            if (settings.MmapMax is { } maps && mallopt(MMmapMax, maps) == 0) rejected.Add(nameof(settings.MmapMax));
        }
        catch (EntryPointNotFoundException) { return null; }
        catch (DllNotFoundException) { return null; }
        return rejected;
    }

    // mallopt's parameter numbers (glibc's malloc.h).
    private const int MTrimThreshold = -1, MTopPad = -2, MMmapThreshold = -3, MMmapMax = -4, MArenaMax = -8;

    [LibraryImport("libc")]
    private static partial int mallopt(int param, int value);

    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);
}

/// <summary>The values of <see cref="NativeMemory.AllocatorVariable"/>.</summary>
internal enum AllocatorChoice
{
    /// <summary>Unset (or "tcmalloc"): tcmalloc when installed, else glibc with <see cref="NativeMemory.GlibcDefaults"/>.</summary>
    Tcmalloc,

    /// <summary>"glibc": glibc's malloc with <see cref="NativeMemory.GlibcDefaults"/>, even when tcmalloc is installed.</summary>
    Glibc,

    /// <summary>"system": the allocator the process started with, left as it is (no restart, no settings).</summary>
    System,
}

/// <summary>
/// glibc malloc tunables set with mallopt (null: glibc's default). Sizes in bytes; a fixed mmap threshold also turns off
/// glibc's dynamic raising of it (and of the trim threshold) when mapped blocks are freed.
/// </summary>
internal sealed record GlibcMallocSettings
{
    /// <summary>M_ARENA_MAX: at most this many arenas (glibc's default is 8 per processor).</summary>
    public int? ArenaMax { get; init; }

    /// <summary>M_MMAP_THRESHOLD: blocks at least this large get their own mapping, returned to the system when freed (at most 32 MiB).</summary>
    public int? MmapThreshold { get; init; }

    /// <summary>M_TRIM_THRESHOLD: free memory at the top of the main heap beyond this is returned to the system.</summary>
    public int? TrimThreshold { get; init; }

    /// <summary>M_TOP_PAD: extra memory requested from the system whenever the main heap grows.</summary>
    public int? TopPad { get; init; }

    /// <summary>M_MMAP_MAX: at most this many blocks with their own mapping at a time (0: none; every block comes from an arena).</summary>
    public int? MmapMax { get; init; }

    /// <summary>Not a mallopt tunable: the margin of the training loop's <see cref="GlibcHeapGuard"/> (null: no guard).</summary>
    public int? TrimMargin { get; init; }

    /// <summary>Parses "arena=2:mmap=4M:trim=64M:pad=16M:maps=0:guard=256M" (sizes in bytes, or with a K, M or G suffix).</summary>
    public static GlibcMallocSettings Parse(string text)
    {
        var settings = new GlibcMallocSettings();
        foreach (var part in text.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (name, value) = part.Split('=', 2) is [var n, var v] ? (n, ParseSize(v)) : throw new FormatException($"expected name=value, got '{part}'");
            settings = name switch
            {
                "arena" => settings with { ArenaMax = value },
                "mmap" => settings with { MmapThreshold = value },
                "trim" => settings with { TrimThreshold = value },
                "pad" => settings with { TopPad = value },
                "maps" => settings with { MmapMax = value },
                "guard" => settings with { TrimMargin = value },
                _ => throw new FormatException($"unknown malloc setting '{name}' (arena, mmap, trim, pad, maps, guard)"),
            };
        }
        return settings;
    }

    private static int ParseSize(string text)
    {
        long scale = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        var digits = scale == 1 ? text : text[..^1];
        return checked((int)(long.Parse(digits, System.Globalization.CultureInfo.InvariantCulture) * scale));
    }

    /// <summary>The settings as <see cref="Parse"/> reads them.</summary>
    public override string ToString() => string.Join(':', new[]
    {
        ArenaMax is { } a ? $"arena={a}" : null,
        MmapThreshold is { } m ? $"mmap={Size(m)}" : null,
        TrimThreshold is { } t ? $"trim={Size(t)}" : null,
        TopPad is { } p ? $"pad={Size(p)}" : null,
        MmapMax is { } x ? $"maps={x}" : null,
        TrimMargin is { } g ? $"guard={Size(g)}" : null,
    }.Where(s => s is not null));

    private static string Size(int bytes) =>
        bytes % (1 << 20) == 0 ? $"{bytes >> 20}M" : bytes % (1 << 10) == 0 ? $"{bytes >> 10}K" : bytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
