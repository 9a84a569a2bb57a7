using FineTune.Modeling;

namespace FineTune.Bench;

/// <summary>--dropout fast|torch, --attention auto|sdpa|eager, --fuse-qkv on|off, …: the alternatives the library chose between.</summary>
internal static class KernelSwitches
{
    public const string Help = "--dropout fast|torch --attention auto|sdpa|eager --fuse-qkv on|off --sparse-embeddings on|off --bf16-attention on|off --fused-softmax on|off --fused-layernorm on|off --explicit-casts on|off";

    public static void Apply(BenchArgs args)
    {
        KernelSettings.FastDropout = args.String("dropout", "fast") switch
        {
            "fast" => true,
            "torch" => false,
            var s => throw new ArgumentException($"--dropout: fast or torch, got '{s}'"),
        };
        KernelSettings.Attention = args.String("attention", "auto") switch
        {
            "auto" => AttentionKernel.Auto,
            "sdpa" => AttentionKernel.Sdpa,
            "eager" => AttentionKernel.Eager,
            var s => throw new ArgumentException($"--attention: auto, sdpa or eager, got '{s}'"),
        };
        KernelSettings.FuseQkv = OnOff(args, "fuse-qkv", KernelSettings.FuseQkv);
        KernelSettings.SparseEmbeddingGradients = OnOff(args, "sparse-embeddings", KernelSettings.SparseEmbeddingGradients);
        KernelSettings.AttentionInScoresDtype = OnOff(args, "bf16-attention", KernelSettings.AttentionInScoresDtype);
        KernelSettings.FusedSoftmaxDropout = OnOff(args, "fused-softmax", KernelSettings.FusedSoftmaxDropout);
        KernelSettings.FusedResidualLayerNorm = OnOff(args, "fused-layernorm", KernelSettings.FusedResidualLayerNorm);
        KernelSettings.ExplicitAutocastCasts = OnOff(args, "explicit-casts", KernelSettings.ExplicitAutocastCasts);
    }

    /// <summary>The switch --ab alternates in one run (train-step), or null.</summary>
    public static (string Name, Action<bool> Set)? AlternateSwitch(string? name) => name switch
    {
        null => null,
        "fused-softmax" => ("fused-softmax", on => KernelSettings.FusedSoftmaxDropout = on),
        "fast-dropout" => ("fast-dropout", on => KernelSettings.FastDropout = on),
        "fuse-qkv" => ("fuse-qkv", on => KernelSettings.FuseQkv = on),
        "fused-layernorm" => ("fused-layernorm", on => KernelSettings.FusedResidualLayerNorm = on),
        "explicit-casts" => ("explicit-casts", on => KernelSettings.ExplicitAutocastCasts = on),
        "split-batch" => ("split-batch", on => TrainStep.SplitBatch = on),
        _ => throw new ArgumentException($"--ab: fused-softmax, fast-dropout, fuse-qkv, fused-layernorm, explicit-casts or split-batch, got '{name}'"),
    };

    private static bool OnOff(BenchArgs args, string name, bool fallback) => args.String(name) switch
    {
        null => fallback,
        "on" => true,
        "off" => false,
        var s => throw new ArgumentException($"--{name}: on or off, got '{s}'"),
    };

    public static void Describe(Report report)
    {
        report.Add("dropout", KernelSettings.FastDropout ? "fast" : "torch");
        report.Add("attention", KernelSettings.Attention.ToString().ToLowerInvariant());
        report.Add("fuse_qkv", KernelSettings.FuseQkv);
        report.Add("sparse_embedding_gradients", KernelSettings.SparseEmbeddingGradients);
        report.Add("bf16_attention_probabilities", KernelSettings.AttentionInScoresDtype);
        report.Add("fused_softmax_dropout", KernelSettings.FusedSoftmaxDropout);
        report.Add("fused_residual_layernorm", KernelSettings.FusedResidualLayerNorm);
        report.Add("explicit_autocast_casts", KernelSettings.ExplicitAutocastCasts);
    }
}
