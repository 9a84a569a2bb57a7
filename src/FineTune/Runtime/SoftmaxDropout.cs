using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Runtime;

/// <summary>
/// Attention's probabilities in one pass: dropout(softmax(scores · scale + bias)) over the last dimension, and its
/// gradient in one pass. The composition of libtorch's ops reads and writes the [B, heads, T, T] tensors five times
/// forward (scale, add the bias, softmax, dropout) and four times backward, each with its own bf16 ↔ fp32 conversions;
/// here each row is read once, worked on in fp32 in the cache, and written once (the probabilities also once more for
/// backward), on all threads, 16 lanes at a time. The dropout mask is <see cref="DropoutMask"/>'s (the same seed from
/// torch's generator, the same decision for each element of the [B, heads, T, T] tensor); forward keeps it as bits
/// (1/16 of the bf16 probabilities' memory) for backward, which would otherwise spend as long hashing again as on the
/// rest of its work.
/// The output and the gradient have the scores' dtype (fp32, or bf16 under autocast); the bias gets no gradient.
/// A row whose every score is −∞ has probabilities 0 (libtorch's softmax gives NaN there); a row with a NaN is NaN;
/// probabilities below e^−64 of the row's largest are 0 (see <see cref="ExpCutoff"/>).
/// </summary>
internal static class SoftmaxDropout
{
    /// <summary>Whether the op can run on <paramref name="like"/>'s device (a CPU with AVX-512).</summary>
    public static bool IsAvailable(Tensor like) => RowKernels.IsAvailable(like);

    /// <summary>Whether <see cref="Apply"/> takes these tensors: CPU with AVX-512, fp32 or bf16 scores, a bias that broadcasts to them and needs no gradient.</summary>
    public static bool Supports(Tensor scores, Tensor? bias)
    {
        if (!IsAvailable(scores) || scores.dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || scores.dim() < 1)
            return false;
        if (bias is null) return true;
        if (bias.device_type != DeviceType.CPU || bias.requires_grad || !bias.is_floating_point() || bias.dim() > scores.dim())
            return false;
        for (int i = 1; i <= bias.dim(); i++)
            if (bias.shape[^i] != 1 && bias.shape[^i] != scores.shape[^i]) return false;
        return true;
    }

    /// <summary>
    /// dropout(softmax(<paramref name="scores"/> · <paramref name="scale"/> + <paramref name="bias"/>, −1), <paramref name="p"/>)
    /// in training, with the gradient for <paramref name="scores"/> when it requires one. The sums are in fp32.
    /// </summary>
    public static Tensor Apply(Tensor scores, Tensor? bias, double scale, double p)
    {
        if (!Supports(scores, bias)) throw new ArgumentException("scores and bias not supported here (see Supports)", nameof(scores));
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        DropoutMask.Mask? mask = p > 0 ? new DropoutMask.Mask(DropoutMask.NextSeed(), p) : null;
        using var rowBias = RowBias(scores, bias);
        var input = new Input(rowBias, (float)scale, mask);
        if (!(is_grad_enabled() && scores.requires_grad))
            return Forward(scores, input, keepProbabilities: false);
        try
        {
            var output = Function.apply(scores, input);
            AutogradNodes.ReleaseOutputCache<Function>();
            return output;
        }
        finally
        {
            input.Probabilities?.Dispose(); // autograd holds its own references until backward
            input.Kept?.Dispose();
        }
    }

    /// <summary>How many output buffers the newest graph node of this op holds (see <see cref="AutogradNodes"/>); for tests.</summary>
    internal static int? CachedOutputsOfNewestNode() => AutogradNodes.CachedOutputs<Function>();

    /// <summary>The arguments besides the scores; not a tensor, so that autograd does not take the bias for an input.</summary>
    private sealed class Input(Tensor? bias, float scale, DropoutMask.Mask? mask)
    {
        public Tensor? Bias { get; } = bias;
        public float Scale { get; } = scale;
        public DropoutMask.Mask? Mask { get; } = mask;
        public Tensor? Probabilities { get; set; }
        public Tensor? Kept { get; set; }
    }

