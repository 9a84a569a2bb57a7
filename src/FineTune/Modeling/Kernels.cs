using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Modeling;

// The computations the encoders share, written for speed on the CPU and chosen by measurement
// (docs/performance.md): dropout with fast masks, and attention that picks SDPA or the eager form per use. Each takes
// the model's kernel choices (KernelOptions) explicitly; nothing here is chosen process-wide.

/// <summary>
/// The kernel choices of one model, shared by all its modules: they read <see cref="Options"/> at every call, so a
/// choice changed on a built model (a benchmark or a test comparing alternatives) applies to its next forward pass.
/// </summary>
internal sealed class KernelSwitch(KernelOptions options)
{
    public KernelOptions Options { get; set; } = options;
}

/// <summary>
/// Inverted dropout (as torch.nn.Dropout) whose masks come from <see cref="DropoutMask"/>: the same distribution,
/// several times faster on the CPU than libtorch's element-at-a-time generator. The identity in evaluation.
/// </summary>
internal sealed class FastDropout : nn.Module<Tensor, Tensor>
{
    private readonly KernelSwitch _kernels;

    internal FastDropout(double p, KernelSwitch? kernels = null) : base(nameof(FastDropout))
    {
        if (p is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1]");
        P = p;
        _kernels = kernels ?? new KernelSwitch(KernelOptions.Default);
    }

    public double P { get; }

    internal KernelOptions Kernels => _kernels.Options;

    public override Tensor forward(Tensor x) => training && P > 0 ? Dropout(x, P, _kernels.Options) : x;

    /// <summary>Dropout in training: libtorch's when <see cref="KernelOptions.FastDropout"/> is off.</summary>
    internal static Tensor Dropout(Tensor x, double p, KernelOptions kernels) =>
        kernels.FastDropout ? DropoutMask.Apply(x, p) : functional.dropout(x, p, training: true);
}

/// <summary>
/// A linear layer's product. Under bf16 autocast the weight and bias are cast here and the layer runs on bf16
/// operands, which autocast then passes through: its own casting path for linear layers was measured about 3 ms
/// slower per call than these casts and the same product at the training shape of all-MiniLM-L6-v2 (the results
/// are the same: autocast casts the same way). Elsewhere it is the module's call.
/// </summary>
internal static class Dense
{
    public static Tensor Apply(TorchSharp.Modules.Linear linear, Tensor x, KernelOptions kernels) =>
        Apply(x, linear.weight!, linear.bias, kernels) ?? linear.call(x);

    /// <summary>x·Wᵀ + b on bf16 operands under bf16 autocast; null when autocast is off or the switch is.</summary>
    public static Tensor? Apply(Tensor x, Tensor weight, Tensor? bias, KernelOptions kernels)
    {
        if (!kernels.ExplicitAutocastCasts || Autocast.LowPrecisionFor(x.device_type) is not ScalarType.BFloat16
            || weight.dtype != ScalarType.Float32 || x.dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            return null;
        using var w = weight.to(ScalarType.BFloat16);
        using var b = bias?.to(ScalarType.BFloat16);
        using var input = x.dtype == ScalarType.BFloat16 ? x.alias() : x.to(ScalarType.BFloat16);
        return functional.linear(input, w, b);
    }
}

/// <summary>
/// The end of a Transformer block: LayerNorm(dropout(projected) + residual). One fused op
/// (<see cref="ResidualLayerNorm"/>) where the CPU has AVX-512, which under bf16 autocast can also return the result
/// rounded to bf16 for the next linear layer (the cast autocast would otherwise make, in the same pass); libtorch's
/// ops otherwise.
/// </summary>
internal static class BlockEnd
{
    public static (Tensor Output, Tensor? Low) Apply(Tensor projected, Tensor residual, TorchSharp.Modules.LayerNorm layerNorm,
        FastDropout dropout, bool wantLow)
    {
        var kernels = dropout.Kernels;
        double p = dropout.training ? dropout.P : 0.0;
        var weight = layerNorm.weight;
        var bias = layerNorm.bias;
        if (kernels.FusedResidualLayerNorm && (p == 0 || kernels.FastDropout) && weight is not null && bias is not null
            && ResidualLayerNorm.Supports(projected, residual, weight, bias))
        {
            // The bf16 copy only helps when autocast would cast an fp32 result for the next linear layer.
            bool low = wantLow && Autocast.LowPrecisionFor(projected.device_type) == ScalarType.BFloat16
                && promote_types(projected.dtype, residual.dtype) == ScalarType.Float32;
            return ResidualLayerNorm.Apply(projected, residual, weight, bias, layerNorm.eps, p, low);
        }
        using var dropped = dropout.call(projected);
        using var sum = dropped + residual;
        return (layerNorm.call(sum), null);
    }
}

/// <summary>Multi-head attention over [B, N, T, D] queries, keys and values with an additive bias [B, 1, 1, T].</summary>
internal static class Attention
{
    /// <summary>
    /// Self-attention of <paramref name="hidden"/> [B, T, H]: the Q/K/V projections (<see cref="Projections.QueryKeyValue"/>),
    /// <see cref="Compute"/>, and the heads merged back into [B, T, H] (before any output projection).
    /// </summary>
    public static Tensor SelfAttention(Tensor hidden, TorchSharp.Modules.Linear query, TorchSharp.Modules.Linear key,
        TorchSharp.Modules.Linear value, int heads, int headSize, Tensor bias, double dropout, KernelOptions kernels)
    {
        long b = hidden.shape[0], t = hidden.shape[1];
        var (q, k, v) = Projections.QueryKeyValue(hidden, query, key, value, heads, headSize, kernels);              // 3 x [B, N, T, D]
        using var _q = q;
        using var _k = k;
        using var _v = v;
        using var context = Compute(q, k, v, bias, dropout, kernels);                                                // [B, N, T, D]
        using var merged = context.transpose(1, 2);
        return merged.reshape(b, t, heads * headSize);                                                      // [B, N, T, D] -> [B, T, H]
    }

