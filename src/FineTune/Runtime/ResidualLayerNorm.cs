using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Runtime;

/// <summary>
/// The end of a Transformer block in one pass: LayerNorm(dropout(branch) + residual) over the last dimension, and
/// its gradient in one pass. Composed of libtorch's ops, a training step reads and writes the [B, T, H] tensors of
/// each block end about four times forward (dropout, the residual add, LayerNorm, and under bf16 autocast the cast of
/// the result for the next linear layer) and five times backward (the cast of the linear layer's bf16 input gradient,
/// the sum of the two gradients, LayerNorm's backward, the cast for the bf16 branch, dropout's backward). Here each
/// row is read once, worked on in fp32 in the cache, and written once.
/// Besides the result (in the dtype the sum would have: fp32 when either input is fp32), it can also write the
/// result rounded to bf16, which a linear layer under bf16 autocast takes as it is instead of casting; the gradients
/// that come back to both are added in the backward pass. The dropout mask is <see cref="DropoutMask"/>'s (the same
/// decisions for the same seed as dropout of the branch alone) and is kept as bits for backward; the normalised
/// values and the reciprocal standard deviation of each row are kept for backward, as LayerNorm keeps its input and
/// statistics. A bf16 branch is rounded to bf16 after dropout, as dropout of a bf16 tensor is, so that the forward
/// results equal the composition's up to the order of LayerNorm's sums.
/// </summary>
internal static class ResidualLayerNorm
{
    /// <summary>
    /// Whether <see cref="Apply"/> takes these tensors: on a CPU with AVX-512, branch and residual of one shape in
    /// fp32 or bf16, fp32 weight and bias of the last dimension's size, none of them needing a gradient through
    /// anything but this op's own inputs.
    /// </summary>
    public static bool Supports(Tensor branch, Tensor residual, Tensor weight, Tensor bias)
    {
        if (!RowKernels.IsAvailable(branch) || residual.device_type != DeviceType.CPU || weight.device_type != DeviceType.CPU || bias.device_type != DeviceType.CPU)
            return false;
        if (branch.dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || residual.dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            return false;
        if (weight.dtype != ScalarType.Float32 || bias.dtype != ScalarType.Float32 || branch.dim() < 1)
            return false;
        if (!branch.shape.SequenceEqual(residual.shape)) return false;
        long h = branch.shape[^1];
        return h > 0 && weight.dim() == 1 && bias.dim() == 1 && weight.shape[0] == h && bias.shape[0] == h;
    }

    /// <summary>
    /// LayerNorm(dropout(<paramref name="branch"/>, <paramref name="p"/>) + <paramref name="residual"/>) with
    /// <paramref name="weight"/>, <paramref name="bias"/> and <paramref name="eps"/>; dropout only when
    /// <paramref name="p"/> is positive (training). With <paramref name="low"/> the result is also returned rounded
    /// to bf16 (the second tensor). Gradients flow to the branch, the residual, the weight and the bias.
    /// </summary>
    public static (Tensor Output, Tensor? Low) Apply(Tensor branch, Tensor residual, Tensor weight, Tensor bias, double eps, double p, bool low)
    {
        if (!Supports(branch, residual, weight, bias)) throw new ArgumentException("tensors not supported here (see Supports)", nameof(branch));
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        var input = new Input((float)eps, p > 0 ? new DropoutMask.Mask(DropoutMask.NextSeed(), p) : null, low);
        bool grad = is_grad_enabled() && (branch.requires_grad || residual.requires_grad || weight.requires_grad || bias.requires_grad);
        if (!grad) return Forward(branch, residual, weight, bias, input, keep: false);
        try
        {
            var outputs = Function.apply(branch, residual, weight, bias, input);
            AutogradNodes.ReleaseOutputCache<Function>();
            return (outputs[0], low ? outputs[1] : null);
        }
        finally
        {
            input.Normalized?.Dispose(); // autograd holds its own references until backward
            input.Rstd?.Dispose();
            input.Kept?.Dispose();
        }
    }

    /// <summary>How many output buffers the newest graph node of this op holds (see <see cref="AutogradNodes"/>); for tests.</summary>
    internal static int? CachedOutputsOfNewestNode() => AutogradNodes.CachedOutputs<Function>();

    /// <summary>The arguments besides the tensors; not a tensor, so that autograd does not take it for an input.</summary>
    private sealed class Input(float eps, DropoutMask.Mask? mask, bool low)
    {
        public float Eps { get; } = eps;
        public DropoutMask.Mask? Mask { get; } = mask;
        public bool Low { get; } = low;
        public Tensor? Normalized { get; set; }
        public Tensor? Rstd { get; set; }
        public Tensor? Kept { get; set; }
    }

    private sealed class Function : autograd.MultiTensorFunction<Function>
    {
        public override string Name => nameof(ResidualLayerNorm);

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (branch, residual, weight, bias, input) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], (Input)vars[4]);
            var (output, low) = Forward(branch, residual, weight, bias, input, keep: true);
            // Gradients of outputs that nothing used arrive undefined rather than as zeros.
            AutogradNodes.WithoutZeroGradients(ctx);
            ctx.save_for_backward(input.Kept is null ? [input.Normalized!, input.Rstd!, weight] : [input.Normalized!, input.Rstd!, weight, input.Kept]);
            ctx.save_data("keepScale", input.Mask?.Scale ?? 1f);
            ctx.save_data("branch", branch.dtype);
            ctx.save_data("residual", residual.dtype);
            return low is null ? [output] : [output, low];
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
        {
            var saved = ctx.get_saved_variables();
            using var normalized = saved[0];
            using var rstd = saved[1];
            using var weight = saved[2];
            using var kept = saved.Count > 3 ? saved[3] : null;
            Tensor? Defined(int i) => i < gradOutputs.Count && gradOutputs[i] is { } g && !g.IsInvalid ? g : null;
            if (Defined(0) is null && Defined(1) is null) return [null!, null!, null!, null!, null!]; // no gradient came
            var (dBranch, dResidual, dWeight, dBias) = Backward(Defined(0), Defined(1), normalized, rstd, weight, kept,
                (float)ctx.get_data("keepScale"), (ScalarType)ctx.get_data("branch"), (ScalarType)ctx.get_data("residual"));
            return [dBranch, dResidual, dWeight, dBias, null!];
        }
    }

    private static unsafe (Tensor Output, Tensor? Low) Forward(Tensor branch, Tensor residual, Tensor weight, Tensor bias, Input input, bool keep)
    {
        using var b = branch.contiguous();
        using var r = residual.contiguous();
        using var w = weight.contiguous();
        using var c = bias.contiguous();
        var outDtype = promote_types(branch.dtype, residual.dtype);
        long h = b.shape[^1], rows = b.NumberOfElements / h;
        var output = empty(b.shape, dtype: outDtype);
        var low = input.Low ? empty(b.shape, dtype: ScalarType.BFloat16) : null;
        var normalized = keep ? empty([rows, h], dtype: ScalarType.Float32) : null;
        var rstd = keep ? empty([rows], dtype: ScalarType.Float32) : null;
        var kept = keep && input.Mask is not null ? empty([rows, (h + 15) / 16], dtype: ScalarType.Int16) : null;
        input.Normalized = normalized;
        input.Rstd = rstd;
        input.Kept = kept;
        if (rows == 0) return (output, low);
        var args = new ForwardArgs
        {
            Branch = (byte*)NativeTensor.DataPointer(b),
            Residual = (byte*)NativeTensor.DataPointer(r),
            Output = (byte*)NativeTensor.DataPointer(output),
            Low = low is null ? null : (byte*)NativeTensor.DataPointer(low),
            Normalized = normalized is null ? null : (float*)NativeTensor.DataPointer(normalized),
            Rstd = rstd is null ? null : (float*)NativeTensor.DataPointer(rstd),
            Bits = kept is null ? null : (ushort*)NativeTensor.DataPointer(kept),
            Weight = (float*)NativeTensor.DataPointer(w),
            Bias = (float*)NativeTensor.DataPointer(c),
            Width = (int)h,
            Eps = input.Eps,
        };
        var mask = input.Mask;
        bool bBf16 = b.dtype == ScalarType.BFloat16, rBf16 = r.dtype == ScalarType.BFloat16, oBf16 = outDtype == ScalarType.BFloat16;
        RowKernels.ForRows(rows, h, (first, end) =>
        {
            // The sum's dtype is bf16 only when both inputs are.
            if (oBf16) ForwardRows<Bf16, Bf16, Bf16>(args, first, end, mask);
            else if (bBf16 && !rBf16) ForwardRows<Bf16, Fp32, Fp32>(args, first, end, mask);
            else if (!bBf16 && rBf16) ForwardRows<Fp32, Bf16, Fp32>(args, first, end, mask);
            else ForwardRows<Fp32, Fp32, Fp32>(args, first, end, mask);
        });
        return (output, low);
    }

    private static unsafe (Tensor Branch, Tensor Residual, Tensor Weight, Tensor Bias) Backward(Tensor? gradOutput, Tensor? gradLow,
        Tensor normalized, Tensor rstd, Tensor weight, Tensor? kept, float keepScale, ScalarType branchDtype, ScalarType residualDtype)
    {
        long h = normalized.shape[1], rows = normalized.shape[0];
        var shape = (gradOutput ?? gradLow)!.shape;
        using var g = gradOutput?.contiguous();
        using var gl = gradLow?.to(ScalarType.BFloat16).contiguous();
        var outDtype = promote_types(branchDtype, residualDtype);
        using var gOut = g is not null && g.dtype != outDtype ? g.to(outDtype) : g?.alias();
        var dBranch = empty(shape, dtype: branchDtype);
        var dResidual = empty(shape, dtype: residualDtype);
        int threads = RowKernels.Threads(rows, h);
        // Each range sums its rows' weight and bias gradients in double; the ranges' sums are added at the end.
        var partials = new double[threads * 2 * h];
        if (rows > 0)
        {
            var args = new BackwardArgs
            {
                Grad = gOut is null ? null : (byte*)NativeTensor.DataPointer(gOut),
                GradLow = gl is null ? null : (byte*)NativeTensor.DataPointer(gl),
                Normalized = (float*)NativeTensor.DataPointer(normalized),
                Rstd = (float*)NativeTensor.DataPointer(rstd),
                Bits = kept is null ? null : (ushort*)NativeTensor.DataPointer(kept),
                Weight = (float*)NativeTensor.DataPointer(weight),
                DBranch = (byte*)NativeTensor.DataPointer(dBranch),
                DResidual = (byte*)NativeTensor.DataPointer(dResidual),
                Width = (int)h,
                KeepScale = keepScale,
            };
            bool bBf16 = branchDtype == ScalarType.BFloat16, rBf16 = residualDtype == ScalarType.BFloat16, oBf16 = outDtype == ScalarType.BFloat16;
            RowKernels.ForRows(rows, h, (index, first, end) =>
            {
                fixed (double* sums = &partials[index * 2 * h])
                {
                    if (oBf16) BackwardRows<Bf16, Bf16, Bf16>(args, first, end, sums);
                    else if (bBf16 && !rBf16) BackwardRows<Fp32, Bf16, Fp32>(args, first, end, sums);
                    else if (!bBf16 && rBf16) BackwardRows<Fp32, Fp32, Bf16>(args, first, end, sums);
                    else BackwardRows<Fp32, Fp32, Fp32>(args, first, end, sums);
                }
            });
        }
        var totals = new float[2 * h];
        for (int k = 0; k < 2 * h; k++)
        {
            double sum = 0;
            for (int t = 0; t < threads; t++) sum += partials[t * 2 * h + k];
            totals[k] = (float)sum;
        }
        var dWeight = tensor(totals[..(int)h], dtype: ScalarType.Float32);
        var dBias = tensor(totals[(int)h..], dtype: ScalarType.Float32);
        return (dBranch, dResidual, dWeight, dBias);
    }

    private unsafe struct ForwardArgs
    {
        public byte* Branch, Residual, Output, Low;
        public float* Normalized, Rstd, Weight, Bias;
        public ushort* Bits;
        public int Width;
        public float Eps;
    }

    private unsafe struct BackwardArgs
    {
        public byte* Grad, GradLow, DBranch, DResidual;
        public float* Normalized, Rstd, Weight;
        public ushort* Bits;
        public int Width;
        public float KeepScale;
    }

    /// <summary>Rows up to this many elements keep their fp32 scratch on the stack.</summary>
    private const int StackFloats = 4096;

    /// <typeparam name="TB">the branch's dtype</typeparam>
    /// <typeparam name="TR">the residual's dtype</typeparam>
    /// <typeparam name="TO">the output's dtype (the sum's)</typeparam>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRows<TB, TR, TO>(ForwardArgs a, long first, long end, DropoutMask.Mask? mask)
        where TB : struct, IElements where TR : struct, IElements where TO : struct, IElements
    {
        int n = a.Width;
        float[]? heap = n > StackFloats ? new float[2 * n] : null;
        float* stack = stackalloc float[heap is null ? 2 * n : 0];
        fixed (float* pinned = heap)
        {
            float* values = heap is null ? stack : pinned, factors = values + n;
            float inverseN = 1f / n;
            for (long row = first; row < end; row++)
            {
                long start = row * n;
                byte* br = a.Branch + start * TB.Size, rr = a.Residual + start * TR.Size, yr = a.Output + start * TO.Size;
                byte* lr = a.Low is null ? null : a.Low + start * 2;
                if (mask is { } m)
                {
                    DropoutMask.Factors(factors, start, n, m);
                    if (a.Bits is not null) RowKernels.StoreBits(factors, a.Bits + row * ((n + 15) / 16), n);
                }
                // s = round(branch · factor) + residual, as the branch's dropout and the sum would round it; Σ s.
                var vsum = Vector512<float>.Zero;
                int j = 0;
                for (; j + 16 <= n; j += 16)
                {
                    var x = TB.Load(br, j);
                    if (mask is not null) x = TB.Round(x * Vector512.Load(factors + j));
                    var s = TO.Round(x + TR.Load(rr, j));
                    s.Store(values + j);
                    vsum += s;
                }
                float sum = Vector512.Sum(vsum);
                for (; j < n; j++)
                {
                    float x = TB.Get(br, j);
                    if (mask is not null) x = TB.Round(x * factors[j]);
                    float s = TO.Round(x + TR.Get(rr, j));
                    values[j] = s;
                    sum += s;
                }
                // The variance from the deviations (two passes over the row in the cache: no cancellation).
                float mean = sum * inverseN;
                var vmean = Vector512.Create(mean);
                var vsq = Vector512<float>.Zero;
                for (j = 0; j + 16 <= n; j += 16)
                {
                    var d = Vector512.Load(values + j) - vmean;
                    vsq = Vector512.FusedMultiplyAdd(d, d, vsq);
                }
                float sq = Vector512.Sum(vsq);
                for (; j < n; j++)
                {
                    float d = values[j] - mean;
                    sq += d * d;
                }
                float rstd = 1f / MathF.Sqrt(sq * inverseN + a.Eps);
                if (a.Rstd is not null) a.Rstd[row] = rstd;
                float* xh = a.Normalized is null ? null : a.Normalized + start;
                var vrstd = Vector512.Create(rstd);
                for (j = 0; j + 16 <= n; j += 16)
                {
                    var normalized = (Vector512.Load(values + j) - vmean) * vrstd;
                    if (xh is not null) normalized.Store(xh + j);
                    var y = Vector512.FusedMultiplyAdd(normalized, Vector512.Load(a.Weight + j), Vector512.Load(a.Bias + j));
                    TO.Store(y, yr, j);
                    if (lr is not null) Bf16.Store(y, lr, j);
                }
                for (; j < n; j++)
                {
                    float normalized = (values[j] - mean) * rstd;
                    if (xh is not null) xh[j] = normalized;
                    float y = MathF.FusedMultiplyAdd(normalized, a.Weight[j], a.Bias[j]);
                    TO.Set(yr, j, y);
                    if (lr is not null) Bf16.Set(lr, j, y);
                }
            }
        }
    }

    /// <summary>Rows whose weight and bias gradients are summed in fp32 before they are added to the double totals.</summary>
    private const int RowsPerBlock = 64;

    /// <typeparam name="TO">the output's dtype (its incoming gradient's)</typeparam>
    /// <typeparam name="TB">the branch's dtype</typeparam>
    /// <typeparam name="TR">the residual's dtype</typeparam>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardRows<TO, TB, TR>(BackwardArgs a, long first, long end, double* sums)
        where TO : struct, IElements where TB : struct, IElements where TR : struct, IElements
    {
        int n = a.Width;
        float[]? heap = n > StackFloats ? new float[3 * n] : null;
        float* stack = stackalloc float[heap is null ? 3 * n : 0];
        fixed (float* pinned = heap)
        {
            float* gx = heap is null ? stack : pinned, blockWeight = gx + n, blockBias = blockWeight + n;
            new Span<float>(blockWeight, 2 * n).Clear();
            float inverseN = 1f / n;
            var vkeep = Vector512.Create(a.KeepScale);
            for (long row = first; row < end; row++)
            {
                long start = row * n;
                byte* g = a.Grad is null ? null : a.Grad + start * TO.Size, gl = a.GradLow is null ? null : a.GradLow + start * 2;
                float* xh = a.Normalized + start;
                // g = the two incoming gradients; gx = g · weight; Σ gx and Σ gx · x̂; the weight and bias gradients.
                var vdot = Vector512<float>.Zero;
                var vsum = Vector512<float>.Zero;
                int j = 0;
                for (; j + 16 <= n; j += 16)
                {
                    var gv = g is null ? Vector512<float>.Zero : TO.Load(g, j);
                    if (gl is not null) gv += Bf16.Load(gl, j);
                    var x = Vector512.Load(xh + j);
                    var w = gv * Vector512.Load(a.Weight + j);
                    w.Store(gx + j);
                    vsum += w;
                    vdot = Vector512.FusedMultiplyAdd(w, x, vdot);
                    Vector512.FusedMultiplyAdd(gv, x, Vector512.Load(blockWeight + j)).Store(blockWeight + j);
                    (Vector512.Load(blockBias + j) + gv).Store(blockBias + j);
                }
                float sum = Vector512.Sum(vsum), dot = Vector512.Sum(vdot);
                for (; j < n; j++)
                {
                    float gv = (g is null ? 0f : TO.Get(g, j)) + (gl is null ? 0f : Bf16.Get(gl, j));
                    float w = gv * a.Weight[j];
                    gx[j] = w;
                    sum += w;
                    dot += w * xh[j];
                    blockWeight[j] += gv * xh[j];
                    blockBias[j] += gv;
                }
                // ds = rstd · (gx − mean(gx) − x̂ · mean(gx · x̂)); the residual gets ds, the branch ds · factor.
                float rstd = a.Rstd[row];
                var vr = Vector512.Create(rstd);
                var vm = Vector512.Create(sum * inverseN);
                var vd = Vector512.Create(dot * inverseN);
                byte* dr = a.DResidual + start * TR.Size, db = a.DBranch + start * TB.Size;
                ushort* rowBits = a.Bits is null ? null : a.Bits + row * ((n + 15) / 16);
                for (j = 0; j + 16 <= n; j += 16)
                {
                    var ds = (Vector512.Load(gx + j) - vm - Vector512.Load(xh + j) * vd) * vr;
                    TR.Store(ds, dr, j);
                    TB.Store(rowBits is null ? ds : ds * RowKernels.Factors(rowBits[j >> 4], vkeep), db, j);
                }
                for (; j < n; j++)
                {
                    float ds = (gx[j] - sum * inverseN - xh[j] * dot * inverseN) * rstd;
                    TR.Set(dr, j, ds);
                    TB.Set(db, j, rowBits is null ? ds : ds * RowKernels.Factor(rowBits, j, a.KeepScale));
                }
                if ((row - first + 1) % RowsPerBlock == 0 || row == end - 1)
                {
                    for (j = 0; j < n; j++)
                    {
                        sums[j] += blockWeight[j];
                        sums[n + j] += blockBias[j];
                    }
                    new Span<float>(blockWeight, 2 * n).Clear();
                }
            }
        }
    }
}
