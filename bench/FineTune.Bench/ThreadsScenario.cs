using System.Globalization;
using FineTune.Runtime;

namespace FineTune.Bench;

/// <summary>
/// threads: training-step time per OpenMP wait policy and intra-op thread count. Each configuration runs in its own
/// process, because libtorch's OpenMP runtime reads OMP_WAIT_POLICY once, when it is loaded.
/// </summary>
internal static class ThreadsScenario
{
    public static void Run(BenchArgs args)
    {
        var policies = args.Strings("policies", "PASSIVE", "ACTIVE");
        var counts = args.Ints("counts", Enumerable.Range(1, Environment.ProcessorCount).ToArray());
        int batch = args.Int("batch", 32), seq = args.Int("seq", 64), reps = args.Int("reps", 5);
        string precision = args.String("precision", "fp32");
        int rounds = args.Int("rounds", 2);
        args.CheckAllUsed();
        var report = new Report("threads");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("processors", Environment.ProcessorCount);
        report.Add("batch", batch);
        report.Add("seq", seq);
        report.Add("precision", precision);
        report.Add("rounds", rounds);
        var results = new Dictionary<(string, int), List<double>>();
        // Rounds interleave the configurations, so that a change in the machine's load hits all of them alike.
        for (int round = 0; round < rounds; round++)
            foreach (var policy in policies)
                foreach (var n in counts)
                {
                    var env = new Dictionary<string, string> { ["OMP_WAIT_POLICY"] = policy };
                    string load = Machine.LoadAverage();
                    var r = MemoryScenario.RunChild(["train-step", "--batch", S(batch), "--seq", S(seq), "--reps", S(reps), "--warmup", "2",
                        "--precision", precision, "--threads", S(n)], env);
                    double seconds = r?.GetProperty("step_seconds").GetDouble() ?? double.NaN;
                    Console.WriteLine($"round {round + 1}: OMP_WAIT_POLICY={policy} threads={n}: {seconds:0.000} s per step (load {load})");
                    (results.TryGetValue((policy, n), out var list) ? list : results[(policy, n)] = []).Add(seconds);
                }
        var rows = results.Select(kv => (IReadOnlyList<object?>)[kv.Key.Item1, kv.Key.Item2, Stats.Median(kv.Value), Stats.Min(kv.Value)]).ToList();
        report.Table("median step time over rounds (s)", ["omp_wait_policy", "threads", "median_step_s", "min_step_s"], rows, jsonKey: "configurations");
        var best = rows.OrderBy(r => (double)r[2]!).First();
        report.Add("fastest", $"{best[0]} with {best[1]} threads");
        report.Add("library_default", $"{NativeEnvironment.Defaults["OMP_WAIT_POLICY"]} with {Environment.ProcessorCount} threads");
        report.Finish();
    }

    private static string S(int v) => v.ToString(CultureInfo.InvariantCulture);
}