    /// <summary>
    /// softmax(q·kᵀ/√d + bias) · v, with dropout on the probabilities when <paramref name="dropout"/> is positive.
    /// libtorch's fused SDPA is used where it was measured fastest: without dropout, for the forward pass, and for
    /// forward + backward in fp32. The eager form is used with dropout (SDPA then falls back to its unfused path
    /// with libtorch's slow dropout) and for training in bf16 (SDPA's fused bf16 backward is 2–4× slower); its
    /// scale, bias, softmax and dropout are one fused op (<see cref="SoftmaxDropout"/>) where the CPU has AVX-512.
    /// </summary>
    public static Tensor Compute(Tensor q, Tensor k, Tensor v, Tensor bias, double dropout, KernelOptions kernels)
    {
        bool useSdpa = kernels.Attention switch
        {
            AttentionKernel.Sdpa => true,
            AttentionKernel.Eager => false,
            _ => dropout == 0 && (q.dtype == ScalarType.Float32 || !(is_grad_enabled() && (q.requires_grad || k.requires_grad || v.requires_grad))),
        };
        if (useSdpa)
            return functional.scaled_dot_product_attention(q, k, v, bias, dropout);                // [B, N, T, D]
        if (kernels.FusedSoftmaxDropout && (dropout == 0 || kernels.FastDropout) && SoftmaxDropout.IsAvailable(q))
        {
            // Scale, bias, softmax and dropout in one pass over the scores, and one pass back (SoftmaxDropout). The
            // scores are bf16 under autocast; the probabilities are written in their dtype.
            using var keysT = k.transpose(-1, -2);
            using var raw = q.matmul(keysT);                                                      // [B, N, T, T]
            if (SoftmaxDropout.Supports(raw, bias))
            {
                using var attended = SoftmaxDropout.Apply(raw, bias, 1.0 / Math.Sqrt(q.shape[^1]), dropout);
                return attended.matmul(v);                                                       // [B, N, T, D]
            }
            // Other dtypes (fp16, fp64) take the composition below.
        }
        // Intermediates are released as soon as they are used (autograd keeps what backward needs): the [B, N, T, T]
        // ones would otherwise stay alive in the step's dispose scope until the step ends.
        using var scaled = q.mul(1.0 / Math.Sqrt(q.shape[^1]));
        using var keys = k.transpose(-1, -2);
        using var scores = scaled.matmul(keys);                                                  // [B, N, T, T]
        // Under bf16 autocast the scores are bf16: the bias follows them, so that the probabilities stay bf16 (half
        // the memory traffic of [B, N, T, T] tensors, and no cast before the product with v); softmax accumulates in fp32.
        using var castBias = kernels.AttentionInScoresDtype && bias.dtype != scores.dtype ? bias.to(scores.dtype) : null;
        using var biased = scores.add(castBias ?? bias);
        using var probs = functional.softmax(biased, -1);
        using var dropped = dropout > 0 ? FastDropout.Dropout(probs, dropout, kernels) : null;
        return (dropped ?? probs).matmul(v);                                                     // [B, N, T, D]
    }
}

/// <summary>
/// An embedding lookup whose gradient touches only the rows that were looked up. A dense embedding gradient is a
/// zeroed [vocab, width] tensor (11.7 M values for BERT's vocabulary) with a few thousand rows added, which the
/// optimizer's gradient buffer then adds in whole: at short sequences that was 10–15% of a training step. When the
/// weight already holds a dense gradient (<see cref="Training.FusedAdamW"/> attaches one before the first step), the
/// backward returns the looked-up rows as a sparse tensor and autograd adds them into that gradient in place; the
/// sums are the same. Otherwise it returns the dense gradient, as torch.nn.Embedding does, so any optimizer works.
/// The padding row gets no gradient.
/// </summary>
internal sealed class EmbeddingLookup : TorchSharp.torch.autograd.SingleTensorFunction<EmbeddingLookup>
{
    public override string Name => nameof(EmbeddingLookup);

