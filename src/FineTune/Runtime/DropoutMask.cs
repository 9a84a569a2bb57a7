using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Runtime;

/// <summary>
/// Dropout made fast on the CPU. libtorch draws a dropout mask one element at a time from a single generator
/// (about 15–20 ns per element here) and keeps it for the backward pass; a BERT training step draws tens of millions
/// of them (attention probabilities alone are B·heads·T² per layer), which made dropout the largest cost of a step
/// after the matrix products, and the masks a good part of its memory. Here an element's keep/drop decision is a
/// counter-based hash of (seed, index), computed 16 lanes at a time on all threads, applied in the same pass that
/// reads the input and writes the output; the backward pass recomputes it from the seed instead of storing a mask.
/// The seed is drawn from torch's default generator, so <c>torch.random.manual_seed</c> and saved RNG states keep
/// runs reproducible and resumable. The distribution is the same as torch.nn.functional.dropout's (each element kept
/// with probability 1 − p, scaled by 1/(1 − p), the scaling done in fp32 also for bf16 tensors); the particular
/// masks differ from libtorch's.
/// </summary>
internal static class DropoutMask
{
    /// <summary>Inverted dropout of <paramref name="x"/> in training (fp32 or bf16 on the CPU; libtorch's dropout otherwise).</summary>
    public static Tensor Apply(Tensor x, double p)
    {
        if (p <= 0) return x;
        if (p >= 1) return x.mul(0.0);
        if (x.device_type != DeviceType.CPU || x.dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            return nn.functional.dropout(x, p, training: true);
        var mask = new Mask(NextSeed(), p);
        if (!(is_grad_enabled() && x.requires_grad)) return Run(x, mask);
        var output = DropoutFunction.apply(x, mask);
        AutogradNodes.ReleaseOutputCache<DropoutFunction>();
        return output;
    }

    /// <summary>The mask dropout with probability <paramref name="p"/> would apply next: 1/(1−p) where kept, 0 where dropped (fp32).</summary>
    public static Tensor Create(long[] shape, double p)
    {
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        using var ones = torch.ones(shape, dtype: ScalarType.Float32);
        return Run(ones, new Mask(NextSeed(), p));
    }

    /// <summary>A drawn mask: the seed and the threshold (an element is dropped when 24 random bits fall below p·2^24).</summary>
    internal readonly record struct Mask(ulong Seed, double P)
    {
        public uint Threshold => (uint)Math.Round(P * (1 << 24));
        public float Scale => (float)(1.0 / (1.0 - P));
    }

    /// <summary>A 64-bit seed from torch's default CPU generator (so the generator's state advances as dropout's would).</summary>
    internal static ulong NextSeed()
    {
        using var r = randint(long.MinValue, long.MaxValue, [1], dtype: ScalarType.Int64);
        return unchecked((ulong)r.item<long>());
    }

    /// <summary>x ⊙ mask, a new tensor of x's shape and dtype.</summary>
    internal static Tensor Run(Tensor x, Mask mask)
    {
        using var source = x.contiguous();
        var output = empty_like(source);
        long n = source.NumberOfElements;
        if (n == 0) return output;
        IntPtr src = NativeTensor.DataPointer(source), dst = NativeTensor.DataPointer(output);
        bool bf16 = source.dtype == ScalarType.BFloat16;
        uint threshold = mask.Threshold;
        float scale = mask.Scale;
        ForRanges(n, (start, end) =>
        {
            unsafe
            {
                if (bf16) ApplyBf16((ushort*)src, (ushort*)dst, start, end, mask.Seed, threshold, scale);
                else ApplyFloat((float*)src, (float*)dst, start, end, mask.Seed, threshold, scale);
            }
        });
        return output;
    }

    /// <summary>y = x ⊙ mask; the backward pass recomputes the mask from its seed.</summary>
    private sealed class DropoutFunction : autograd.SingleTensorFunction<DropoutFunction>
    {
        public override string Name => "FastDropout";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var mask = (Mask)vars[1];
            AutogradNodes.WithoutZeroGradients(ctx); // no output-sized buffer for zeros
            ctx.save_data("mask", mask);
            return Run((Tensor)vars[0], mask);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput) =>
            gradOutput is null || gradOutput.IsInvalid ? [null!, null!] : [Run(gradOutput, (Mask)ctx.get_data("mask")), null!];
    }

    /// <summary>How many output buffers the newest graph node of dropout holds (see <see cref="AutogradNodes"/>); for tests.</summary>
    internal static int? CachedOutputsOfNewestNode() => AutogradNodes.CachedOutputs<DropoutFunction>();

    private const int Chunk = 1 << 16;

