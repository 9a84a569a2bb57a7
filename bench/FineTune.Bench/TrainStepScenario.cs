using FineTune.Configuration;
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
        var ab = KernelSwitches.AlternateSwitch(args.String("ab"));
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
        using var ceiling = new Ceiling.Sampler(ceilingDtype);

        random.manual_seed(1);
        using var model = Workload.LoadClassifier();
        double flops = 3 * Workload.ForwardFlops(model.Config, batch, seq);
        using var step = new TrainStep(model, precision, referenceOptimizer);
        var inputs = Enumerable.Range(0, 4).Select(i => Workload.RandomBatch(model.Config, batch, seq, seed: i)).ToList();
        for (int i = 0; i < warmup; i++) step.Run(inputs[i % inputs.Count]);
        if (ab is not null)
        {
            RunAlternating(report, step, inputs, ab.Value, reps, flops, ceiling);
            return;
        }
        long rssAfterWarmup = Machine.RssBytes();
        var rows = new List<IReadOnlyList<object?>>();
        var total = new List<double>();
        var fwd = new List<double>();
        var bwd = new List<double>();
        var opt = new List<double>();
        var paired = new List<double>();
        // A ceiling sample before every step and one after the last: the ceiling is the median of the samples, taken
        // across the same stretch of time as the steps (see Ceiling).
        double before = ceiling.Sample();
        for (int i = 0; i < reps; i++)
        {
            double t = step.Run(inputs[i % inputs.Count]);
            double after = ceiling.Sample();
            total.Add(t); fwd.Add(step.ForwardSeconds); bwd.Add(step.BackwardSeconds); opt.Add(step.OptimizerSeconds);
            // The step against the samples on either side of it.
            paired.Add(flops / t / ((before + after) / 2));
            rows.Add([i + 1, t, step.ForwardSeconds, step.BackwardSeconds, step.OptimizerSeconds, before / 1e9, flops / t / before, Machine.GiB(Machine.RssBytes())]);
            before = after;
        }
        report.Table("steps (seconds; ceiling sample before the step, GFLOP/s; rss GiB)",
            ["rep", "step_s", "forward_s", "backward_s", "optimizer_s", "ceiling_gflops", "mfu_vs_sample", "rss_gib"], rows);

        double median = Stats.Median(total);
        double ceilingMedian = Stats.Median(ceiling.Samples), ceilingMax = ceiling.Samples.Max();
        report.Add("step_seconds", median);
        report.Add("step_seconds_min", Stats.Min(total));
        report.Add("forward_seconds", Stats.Median(fwd));
        report.Add("backward_seconds", Stats.Median(bwd));
        report.Add("optimizer_seconds", Stats.Median(opt));
        report.Add("tokens_per_second", batch * seq / median);
        report.Add("model_gflop", flops / 1e9);
        report.Add("achieved_gflops", flops / median / 1e9);
        report.Add("ceiling_gflops", ceilingMedian / 1e9);
        report.Add("ceiling_gflops_min", ceiling.Samples.Min() / 1e9);
        report.Add("ceiling_gflops_max", ceilingMax / 1e9);
        report.Add("ceiling_samples", ceiling.Samples.Count);
        report.Add("mfu", flops / median / ceilingMedian);
        report.Add("mfu_paired_median", Stats.Median(paired));
        report.Add("mfu_vs_max_sample", flops / median / ceilingMax);
        report.Add("rss_after_warmup_gib", Machine.GiB(rssAfterWarmup));
        report.Add("rss_end_gib", Machine.GiB(Machine.RssBytes()));
        report.Add("peak_rss_gib", Machine.GiB(Machine.PeakRssBytes()));
        report.Finish();
    }

    /// <summary>
    /// --ab SWITCH: the same steps with the switch on and off, alternating (on, off, off, on, …) so that both see the
    /// same load; medians of each, and their ratio.
    /// </summary>
    private static void RunAlternating(Report report, TrainStep step, List<FineTune.Modeling.ModelInput> inputs, (string Name, Action<FineTune.Modeling.TaskModel, bool> Set) ab,
        int reps, double flops, Ceiling.Sampler ceiling)
    {
        var times = new Dictionary<bool, List<double>> { [true] = [], [false] = [] };
        var cpu = new Dictionary<bool, List<double>> { [true] = [], [false] = [] };
        var rows = new List<IReadOnlyList<object?>>();
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        for (int i = 0; i < reps; i++)
            foreach (bool enabled in i % 2 == 0 ? new[] { true, false } : [false, true])
            {
                ceiling.Sample();
                ab.Set(step.Model, enabled);
                step.Run(inputs[i % inputs.Count]); // the first step after a switch is not timed (allocator, caches)
                process.Refresh();
                var cpuBefore = process.TotalProcessorTime;
                double t = step.Run(inputs[(i + 1) % inputs.Count]);
                process.Refresh();
                double c = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
                times[enabled].Add(t);
                cpu[enabled].Add(c);
                rows.Add([i + 1, enabled ? "on" : "off", t, c]);
            }
        ceiling.Sample();
        double ceilingUsed = Stats.Median(ceiling.Samples);
        // CPU seconds (all threads) move less than wall time when other work shares the cores.
        report.Table($"steps, {ab.Name} on and off (seconds; cpu: seconds of all threads)", ["rep", ab.Name, "step_s", "cpu_s"], rows);
        double on = Stats.Median(times[true]), off = Stats.Median(times[false]);
        report.Add("ab_switch", ab.Name);
        report.Add("step_seconds_on", on);
        report.Add("step_seconds_off", off);
        report.Add("step_seconds_min_on", Stats.Min(times[true]));
        report.Add("step_seconds_min_off", Stats.Min(times[false]));
        report.Add("on_over_off", on / off);
        report.Add("cpu_seconds_on", Stats.Median(cpu[true]));
        report.Add("cpu_seconds_off", Stats.Median(cpu[false]));
        report.Add("cpu_on_over_off", Stats.Median(cpu[true]) / Stats.Median(cpu[false]));
        report.Add("ceiling_gflops", ceilingUsed / 1e9);
        report.Add("mfu_on", flops / on / ceilingUsed);
        report.Add("mfu_off", flops / off / ceilingUsed);
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
