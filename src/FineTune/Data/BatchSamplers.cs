namespace FineTune.Data;

/// <summary>A place in training: the epoch (0-based) and the batch within it (0-based) that comes next.</summary>
internal readonly record struct SamplerPosition(int Epoch, int Batch);

/// <summary>
/// Decides which examples go into which batch, epoch by epoch, as example indices; the tensors are made elsewhere.
/// The order of an epoch depends only on the seed and the epoch number, so training can resume at any
/// <see cref="SamplerPosition"/> and see the batches it would have seen.
/// </summary>
internal abstract class BatchSampler
{
    protected BatchSampler(int count, int batchSize, bool dropLast)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        Count = count;
        BatchSize = batchSize;
        DropLast = dropLast;
    }

    /// <summary>The number of examples.</summary>
    public int Count { get; }

    public int BatchSize { get; }

    /// <summary>Whether the last, smaller batch of an epoch is left out.</summary>
    public bool DropLast { get; }

    public int BatchesPerEpoch => DropLast ? Count / BatchSize : (Count + BatchSize - 1) / BatchSize;

    /// <summary>Every example index once, in the order the epoch visits them; batches are consecutive runs of it.</summary>
    public abstract int[] EpochOrder(int epoch);

    /// <summary>The batches of an epoch.</summary>
    public IReadOnlyList<int[]> GetBatches(int epoch) => GetBatches(epoch, 0).ToArray();

    /// <summary>The batches of an epoch from batch <paramref name="startBatch"/> on (to resume inside an epoch).</summary>
    public IEnumerable<int[]> GetBatches(int epoch, int startBatch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfNegative(startBatch);
        var order = EpochOrder(epoch);
        for (var b = startBatch; b < BatchesPerEpoch; b++)
        {
            var start = b * BatchSize;
            yield return order[start..Math.Min(start + BatchSize, order.Length)];
        }
    }

    /// <summary>The batches from <paramref name="start"/> to the end of epoch <paramref name="epochs"/> - 1, with their positions.</summary>
    public IEnumerable<(SamplerPosition Position, int[] Indices)> Enumerate(SamplerPosition start, int epochs)
    {
        for (var epoch = start.Epoch; epoch < epochs; epoch++)
        {
            var batch = epoch == start.Epoch ? start.Batch : 0;
            foreach (var indices in GetBatches(epoch, batch))
                yield return (new SamplerPosition(epoch, batch++), indices);
        }
    }
}

/// <summary>Examples in their order, every epoch (evaluation, prediction).</summary>
internal sealed class SequentialBatchSampler(int count, int batchSize, bool dropLast = false) : BatchSampler(count, batchSize, dropLast)
{
    public override int[] EpochOrder(int epoch)
    {
        var order = new int[Count];
        for (var i = 0; i < order.Length; i++) order[i] = i;
        return order;
    }
}

/// <summary>A fresh random permutation of the examples each epoch, fixed by the seed and the epoch.</summary>
internal sealed class ShuffledBatchSampler(int count, int batchSize, int seed, bool dropLast = false) : BatchSampler(count, batchSize, dropLast)
{
    public int Seed { get; } = seed;

    public override int[] EpochOrder(int epoch) => SeededRandom.ForStream(Seed, epoch).Permutation(Count);
}

/// <summary>
/// Batches of examples of similar length, to waste less padding, with Hugging Face's group_by_length order: the
/// examples are randomly permuted, cut into megabatches of <see cref="MegabatchMultiplier"/> × batch size, each
/// megabatch sorted by length, longest first (equal lengths keep their permuted order), and the longest example of
/// all is swapped to the very front, so the first batch is the largest and running out of memory happens at once,
/// not hours later.
/// </summary>
internal sealed class LengthGroupedBatchSampler : BatchSampler
{
    private readonly int[] _lengths;

    /// <param name="lengths">The length (e.g. token count) of each example.</param>
    /// <param name="megabatchMultiplier">
    /// Batches per megabatch. Null: Hugging Face's default, min(count / (4 × batch size), 50) and at least 1.
    /// </param>
    public LengthGroupedBatchSampler(IReadOnlyList<int> lengths, int batchSize, int seed, int? megabatchMultiplier = null, bool dropLast = false)
        : base(lengths.Count, batchSize, dropLast)
    {
        if (megabatchMultiplier is <= 0)
            throw new ArgumentOutOfRangeException(nameof(megabatchMultiplier), megabatchMultiplier, "must be positive");
        _lengths = lengths.ToArray();
        Seed = seed;
        MegabatchMultiplier = megabatchMultiplier ?? Math.Max(1, Math.Min(lengths.Count / (batchSize * 4), 50));
    }

    public int Seed { get; }

    public int MegabatchMultiplier { get; }

    public int MegabatchSize => MegabatchMultiplier * BatchSize;

    public override int[] EpochOrder(int epoch)
    {
        var order = SeededRandom.ForStream(Seed, epoch).Permutation(Count);
        if (order.Length == 0) return order;

        var megabatchStarts = new List<int>();
        for (var start = 0; start < order.Length; start += MegabatchSize)
        {
            var length = Math.Min(MegabatchSize, order.Length - start);
            var sorted = order.AsSpan(start, length).ToArray()
                .Select((index, position) => (index, position))
                .OrderByDescending(p => _lengths[p.index])
                .ThenBy(p => p.position)
                .Select(p => p.index)
                .ToArray();
            sorted.CopyTo(order, start);
            megabatchStarts.Add(start);
        }

        // Swap the longest example (the first of the megabatch with the largest head; the first such megabatch on
        // ties) into position 0.
        var longest = megabatchStarts[0];
        foreach (var start in megabatchStarts)
            if (_lengths[order[start]] > _lengths[order[longest]])
                longest = start;
        (order[0], order[longest]) = (order[longest], order[0]);
        return order;
    }
}