    private sealed class Function : autograd.SingleTensorFunction<Function>
    {
        public override string Name => nameof(SoftmaxDropout);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var input = (Input)vars[1];
            var output = Forward((Tensor)vars[0], input, keepProbabilities: true);
            // No zeros are made for a missing gradient (backward handles it), so no output-sized buffer is kept for them.
            AutogradNodes.WithoutZeroGradients(ctx);
            ctx.save_for_backward(input.Kept is null ? [input.Probabilities!] : [input.Probabilities!, input.Kept]);
            ctx.save_data("scale", input.Scale);
            ctx.save_data("keepScale", input.Mask?.Scale ?? 1f);
            return output;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            if (gradOutput is null || gradOutput.IsInvalid) return [null!, null!]; // no gradient came (not materialised)
            var saved = ctx.get_saved_variables();
            using var probabilities = saved[0];
            using var kept = saved.Count > 1 ? saved[1] : null;
            return [Backward(gradOutput, probabilities, kept, (float)ctx.get_data("scale"), (float)ctx.get_data("keepScale")), null!];
        }
    }

    /// <summary>The bias as fp32 with the scores' shape (a broadcast view: rows of T contiguous values, or one value per row repeated).</summary>
    private static Tensor? RowBias(Tensor scores, Tensor? bias)
    {
        if (bias is null) return null;
        using var fp32 = bias.to(ScalarType.Float32);
        using var atLeast1 = fp32.dim() == 0 ? fp32.reshape(1) : fp32.alias();
        long t = scores.shape[^1];
        using var rows = atLeast1.shape[^1] == t ? atLeast1.alias() : atLeast1.expand([.. atLeast1.shape[..^1], t]).contiguous();
        using var view = rows.expand(scores.shape);
        return view.stride(-1) == 1 || t == 1 ? view.alias() : view.contiguous();
    }

    private static unsafe Tensor Forward(Tensor scores, Input input, bool keepProbabilities)
    {
        using var source = scores.contiguous();
        var output = empty_like(source);
        var probabilities = keepProbabilities ? empty_like(source) : null;
        input.Probabilities = probabilities;
        long t = source.shape[^1], rows = t == 0 ? 0 : source.NumberOfElements / t;
        // Backward reads the mask as bits (one 16-bit word per 16 elements of a row) instead of hashing again.
        var kept = keepProbabilities && input.Mask is not null ? empty([rows, (t + 15) / 16], ScalarType.Int16) : null;
        input.Kept = kept;
        if (rows == 0) return output;
        var layout = new Layout(source.shape, input.Bias);
        IntPtr src = NativeTensor.DataPointer(source), dst = NativeTensor.DataPointer(output);
        IntPtr probs = probabilities is null ? IntPtr.Zero : NativeTensor.DataPointer(probabilities);
        IntPtr bias = input.Bias is null ? IntPtr.Zero : NativeTensor.DataPointer(input.Bias);
        IntPtr bits = kept is null ? IntPtr.Zero : NativeTensor.DataPointer(kept);
        bool bf16 = source.dtype == ScalarType.BFloat16;
        float scale = input.Scale;
        var mask = input.Mask;
        RowKernels.ForRows(rows, t, (first, end) =>
        {
            if (bf16) ForwardRows<Bf16>((byte*)src, (byte*)dst, (byte*)probs, (ushort*)bits, (float*)bias, layout, t, first, end, scale, mask);
            else ForwardRows<Fp32>((byte*)src, (byte*)dst, (byte*)probs, (ushort*)bits, (float*)bias, layout, t, first, end, scale, mask);
        });
        return output;
    }

    private static unsafe Tensor Backward(Tensor gradOutput, Tensor probabilities, Tensor? kept, float scale, float keepScale)
    {
        using var grad = gradOutput.to(probabilities.dtype).contiguous();
        var gradScores = empty_like(probabilities);
        long t = probabilities.shape[^1], rows = t == 0 ? 0 : probabilities.NumberOfElements / t;
        if (rows == 0) return gradScores;
        IntPtr dy = NativeTensor.DataPointer(grad), dx = NativeTensor.DataPointer(gradScores);
        IntPtr probs = NativeTensor.DataPointer(probabilities);
        IntPtr bits = kept is null ? IntPtr.Zero : NativeTensor.DataPointer(kept);
        bool bf16 = probabilities.dtype == ScalarType.BFloat16;
        RowKernels.ForRows(rows, t, (first, end) =>
        {
            if (bf16) BackwardRows<Bf16>((byte*)dy, (byte*)probs, (ushort*)bits, (byte*)dx, t, first, end, scale, keepScale);
            else BackwardRows<Fp32>((byte*)dy, (byte*)probs, (ushort*)bits, (byte*)dx, t, first, end, scale, keepScale);
        });
        return gradScores;
    }

    /// <summary>Where each row's bias starts: the strides of the bias view over the scores' leading dimensions.</summary>
    private sealed class Layout
    {
        private readonly long[] _sizes = [], _strides = [];

        public Layout(long[] shape, Tensor? bias)
        {
            if (bias is null) return;
            _sizes = shape[..^1];
            _strides = bias.stride()[..^1];
        }

        /// <summary>The rows from <paramref name="row"/> on: their bias offsets one after the other.</summary>
        public Cursor From(long row)
        {
            var index = new long[_sizes.Length];
            long offset = 0;
            for (int d = _sizes.Length - 1; d >= 0; d--)
            {
                index[d] = row % _sizes[d];
                offset += index[d] * _strides[d];
                row /= _sizes[d];
            }
            return new Cursor(this, index, offset);
        }

        public struct Cursor(Layout layout, long[] index, long offset)
        {
            public long Offset { get; private set; } = offset;

            public void Next()
            {
                for (int d = index.Length - 1; d >= 0; d--)
                {
                    Offset += layout._strides[d];
                    if (++index[d] < layout._sizes[d]) return;
                    Offset -= layout._strides[d] * layout._sizes[d];
                    index[d] = 0;
                }
            }
        }
    }

    /// <summary>Rows up to this many elements keep their fp32 scratch on the stack.</summary>
    private const int StackFloats = 4096;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRows<T>(byte* src, byte* dst, byte* probs, ushort* bits, float* bias, Layout layout, long width, long first, long end,
        float scale, DropoutMask.Mask? mask) where T : struct, IElements
    {
        int n = (int)width;
        float[]? heap = n > StackFloats ? new float[2 * n] : null;
        float* stack = stackalloc float[heap is null ? 2 * n : 0];
        fixed (float* pinned = heap)
        {
            float* values = heap is null ? stack : pinned, factors = values + n;
            var vscale = Vector512.Create(scale);
            var cursor = layout.From(first);
            for (long r = first; r < end; r++, cursor.Next())
            {
                long start = r * width;
                byte* s = src + start * T.Size, y = dst + start * T.Size, p = probs is null ? null : probs + start * T.Size;
                float* b = bias is null ? null : bias + cursor.Offset;
                // x = s · scale + b, and its maximum.
                var vmax = Vector512.Create(float.NegativeInfinity);
                var vnan = Vector512<float>.Zero;
                int j = 0;
                for (; j + 16 <= n; j += 16)
                {
                    var x = T.Load(s, j) * vscale;
                    if (b is not null) x += Vector512.Load(b + j);
                    x.Store(values + j);
                    vmax = Vector512.MaxNative(vmax, x);
                    vnan |= Vector512.IsNaN(x);
                }
                float max = Max(vmax);
                bool nan = vnan != Vector512<float>.Zero;
                for (; j < n; j++)
                {
                    float x = T.Get(s, j) * scale + (b is null ? 0f : b[j]);
                    values[j] = x;
                    max = MathF.Max(max, x);
                    nan |= float.IsNaN(x);
                }
                if (max == float.NegativeInfinity || nan)
                {
                    // Every score masked: probabilities 0 (and so their gradient). A NaN makes the row NaN, as softmax does.
                    float fill = nan ? float.NaN : 0f;
                    for (j = 0; j < n; j++)
                    {
                        T.Set(y, j, fill);
                        if (p is not null) T.Set(p, j, fill);
                    }
                    if (bits is not null && mask is { } masked)
                    {
                        DropoutMask.Factors(factors, start, n, masked);
                        RowKernels.StoreBits(factors, bits + r * ((n + 15) / 16), n);
                    }
                    continue;
                }
                // e = exp(x − max), and its sum.
                var vm = Vector512.Create(max);
                var vsum = Vector512<float>.Zero;
                for (j = 0; j + 16 <= n; j += 16)
                {
                    var e = Exp(Vector512.Load(values + j) - vm);
                    e.Store(values + j);
                    vsum += e;
                }
                float sum = Vector512.Sum(vsum);
                for (; j < n; j++)
                {
                    float e = Exp(values[j] - max);
                    values[j] = e;
                    sum += e;
                }
                // p = e / sum; y = p · mask.
                float inverse = 1f / sum;
                var vinv = Vector512.Create(inverse);
                if (mask is { } m)
                {
                    DropoutMask.Factors(factors, start, n, m);
                    if (bits is not null) RowKernels.StoreBits(factors, bits + r * ((n + 15) / 16), n);
                }
                for (j = 0; j + 16 <= n; j += 16)
                {
                    var q = Vector512.Load(values + j) * vinv;
                    if (p is not null) T.Store(q, p, j);
                    T.Store(mask is null ? q : q * Vector512.Load(factors + j), y, j);
                }
                for (; j < n; j++)
                {
                    float q = values[j] * inverse;
                    if (p is not null) T.Set(p, j, q);
                    T.Set(y, j, mask is null ? q : q * factors[j]);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardRows<T>(byte* dy, byte* probs, ushort* bits, byte* dx, long width, long first, long end, float scale,
        float keepScale) where T : struct, IElements
    {
        int n = (int)width;
        float[]? heap = n > StackFloats ? new float[n] : null;
        float* stack = stackalloc float[heap is null ? n : 0];
        fixed (float* pinned = heap)
        {
            float* values = heap is null ? stack : pinned;
            var vscale = Vector512.Create(scale);
            for (long r = first; r < end; r++)
            {
                long start = r * width;
                byte* g = dy + start * T.Size, p = probs + start * T.Size, x = dx + start * T.Size;
                // dp = dy · mask, and Σ dp · p.
                ushort* rowBits = bits is null ? null : bits + r * ((n + 15) / 16);
                var vkeep = Vector512.Create(keepScale);
                var vdot = Vector512<float>.Zero;
                int j = 0;
                for (; j + 16 <= n; j += 16)
                {
                    var d = T.Load(g, j);
                    if (rowBits is not null)
                        d *= RowKernels.Factors(rowBits[j >> 4], vkeep);
                    d.Store(values + j);
                    vdot += d * T.Load(p, j);
                }
                float dot = Vector512.Sum(vdot);
                for (; j < n; j++)
                {
                    float d = T.Get(g, j) * (rowBits is null ? 1f : RowKernels.Factor(rowBits, j, keepScale));
                    values[j] = d;
                    dot += d * T.Get(p, j);
                }
                // ds = p · (dp − Σ dp · p) · scale.
                var vd = Vector512.Create(dot);
                for (j = 0; j + 16 <= n; j += 16)
                    T.Store(T.Load(p, j) * (Vector512.Load(values + j) - vd) * vscale, x, j);
                for (; j < n; j++)
                    T.Set(x, j, T.Get(p, j) * (values[j] - dot) * scale);
            }
        }
    }

    /// <summary>
    /// Where exp(x − max) counts as 0: e^−64 ≈ 1.6e−28. Below it a probability would be within reach of fp32's
    /// subnormal range, and producing subnormal values costs a microcode assist of a hundred cycles or more per
    /// element on these CPUs (a padding bias of −3.4e38 makes a quarter of the elements that small at 32×128).
    /// </summary>
    private const float ExpCutoff = -64f;

    /// <summary>
    /// exp(x) for x ≤ 0, 16 lanes: 2^n · exp(r) with n = round(x · log2 e), r = x − n · ln 2 and Cephes' degree-6
    /// polynomial for exp(r) (within 2 ulp of the exact value), the power of two applied by VSCALEFPS; 0 below
    /// <see cref="ExpCutoff"/> and for −∞.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exp(Vector512<float> x)
    {
        var cutoff = Vector512.Create(ExpCutoff);
        var inRange = Vector512.GreaterThanOrEqual(x, cutoff);
        x = Vector512.MaxNative(x, cutoff);
        var magic = Vector512.Create(12582912f); // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer
        var n = Vector512.FusedMultiplyAdd(x, Vector512.Create(1.44269504088896341f), magic) - magic;
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500E-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        var y = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        return Avx512F.Scale(y, n) & inRange.AsSingle();
    }

    private static float Exp(float x) => x >= ExpCutoff ? MathF.Exp(x) : 0f;

    private static float Max(Vector512<float> v)
    {
        var m = Vector256.MaxNative(v.GetLower(), v.GetUpper());
        var m128 = Vector128.MaxNative(m.GetLower(), m.GetUpper());
        float max = float.NegativeInfinity;
        for (int i = 0; i < 4; i++) max = MathF.Max(max, m128.GetElement(i));
        return max;
    }
}
