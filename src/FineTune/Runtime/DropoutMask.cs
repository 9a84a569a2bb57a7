using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace FineTune.Runtime;

/// <summary>
/// Dropout masks made fast on the CPU. libtorch draws a dropout mask one element at a time from a single generator
/// (about 15–20 ns per element here); a BERT training step draws tens of millions of them (attention probabilities
/// alone are B·heads·T² per layer), which made dropout the largest cost of a step after the matrix products.
/// Here each element's keep/drop decision is a counter-based hash of (seed, index), computed 16 lanes at a time on
/// all threads; the seed is drawn from torch's default generator, so <c>torch.random.manual_seed</c> and saved RNG
/// states keep runs reproducible and resumable. The distribution is the same (each element kept with probability
/// 1 − p, scaled by 1/(1 − p)); the particular masks differ from libtorch's.
/// </summary>
public static class DropoutMask
{
    /// <summary>
    /// x * mask with mask ∈ {0, 1/(1−p)}, keep probability 1 − p: inverted dropout as torch.nn.functional.dropout in
    /// training. The product goes through autograd (its backward multiplies the gradient by the same mask). The mask
    /// is in <paramref name="x"/>'s dtype when that is fp32, and fp32 otherwise (the result then is fp32: a bf16 input
    /// is not scaled by a rounded 1/(1−p)).
    /// </summary>
    public static Tensor Apply(Tensor x, double p)
    {
        if (p <= 0) return x;
        if (p >= 1) return x.mul(0.0);
        if (x.device_type != TorchSharp.DeviceType.CPU)
            return nn.functional.dropout(x, p, training: true);
        using var mask = Create(x.shape, p);
        return x.mul(mask);
    }

    /// <summary>An fp32 tensor of <paramref name="shape"/> holding 1/(1−p) with probability 1 − p and 0 otherwise.</summary>
    public static Tensor Create(long[] shape, double p)
    {
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        var mask = empty(shape, dtype: ScalarType.Float32);
        long n = mask.NumberOfElements;
        if (n == 0) return mask;
        ulong seed = NextSeed();
        // An element is dropped when 24 random bits fall below p·2^24 (p is resolved to 6e-8).
        uint threshold = (uint)Math.Round(p * (1 << 24));
        float scale = (float)(1.0 / (1.0 - p));
        Fill(NativeTensor.DataPointer(mask), n, seed, threshold, scale);
        return mask;
    }

    /// <summary>A 64-bit seed from torch's default CPU generator (so the generator's state advances as dropout's would).</summary>
    private static ulong NextSeed()
    {
        using var r = randint(long.MinValue, long.MaxValue, [1], dtype: ScalarType.Int64);
        return unchecked((ulong)r.item<long>());
    }

    private const int Chunk = 1 << 16;

    private static unsafe void Fill(IntPtr data, long n, ulong seed, uint threshold, float scale)
    {
        var output = (float*)data;
        long chunks = (n + Chunk - 1) / Chunk;
        int threads = Math.Max(1, Math.Min(TorchSharp.torch.get_num_threads(), (int)Math.Min(chunks, int.MaxValue)));
        if (threads == 1)
        {
            FillRange(output, 0, n, seed, threshold, scale);
            return;
        }
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            long perThread = (chunks + threads - 1) / threads;
            long start = Math.Min(n, t * perThread * Chunk), end = Math.Min(n, (t + 1) * perThread * Chunk);
            FillRange(output, start, end, seed, threshold, scale);
        });
    }

    // Fully optimised from the first call: a step calls this a few dozen times, too few for tiered compilation.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void FillRange(float* output, long start, long end, ulong seed, uint threshold, float scale)
    {
        long i = start;
        while (i < end)
        {
            // 2^32 elements per block: the block number is mixed into the seed, the offset is the counter.
            long blockEnd = Math.Min(end, (i | uint.MaxValue) + 1);
            uint key0 = (uint)seed ^ (uint)((ulong)i >> 32) * 0x9E3779B9u;
            uint key1 = (uint)(seed >> 32);
            uint offset = (uint)i;
            long count = blockEnd - i;
            float* o = output + i;
            long j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var lane = Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                var k0 = Vector512.Create(key0);
                var k1 = Vector512.Create(key1);
                var limit = Vector512.Create(threshold);
                var keep = Vector512.Create(scale);
                for (; j + 16 <= count; j += 16)
                {
                    var h = Hash(Vector512.Create(offset + (uint)j) + lane, k0, k1);
                    var kept = Vector512.GreaterThanOrEqual(Vector512.ShiftRightLogical(h, 8), limit).AsSingle();
                    (kept & keep).Store(o + j);
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var lane = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7);
                var k0 = Vector256.Create(key0);
                var k1 = Vector256.Create(key1);
                var limit = Vector256.Create(threshold);
                var keep = Vector256.Create(scale);
                for (; j + 8 <= count; j += 8)
                {
                    var h = Hash(Vector256.Create(offset + (uint)j) + lane, k0, k1);
                    var kept = Vector256.GreaterThanOrEqual(Vector256.ShiftRightLogical(h, 8), limit).AsSingle();
                    (kept & keep).Store(o + j);
                }
            }
            for (; j < count; j++)
                o[j] = (Hash(offset + (uint)j, key0, key1) >> 8) >= threshold ? scale : 0f;
            i = blockEnd;
        }
    }

    // Two rounds of a 32-bit integer finaliser (xorshift-multiply, "lowbias32"), keyed by the seed between rounds.
    // The same function in the scalar and vector forms, so a mask does not depend on the vector width.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Hash(uint x, uint k0, uint k1)
    {
        x ^= k0;
        x ^= x >> 16; x *= 0x7FEB352Du; x ^= x >> 15; x *= 0x846CA68Bu; x ^= x >> 16;
        x ^= k1;
        x ^= x >> 16; x *= 0x7FEB352Du; x ^= x >> 15; x *= 0x846CA68Bu; x ^= x >> 16;
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Hash(Vector512<uint> x, Vector512<uint> k0, Vector512<uint> k1)
    {
        var m1 = Vector512.Create(0x7FEB352Du);
        var m2 = Vector512.Create(0x846CA68Bu);
        x ^= k0;
        x ^= Vector512.ShiftRightLogical(x, 16); x *= m1; x ^= Vector512.ShiftRightLogical(x, 15); x *= m2; x ^= Vector512.ShiftRightLogical(x, 16);
        x ^= k1;
        x ^= Vector512.ShiftRightLogical(x, 16); x *= m1; x ^= Vector512.ShiftRightLogical(x, 15); x *= m2; x ^= Vector512.ShiftRightLogical(x, 16);
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Hash(Vector256<uint> x, Vector256<uint> k0, Vector256<uint> k1)
    {
        var m1 = Vector256.Create(0x7FEB352Du);
        var m2 = Vector256.Create(0x846CA68Bu);
        x ^= k0;
        x ^= Vector256.ShiftRightLogical(x, 16); x *= m1; x ^= Vector256.ShiftRightLogical(x, 15); x *= m2; x ^= Vector256.ShiftRightLogical(x, 16);
        x ^= k1;
        x ^= Vector256.ShiftRightLogical(x, 16); x *= m1; x ^= Vector256.ShiftRightLogical(x, 15); x *= m2; x ^= Vector256.ShiftRightLogical(x, 16);
        return x;
    }
}
