namespace FineTune.Configuration;

/// <summary>Which attention computation an encoder uses: chosen per call (the default), libtorch's SDPA, or the eager form.</summary>
internal enum AttentionKernel { Auto, Sdpa, Eager }

/// <summary>
/// The computations an encoder chooses between, given to the model when it is built (and changeable on it, see
/// <see cref="Modeling.TransformerEncoder.Kernels"/>), never set for the whole process. The defaults are the choices
/// measured fastest (docs/performance.md); the benchmark and the kernel tests switch them to compare the alternatives.
/// </summary>
internal sealed record KernelOptions
{
    public static KernelOptions Default { get; } = new();

    /// <summary>Dropout masks from <see cref="Runtime.DropoutMask"/> (off: libtorch's dropout).</summary>
    public bool FastDropout { get; init; } = true;
    public AttentionKernel Attention { get; init; } = AttentionKernel.Auto;
    /// <summary>One [H, 3H] product for the query, key and value projections (off: three [H, H] ones).</summary>
    public bool FuseQkv { get; init; } = true;
    /// <summary>Word-embedding gradients as the looked-up rows only (off: torch's dense gradient).</summary>
    public bool SparseEmbeddingGradients { get; init; } = true;
    /// <summary>Under bf16 autocast, the attention bias and probabilities in the scores' dtype.</summary>
    public bool AttentionInScoresDtype { get; init; } = true;
    /// <summary>Scale, bias, softmax and dropout of the attention scores as one fused op.</summary>
    public bool FusedSoftmaxDropout { get; init; } = true;
    /// <summary>LayerNorm(dropout(x) + residual) at the end of each block as one fused op.</summary>
    public bool FusedResidualLayerNorm { get; init; } = true;
    /// <summary>Under bf16 autocast, linear layers cast their own weights (off: autocast's own path).</summary>
    public bool ExplicitAutocastCasts { get; init; } = true;
}
