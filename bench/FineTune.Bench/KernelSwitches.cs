using FineTune.Modeling;

namespace FineTune.Bench;

/// <summary>--dropout fast|torch, --attention auto|sdpa|eager, --fuse-qkv on|off: the alternatives the library chose between.</summary>
internal static class KernelSwitches
{
    public const string Help = "--dropout fast|torch --attention auto|sdpa|eager --fuse-qkv on|off";

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
        KernelSettings.FuseQkv = args.String("fuse-qkv", "on") switch
        {
            "on" => true,
            "off" => false,
            var s => throw new ArgumentException($"--fuse-qkv: on or off, got '{s}'"),
        };
    }

    public static void Describe(Report report)
    {
        report.Add("dropout", KernelSettings.FastDropout ? "fast" : "torch");
        report.Add("attention", KernelSettings.Attention.ToString().ToLowerInvariant());
        report.Add("fuse_qkv", KernelSettings.FuseQkv);
    }
}
