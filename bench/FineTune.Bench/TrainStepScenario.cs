using FineTune.Runtime;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// train-step: the time of one optimizer step of all-MiniLM-L6-v2 on a full batch, its tokens/s, and its model
/// FLOPs over the matrix-product ceiling of the same precision measured in the same run (mfu); peak RSS.
/// </summary>
internal static class TrainStepScenario
{
    public static void Run(BenchArgs args)
    {
        int batch = args.Int("batch", 32), seq = args.Int("seq", 128);
        int warmup = args.Int("warmup", 3), reps = args.Int("reps", 7);
        var precision = ParsePrecision(args.String("precision", "fp32"));
        bool referenceOptimizer = args.String("optimizer", "fused") == "torchsharp";
        int? threads = args.OptionalInt("threads");
        KernelSwitches.Apply(args);
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        var report = new Report("train-step");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("threads", torch.get_num_threads());
        report.Add("batch", batch);
        report.Add("seq", seq);
        report.Add("precision", precision.ToString().ToLowerInvariant());
        report.Add("optimizer", referenceOptimizer ? "torchsharp" : "fused");
        KernelSwitches.Describe(report);

        var ceilingDtype = precision == Precision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        double ceiling = Ceiling.MatmulFlopsPerSecond(ceilingDtype);

        random.manual_seed(1);
        using var model = Workload.LoadClassifier();
        double flops = 3 * Workload.ForwardFlops(model.Config, batch, seq);
        using var step = new TrainStep(model, precision, referenceOptimizer);
        var inputs = Enumerable.Range(0, 4).Select(i => Workload.RandomBatch(model.Config, batch, seq, seed: i)).ToList();
        for (int i = 0; i < warmup; i++) step.Run(inputs[i % inputs.Count]);
        long rssAfterWarmup = Machine.RssBytes();
        var rows = new List<IReadOnlyList<object?>>();
        var total = new List<double>();
        var fwd = new List<double>();
        var bwd = new List<double>();
        var opt = new List<double>();
        for (int i = 0; i < reps; i++)
        {
            double t = step.Run(inputs[i % inputs.Count]);
            total.Add(t); fwd.Add(step.ForwardSeconds); bwd.Add(step.BackwardSeconds); opt.Add(step.OptimizerSeconds);
            rows.Add([i + 1, t, step.ForwardSeconds, step.BackwardSeconds, step.OptimizerSeconds, Machine.GiB(Machine.RssBytes())]);
        }
        // The ceiling again after the steps: the machine is shared and the figure moves; the larger of the two is used.
        double ceilingAfter = Ceiling.MatmulFlopsPerSecond(ceilingDtype);
        double ceilingUsed = Math.Max(ceiling, ceilingAfter);
        report.Table("steps (seconds; rss GiB)", ["rep", "step_s", "forward_s", "backward_s", "optimizer_s", "rss_gib"], rows);

        double median = Stats.Median(total);
        report.Add("step_seconds", median);
        report.Add("step_seconds_min", Stats.Min(total));
        report.Add("forward_seconds", Stats.Median(fwd));
        report.Add("backward_seconds", Stats.Median(bwd));
        report.Add("optimizer_seconds", Stats.Median(opt));
        report.Add("tokens_per_second", batch * seq / median);
        report.Add("model_gflop", flops / 1e9);
        report.Add("achieved_gflops", flops / median / 1e9);
        report.Add("ceiling_gflops", ceilingUsed / 1e9);
        report.Add("ceiling_gflops_before", ceiling / 1e9);
        report.Add("ceiling_gflops_after", ceilingAfter / 1e9);
        report.Add("mfu", flops / median / ceilingUsed);
        report.Add("rss_after_warmup_gib", Machine.GiB(rssAfterWarmup));
        report.Add("rss_end_gib", Machine.GiB(Machine.RssBytes()));
        report.Add("peak_rss_gib", Machine.GiB(Machine.PeakRssBytes()));
        report.Finish();
    }

    public static Precision ParsePrecision(string s) => s.ToLowerInvariant() switch
    {
        "fp32" => Precision.Fp32,
        "bf16" => Precision.Bf16,
        "auto" => PrecisionScopes.Resolve(Precision.Auto, CPU),
        _ => throw new ArgumentException($"--precision: fp32, bf16 or auto, got '{s}'"),
    };
}