    /// <summary>Splits [0, n) into one range per thread, on multiples of <see cref="Chunk"/>, and runs them in parallel.</summary>
    private static void ForRanges(long n, Action<long, long> body)
    {
        long chunks = (n + Chunk - 1) / Chunk;
        int threads = (int)Math.Max(1, Math.Min(torch.get_num_threads(), chunks));
        if (threads == 1)
        {
            body(0, n);
            return;
        }
        long perThread = (chunks + threads - 1) / threads * Chunk;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
            t => body(Math.Min(n, t * perThread), Math.Min(n, (t + 1) * perThread)));
    }

    // Each element's decision depends only on (seed, index): the same for any split into ranges and any vector width.
    // Elements are numbered in blocks of 2^32: the block number is mixed into the first key, the offset is the counter.

    private static (uint Key0, uint Key1) Keys(ulong seed, long index) =>
        ((uint)seed ^ (uint)((ulong)index >> 32) * 0x9E3779B9u, (uint)(seed >> 32));

    /// <summary>
    /// The factors of elements [start, start + count) of a tensor under <paramref name="mask"/>: 1/(1−p) where kept,
    /// 0 where dropped, written to <paramref name="factors"/> (the same decisions <see cref="Run"/> makes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void Factors(float* factors, long start, int count, Mask mask)
    {
        uint threshold = mask.Threshold;
        float scale = mask.Scale;
        for (long i = start, end = start + count; i < end;)
        {
            long blockEnd = Math.Min(end, (i | uint.MaxValue) + 1);
            var (key0, key1) = Keys(mask.Seed, i);
            uint offset = (uint)i;
            long n = blockEnd - i;
            float* dst = factors + (i - start);
            long j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var lane = Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                var k0 = Vector512.Create(key0);
                var k1 = Vector512.Create(key1);
                var limit = Vector512.Create(threshold);
                var s = Vector512.Create(scale);
                for (; j + 16 <= n; j += 16)
                {
                    var keep = Vector512.GreaterThanOrEqual(Vector512.ShiftRightLogical(Hash(Vector512.Create(offset + (uint)j) + lane, k0, k1), 8), limit);
                    (s & keep.AsSingle()).Store(dst + j);
                }
            }
            for (; j < n; j++)
                dst[j] = (Hash(offset + (uint)j, key0, key1) >> 8) >= threshold ? scale : 0f;
            i = blockEnd;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ApplyFloat(float* x, float* y, long start, long end, ulong seed, uint threshold, float scale)
    {
        for (long i = start; i < end;)
        {
            long blockEnd = Math.Min(end, (i | uint.MaxValue) + 1);
            var (key0, key1) = Keys(seed, i);
            uint offset = (uint)i;
            long count = blockEnd - i;
            float* src = x + i, dst = y + i;
            long j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var lane = Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                var k0 = Vector512.Create(key0);
                var k1 = Vector512.Create(key1);
                var limit = Vector512.Create(threshold);
                var s = Vector512.Create(scale);
                for (; j + 16 <= count; j += 16)
                {
                    var keep = Vector512.GreaterThanOrEqual(Vector512.ShiftRightLogical(Hash(Vector512.Create(offset + (uint)j) + lane, k0, k1), 8), limit);
                    (Vector512.Load(src + j) * s & keep.AsSingle()).Store(dst + j);
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var lane = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7);
                var k0 = Vector256.Create(key0);
                var k1 = Vector256.Create(key1);
                var limit = Vector256.Create(threshold);
                var s = Vector256.Create(scale);
                for (; j + 8 <= count; j += 8)
                {
                    var keep = Vector256.GreaterThanOrEqual(Vector256.ShiftRightLogical(Hash(Vector256.Create(offset + (uint)j) + lane, k0, k1), 8), limit);
                    (Vector256.Load(src + j) * s & keep.AsSingle()).Store(dst + j);
                }
            }
            for (; j < count; j++)
                dst[j] = (Hash(offset + (uint)j, key0, key1) >> 8) >= threshold ? src[j] * scale : 0f;
            i = blockEnd;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ApplyBf16(ushort* x, ushort* y, long start, long end, ulong seed, uint threshold, float scale)
    {
        for (long i = start; i < end;)
        {
            long blockEnd = Math.Min(end, (i | uint.MaxValue) + 1);
            var (key0, key1) = Keys(seed, i);
            uint offset = (uint)i;
            long count = blockEnd - i;
            ushort* src = x + i, dst = y + i;
            long j = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var lane = Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                var k0 = Vector512.Create(key0);
                var k1 = Vector512.Create(key1);
                var limit = Vector512.Create(threshold);
                var s = Vector512.Create(scale);
                for (; j + 16 <= count; j += 16)
                {
                    var keep = Vector512.GreaterThanOrEqual(Vector512.ShiftRightLogical(Hash(Vector512.Create(offset + (uint)j) + lane, k0, k1), 8), limit);
                    var bits = Vector512.ShiftLeft(Vector512.WidenLower(Vector256.Load(src + j).AsUInt16().ToVector512Unsafe()).AsUInt32(), 16);
                    var scaled = (bits.AsSingle() * s & keep.AsSingle()).AsUInt32();
                    // Round to nearest even on the upper 16 bits (finite values; dropout keeps NaN and infinity as they are).
                    var rounded = Vector512.ShiftRightLogical(scaled + Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(scaled, 16) & Vector512.Create(1u)), 16);
                    Vector512.Narrow(rounded, Vector512<uint>.Zero).GetLower().Store(dst + j);
                }
            }
            for (; j < count; j++)
                dst[j] = (Hash(offset + (uint)j, key0, key1) >> 8) >= threshold ? ToBf16(FromBf16(src[j]) * scale) : (ushort)0;
            i = blockEnd;
        }
    }

    private static float FromBf16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    private static ushort ToBf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    // Two rounds of a 32-bit integer finaliser (xorshift-multiply, "lowbias32"), keyed by the seed between rounds.
    // The same function in the scalar and vector forms.

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
