using FineTune.Configuration;
using FineTune.Modeling;

namespace FineTune.Bench;

/// <summary>
/// --dropout fast|torch, --attention auto|sdpa|eager, --fuse-qkv on|off, …: the alternatives the library chose between,
/// as the kernel options of the models a scenario builds (<see cref="Current"/>).
/// </summary>
internal static class KernelSwitches
{
    public const string Help = "--dropout fast|torch --attention auto|sdpa|eager --fuse-qkv on|off --sparse-embeddings on|off --bf16-attention on|off --fused-softmax on|off --fused-layernorm on|off --explicit-casts on|off";

    /// <summary>The kernel options the command line chose (the library's defaults where it chose none).</summary>
    public static KernelOptions Current { get; private set; } = KernelOptions.Default;

    public static void Apply(BenchArgs args)
    {
        var d = KernelOptions.Default;
        Current = new KernelOptions
        {
            FastDropout = args.String("dropout", "fast") switch
            {
                "fast" => true,
                "torch" => false,
                var s => throw new ArgumentException($"--dropout: fast or torch, got '{s}'"),
            },
            Attention = args.String("attention", "auto") switch
            {
                "auto" => AttentionKernel.Auto,
                "sdpa" => AttentionKernel.Sdpa,
                "eager" => AttentionKernel.Eager,
                var s => throw new ArgumentException($"--attention: auto, sdpa or eager, got '{s}'"),
            },
            FuseQkv = OnOff(args, "fuse-qkv", d.FuseQkv),
            SparseEmbeddingGradients = OnOff(args, "sparse-embeddings", d.SparseEmbeddingGradients),
            AttentionInScoresDtype = OnOff(args, "bf16-attention", d.AttentionInScoresDtype),
            FusedSoftmaxDropout = OnOff(args, "fused-softmax", d.FusedSoftmaxDropout),
            FusedResidualLayerNorm = OnOff(args, "fused-layernorm", d.FusedResidualLayerNorm),
            ExplicitAutocastCasts = OnOff(args, "explicit-casts", d.ExplicitAutocastCasts),
        };
    }

    /// <summary>The switch --ab alternates in one run (train-step) on the model being timed, or null.</summary>
    public static (string Name, Action<TaskModel, bool> Set)? AlternateSwitch(string? name) => name switch
    {
        null => null,
        "fused-softmax" => ("fused-softmax", (m, on) => m.Kernels = m.Kernels with { FusedSoftmaxDropout = on }),
        "fast-dropout" => ("fast-dropout", (m, on) => m.Kernels = m.Kernels with { FastDropout = on }),
        "fuse-qkv" => ("fuse-qkv", (m, on) => m.Kernels = m.Kernels with { FuseQkv = on }),
        "fused-layernorm" => ("fused-layernorm", (m, on) => m.Kernels = m.Kernels with { FusedResidualLayerNorm = on }),
        "explicit-casts" => ("explicit-casts", (m, on) => m.Kernels = m.Kernels with { ExplicitAutocastCasts = on }),
        "split-batch" => ("split-batch", (_, on) => TrainStep.SplitBatch = on),
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
        var k = Current;
        report.Add("dropout", k.FastDropout ? "fast" : "torch");
        report.Add("attention", k.Attention.ToString().ToLowerInvariant());
        report.Add("fuse_qkv", k.FuseQkv);
        report.Add("sparse_embedding_gradients", k.SparseEmbeddingGradients);
        report.Add("bf16_attention_probabilities", k.AttentionInScoresDtype);
        report.Add("fused_softmax_dropout", k.FusedSoftmaxDropout);
        report.Add("fused_residual_layernorm", k.FusedResidualLayerNorm);
        report.Add("explicit_autocast_casts", k.ExplicitAutocastCasts);
    }
}
