using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// ceiling: a timeline of the matrix-product rate: the n×n×n product that train-step takes as its ceiling, and two
/// products at the training step's own shapes ([B·T, 384]·[384, 1536] and [B·T, 1536]·[1536, 384]), sampled one
/// after the other, round after round. It shows how far the ceiling moves within seconds, and whether the model's
/// products move with it. With --single each round also takes the square product on one thread: what the other
/// threads add to it at that moment.
/// </summary>
internal static class CeilingScenario
{
    public static void Run(BenchArgs args)
    {
        int rounds = args.Int("rounds", 40), batch = args.Int("batch", 32), seq = args.Int("seq", 128);
        var dtype = Dtypes.Parse(args.String("precision", "bf16"));
        int? threads = args.OptionalInt("threads");
        bool single = args.Flag("single");
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        int used = torch.get_num_threads();
        var report = new Report("ceiling");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("threads", torch.get_num_threads());
        report.Add("precision", dtype == ScalarType.BFloat16 ? "bf16" : "fp32");

        const int h = 384, inter = 1536, n = Ceiling.N;
        int m = batch * seq;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // The square product exactly as train-step samples its ceiling.
        using var ceiling = new Ceiling.Sampler(dtype);
        var x = randn(m, h).to(dtype);
        var w = randn(inter, h).to(dtype);
        var y = randn(m, inter).to(dtype);
        double Rate(Action product, double flops) => flops / Stats.Median(Stats.Time(product, 1, 5));
        var rows = new List<IReadOnlyList<object?>>();
        var square = new List<double>();
        var up = new List<double>();
        var down = new List<double>();
        var oneThread = new List<double>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int r = 0; r < rounds; r++)
        {
            double s = ceiling.Sample();
            double u = Rate(() => { using var c = x.matmul(w.t()); }, 2.0 * m * h * inter);
            double d = Rate(() => { using var c = y.matmul(w); }, 2.0 * m * h * inter);
            square.Add(s); up.Add(u); down.Add(d);
            var row = new List<object?> { r + 1, clock.Elapsed.TotalSeconds, s / 1e9, u / 1e9, d / 1e9 };
            if (single)
            {
                // The same square product on one thread, right after: how much the other threads added.
                torch.set_num_threads(1);
                double one = ceiling.Sample();
                torch.set_num_threads(used);
                oneThread.Add(one);
                row.AddRange([one / 1e9, s / one]);
            }
            rows.Add(row);
        }
        string[] columns = single
            ? ["round", "at_s", $"square_{n}", "up_4096x384x1536", "down_4096x1536x384", "square_1_thread", "threads_over_1"]
            : ["round", "at_s", $"square_{n}", "up_4096x384x1536", "down_4096x1536x384"];
        report.Table($"matrix-product rates, round after round (GFLOP/s)", columns, rows);
        var series = new List<(string, List<double>)> { ("square", square), ("up", up), ("down", down) };
        if (single)
        {
            series.Add(("square_1_thread", oneThread));
            report.Add("threads_over_1_median", Stats.Median(square.Zip(oneThread, (s, o) => s / o)));
        }
        foreach (var (name, v) in series)
        {
            report.Add($"{name}_gflops_median", Stats.Median(v) / 1e9);
            report.Add($"{name}_gflops_min", v.Min() / 1e9);
            report.Add($"{name}_gflops_max", v.Max() / 1e9);
        }
        report.Finish();
    }
}
