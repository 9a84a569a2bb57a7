using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using FineTune.Data;
using FineTune.Runtime;
using static TorchSharp.torch;

namespace FineTune.Training;

/// <summary>
/// The trainer's side of data-parallel training: every rank computes the summed loss of its share of each batch
/// (<see cref="Communicators.Shard"/>), the gradients are summed over the ranks in flat buckets and divided once by
/// the global loss denominator, as accumulation over micro-batches does, and every rank then takes the same
/// optimizer step. A checksum of the parameters, compared every <see cref="ChecksumSteps"/> steps, stops ranks that
/// diverge. With one process nothing here is called.
/// </summary>
internal sealed class DataParallel(ICommunicator communicator, int checksumSteps)
{
    /// <summary>Floats per all-reduce call: 4 Mi (16 MiB), so that no call is huge and the buffers are cut in a few pieces.</summary>
    public const long BucketElements = 1 << 22;

    public ICommunicator Communicator { get; } = communicator;
    public int ChecksumSteps { get; } = checksumSteps;
    public int Rank => Communicator.Rank;
    public int Size => Communicator.Size;

    /// <summary>Seconds spent summing gradients since the last <see cref="TakeReduceSeconds"/>.</summary>
    private double _reduceSeconds;

    /// <summary>
    /// Sums the gradient buffers and the loss denominators over the ranks; returns the global denominator. Each
    /// buffer goes in buckets of <see cref="BucketElements"/>.
    /// </summary>
    public unsafe double ReduceGradients(FusedAdamW optimizer, double localDenominator, long step)
    {
        var clock = Stopwatch.StartNew();
        Span<double> denominator = [localDenominator];
        Communicator.AllReduceSum(denominator, $"the loss denominator of step {step}");
        string context = $"the gradients of step {step}";
        foreach (var buffer in optimizer.GradientBuffers)
        {
            var data = (float*)NativeTensor.DataPointer(buffer);
            long count = buffer.NumberOfElements;
            for (long offset = 0; offset < count; offset += BucketElements)
                Communicator.AllReduceSum(data + offset, Math.Min(BucketElements, count - offset), context);
        }
        _reduceSeconds += clock.Elapsed.TotalSeconds;
        return denominator[0];
    }

    public double TakeReduceSeconds()
    {
        var seconds = _reduceSeconds;
        _reduceSeconds = 0;
        return seconds;
    }

    /// <summary>Whether any rank asks to stop (so that all stop after the same step).</summary>
    public bool AnyRank(bool request, string context)
    {
        Span<double> flag = [request ? 1 : 0];
        Communicator.AllReduceSum(flag, context);
        return flag[0] > 0;
    }

    /// <summary>The mean loss over every rank's examples: Σ loss sums / Σ denominators.</summary>
    public double MeanLoss(double localLossSum, double localDenominator, long step)
    {
        Span<double> sums = [localLossSum, localDenominator];
        Communicator.AllReduceSum(sums, $"the loss of step {step}");
        return sums[0] / Math.Max(sums[1], 1e-12);
    }

    /// <summary>The seed of rank <paramref name="rank"/>'s dropout stream when it starts (or resumes) at <paramref name="step"/>.</summary>
    public static long DropoutSeed(int seed, int rank, long step) =>
        (long)(SeededRandom.ForStream((long)SeededRandom.ForStream(seed, rank).NextUInt64(), step).NextUInt64() >> 1);

    public bool ChecksumDue(long step, bool lastStep) => lastStep || (ChecksumSteps > 0 && step % ChecksumSteps == 0);

    /// <summary>
    /// Compares the checksum of the parameters (and <paramref name="facts"/>: what every rank must agree on, such as
    /// the number of training examples) over the ranks; throws on every rank when any differ.
    /// </summary>
    public void CheckSameModel(FusedAdamW optimizer, long step, params long[] facts)
    {
        var mine = new long[facts.Length + 1];
        mine[0] = (long)Checksum(optimizer.ParameterBuffers);
        facts.CopyTo(mine, 1);
        var bytes = new byte[mine.Length * sizeof(long)];
        Buffer.BlockCopy(mine, 0, bytes, 0, bytes.Length);
        var all = Communicator.AllGather(bytes, $"the parameter checksum after step {step}");
        var values = all.Select(b => Enumerable.Range(0, mine.Length).Select(i => BitConverter.ToInt64(b, i * sizeof(long))).ToArray()).ToArray();
        if (values.All(v => v.SequenceEqual(values[0]))) return;
        string Describe(long[] v) => string.Join(" ", v.Select((x, i) => i == 0 ? x.ToString("x16", CultureInfo.InvariantCulture) : x.ToString(CultureInfo.InvariantCulture)));
        bool sameFacts = values.All(v => v.Skip(1).SequenceEqual(values[0].Skip(1)));
        throw new FineTuneException((sameFacts
                ? $"the ranks' parameters differ after step {step}: the ranks no longer train the same model"
                : "the ranks do not see the same training run (the model, data or options differ between them)")
            + $" (per rank: checksum, examples, steps: {string.Join("; ", values.Select((v, r) => $"rank {r}: {Describe(v)}"))})");
    }

    /// <summary>An order-sensitive 64-bit checksum of the buffers' bits (any changed bit changes it).</summary>
    internal static unsafe ulong Checksum(IEnumerable<Tensor> buffers)
    {
        const ulong Prime = 0x100000001B3UL;
        ulong hash = 0xCBF29CE484222325UL;
        foreach (var buffer in buffers)
        {
            var bytes = (byte*)NativeTensor.DataPointer(buffer);
            long length = buffer.NumberOfElements * buffer.ElementSize;
            long words = length / sizeof(ulong), i = 0;
            var lanes = new Vector<ulong>(hash);
            var p = (ulong*)bytes;
            // Lane-wise multiply-add over 64-bit words, then the lanes and the tail folded in.
            for (; i + Vector<ulong>.Count <= words; i += Vector<ulong>.Count)
                lanes = lanes * Prime + Vector.Load(p + i);
            for (int l = 0; l < Vector<ulong>.Count; l++) hash = (hash ^ lanes[l]) * Prime;
            for (; i < words; i++) hash = (hash ^ p[i]) * Prime;
            for (long b = words * sizeof(ulong); b < length; b++) hash = (hash ^ bytes[b]) * Prime;
            hash = (hash ^ (ulong)length) * Prime;
        }
        return hash;
    }
}
