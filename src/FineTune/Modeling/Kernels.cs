using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Modeling;

// The computations the encoders share, written for speed on the CPU and chosen by measurement
// (docs/performance.md): dropout with fast masks, and attention that picks SDPA or the eager form per use.

/// <summary>
/// Inverted dropout (as torch.nn.Dropout) whose masks come from <see cref="DropoutMask"/>: the same distribution,
/// several times faster on the CPU than libtorch's element-at-a-time generator. The identity in evaluation.
/// </summary>
public sealed class FastDropout : nn.Module<Tensor, Tensor>
{
    public FastDropout(double p) : base(nameof(FastDropout))
    {
        if (p is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1]");
        P = p;
    }

    public double P { get; }

    public override Tensor forward(Tensor x) => training && P > 0 ? Dropout(x, P) : x;

    /// <summary>Dropout in training: libtorch's when <see cref="KernelSettings.FastDropout"/> is off.</summary>
    internal static Tensor Dropout(Tensor x, double p) =>
        KernelSettings.FastDropout ? DropoutMask.Apply(x, p) : functional.dropout(x, p, training: true);
}

/// <summary>Multi-head attention over [B, N, T, D] queries, keys and values with an additive bias [B, 1, 1, T].</summary>
internal static class Attention
{
    /// <summary>
    /// softmax(q·kᵀ/√d + bias) · v, with dropout on the probabilities when <paramref name="dropout"/> is positive.
    /// libtorch's fused SDPA is used where it was measured fastest: without dropout, for the forward pass, and for
    /// forward + backward in fp32. The eager form is used with dropout (SDPA then falls back to its unfused path
    /// with libtorch's slow dropout) and for training in bf16 (SDPA's fused bf16 backward is 2–4× slower).
    /// </summary>
    public static Tensor Compute(Tensor q, Tensor k, Tensor v, Tensor bias, double dropout)
    {
        bool useSdpa = KernelSettings.Attention switch
        {
            AttentionKernel.Sdpa => true,
            AttentionKernel.Eager => false,
            _ => dropout == 0 && (q.dtype == ScalarType.Float32 || !(is_grad_enabled() && (q.requires_grad || k.requires_grad || v.requires_grad))),
        };
        if (useSdpa)
            return functional.scaled_dot_product_attention(q, k, v, bias, dropout);                // [B, N, T, D]
        var scores = q.mul(1.0 / Math.Sqrt(q.shape[^1])).matmul(k.transpose(-1, -2));            // [B, N, T, T]
        var probs = functional.softmax(scores.add(bias), -1);
        if (dropout > 0) probs = FastDropout.Dropout(probs, dropout);
        return probs.matmul(v);                                                                  // [B, N, T, D]
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
        TorchSharp.Modules.Linear key, TorchSharp.Modules.Linear value, int heads, int headSize)
    {
        long b = hidden.shape[0], t = hidden.shape[1];
        if (!KernelSettings.FuseQkv || query.bias is null || key.bias is null || value.bias is null)
        {
            Tensor Split(Tensor x) => x.view(b, t, heads, headSize).transpose(1, 2);                 // [B, T, H] -> [B, N, T, D]
            return (Split(query.call(hidden)), Split(key.call(hidden)), Split(value.call(hidden)));
        }
        var weight = cat([query.weight!, key.weight!, value.weight!], 0);                           // [3H, H]
        var bias = cat([query.bias, key.bias, value.bias], 0);                                      // [3H]
        var qkv = functional.linear(hidden, weight, bias)                                           // [B, T, 3H]
            .view(b, t, 3, heads, headSize).permute(2, 0, 3, 1, 4);                                 // -> [3, B, N, T, D]
        return (qkv[0], qkv[1], qkv[2]);
    }
}

internal enum AttentionKernel { Auto, Sdpa, Eager }

/// <summary>Switches for measuring the alternatives against each other (the benchmark flips them; the defaults are the choices).</summary>
internal static class KernelSettings
{
    public static bool FastDropout { get; set; } = true;
    public static AttentionKernel Attention { get; set; } = AttentionKernel.Auto;
    public static bool FuseQkv { get; set; } = true;
}