    /// <param name="vars">weight [V, E], ids [B, T] (int64), padding index (long; −1 for none).</param>
    public override Tensor forward(TorchSharp.torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var weight = (Tensor)vars[0];
        var ids = (Tensor)vars[1];
        AutogradNodes.WithoutZeroGradients(ctx); // no output-sized buffer for zeros
        ctx.save_for_backward([weight, ids.reshape(-1)]);
        ctx.save_data("padding", vars[2]);
        var flat = ids.reshape(-1);
        return weight.index_select(0, flat).view([.. ids.shape, weight.shape[1]]);          // [B, T] -> [B, T, E]
    }

    public override List<Tensor> backward(TorchSharp.torch.autograd.AutogradContext ctx, Tensor gradOutput)
    {
        if (gradOutput is null || gradOutput.IsInvalid) return [null!, null!, null!]; // no gradient came
        var saved = ctx.get_saved_variables();
        var (weight, ids) = (saved[0], saved[1]);
        long padding = (long)ctx.get_data("padding");
        long width = weight.shape[1];
        var rows = gradOutput.reshape(-1, width);                                            // [B, T, E] -> [N, E]
        if (padding >= 0)
        {
            var keep = ids.ne(padding);
            ids = ids.masked_select(keep);
            rows = rows.index_select(0, keep.nonzero().view(-1));
        }
        using var existing = weight.grad;
        Tensor gradWeight = existing is not null && !existing.is_sparse
            ? sparse_coo_tensor(ids.unsqueeze(0), rows, weight.shape, dtype: rows.dtype)      // rows only: added in place
            : zeros(weight.shape, dtype: rows.dtype, device: rows.device).index_add_(0, ids, rows, 1);
        return [gradWeight, null!, null!];
    }
}

/// <summary>Word-embedding lookups.</summary>
internal static class Words
{
    /// <summary>The rows of <paramref name="ids"/> [B, T] -> [B, T, E]; through <see cref="EmbeddingLookup"/> when a gradient will be taken.</summary>
    public static Tensor Lookup(TorchSharp.Modules.Embedding embedding, Tensor ids, int paddingIndex, KernelOptions kernels)
    {
        var weight = embedding.weight!;
        if (!kernels.SparseEmbeddingGradients || !is_grad_enabled() || !weight.requires_grad || ids.device_type != TorchSharp.DeviceType.CPU)
            return embedding.call(ids);
        var rows = EmbeddingLookup.apply(weight, ids, (long)paddingIndex);
        AutogradNodes.ReleaseOutputCache<EmbeddingLookup>();
        return rows;
    }
}

/// <summary>The query, key and value projections of a layer.</summary>
internal static class Projections
{
    /// <summary>
    /// Splits <paramref name="hidden"/> [B, T, H] into heads of q, k and v [B, N, T, D]. The three projections run as
    /// one matrix product over their concatenated weights (one [H, 3H] product is faster than three [H, H] ones);
    /// the parameters stay three Linear modules, named as in the checkpoint.
    /// </summary>
    public static (Tensor Q, Tensor K, Tensor V) QueryKeyValue(Tensor hidden, TorchSharp.Modules.Linear query,
        TorchSharp.Modules.Linear key, TorchSharp.Modules.Linear value, int heads, int headSize, KernelOptions kernels)
    {
        long b = hidden.shape[0], t = hidden.shape[1];
        if (!kernels.FuseQkv || query.bias is null || key.bias is null || value.bias is null)
        {
            Tensor Split(Tensor x) => x.view(b, t, heads, headSize).transpose(1, 2);                 // [B, T, H] -> [B, N, T, D]
            return (Split(query.call(hidden)), Split(key.call(hidden)), Split(value.call(hidden)));
        }
        using var weight = cat([query.weight!, key.weight!, value.weight!], 0);                     // [3H, H]
        using var bias = cat([query.bias, key.bias, value.bias], 0);                                // [3H]
        using var projected = Dense.Apply(hidden, weight, bias, kernels) ?? functional.linear(hidden, weight, bias);  // [B, T, 3H]
        using var split = projected.view(b, t, 3, heads, headSize);
        using var qkv = split.permute(2, 0, 3, 1, 4);                                               // -> [3, B, N, T, D]
        return (qkv[0], qkv[1], qkv[2]);
    }
}

