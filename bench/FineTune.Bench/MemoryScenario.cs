using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// memory: RSS and step time over many training steps of all-MiniLM-L6-v2, per allocator, each in its own process
/// (the allocator is chosen before the process starts): glibc's malloc as it is, glibc with malloc_trim after every
/// step, glibc with a fixed mmap threshold (large blocks always returned to the system), and tcmalloc (LD_PRELOAD).
/// </summary>
internal static class MemoryScenario
{
    private static readonly string[] AllVariants = ["glibc", "glibc-trim", "glibc-mmap", "tcmalloc"];

    public static void Run(BenchArgs args)
    {
        int steps = args.Int("steps", 100), batch = args.Int("batch", 32), seq = args.Int("seq", 128), warmup = args.Int("warmup", 5);
        string precision = args.String("precision", "fp32");
        var variants = args.Strings("allocators", AllVariants);
        int? threads = args.OptionalInt("threads");
        args.CheckAllUsed();
        var report = new Report("memory");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("steps", steps);
        report.Add("batch", batch);
        report.Add("seq", seq);
        report.Add("precision", precision);
        var rows = new List<IReadOnlyList<object?>>();
        foreach (var variant in variants)
        {
            var env = new Dictionary<string, string> { [NativeMemory.AllocatorVariable] = "glibc" };
            var childArgs = new List<string> { "memory-child", "--steps", Str(steps), "--batch", Str(batch), "--seq", Str(seq), "--precision", precision, "--warmup", Str(warmup) };
            if (threads is { } t) childArgs.AddRange(["--threads", Str(t)]);
            switch (variant)
            {
                case "glibc": break;
                case "glibc-trim": childArgs.Add("--trim"); break;
                case "glibc-mmap": env["MALLOC_MMAP_THRESHOLD_"] = "131072"; break;
                case "tcmalloc":
                    var library = NativeMemory.FindTcmalloc();
                    if (library is null) { Console.WriteLine("tcmalloc: not installed (apt-get install libtcmalloc-minimal4), skipped"); continue; }
                    env["LD_PRELOAD"] = library;
                    env[NativeMemory.AllocatorVariable] = "tcmalloc";
                    break;
                default: throw new ArgumentException($"--allocators: unknown '{variant}' (known: {string.Join(", ", AllVariants)})");
            }
            Console.WriteLine($"{variant}: {steps} steps at {batch} x {seq} {precision} (load {Machine.LoadAverage()})");
            var result = RunChild(childArgs, env);
            if (result is not { } r) { rows.Add([variant, "failed"]); continue; }
            var rss = r.GetProperty("rss_gib").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var times = r.GetProperty("step_seconds").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            int half = rss.Length / 2;
            double slope = half > 1 ? (rss[^1] - rss[half]) / (rss.Length - 1 - half) * 100 : double.NaN; // GiB per 100 steps
            var row = new object?[]
            {
                variant, r.GetProperty("allocator").GetString(), Stats.Median(times.Skip(warmup)), rss[Math.Min(warmup, rss.Length - 1)],
                rss.Skip(warmup).Max(), rss[^1], slope * 1024, r.GetProperty("peak_rss_gib").GetDouble(),
            };
            rows.Add(row);
            report.Json(variant.Replace('-', '_'), new Dictionary<string, object?>
            {
                ["allocator"] = row[1], ["median_step_seconds"] = row[2], ["rss_after_warmup_gib"] = row[3], ["rss_max_after_warmup_gib"] = row[4],
                ["rss_end_gib"] = row[5], ["rss_slope_mib_per_100_steps_second_half"] = row[6], ["peak_rss_gib"] = row[7],
                ["rss_gib"] = rss, ["step_seconds"] = times,
            });
        }
        report.Table("RSS (GiB) and step time (s) per allocator, each in its own process",
            ["variant", "allocator", "median_step_s", "rss_after_warmup", "rss_max", "rss_end", "slope_mib_per_100", "peak_rss"], rows, jsonKey: "table");
        report.Finish();
    }

    /// <summary>The child: trains for --steps steps, records RSS after each, prints one JSON line.</summary>
    public static void Child(BenchArgs args)
    {
        int steps = args.Int("steps", 100), batch = args.Int("batch", 32), seq = args.Int("seq", 128);
        args.Int("warmup", 5);
        var precision = TrainStepScenario.ParsePrecision(args.String("precision", "fp32"));
        bool trim = args.Flag("trim");
        int? threads = args.OptionalInt("threads");
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        var milestones = new Dictionary<string, double> { ["start"] = Machine.GiB(Machine.RssBytes()) };
        random.manual_seed(1);
        using (var warm = ones(1)) milestones["torch_loaded"] = Machine.GiB(Machine.RssBytes());
        using var model = Workload.LoadClassifier();
        milestones["model_loaded"] = Machine.GiB(Machine.RssBytes());
        using var step = new TrainStep(model, precision);
        milestones["optimizer_created"] = Machine.GiB(Machine.RssBytes());
        var inputs = Enumerable.Range(0, 4).Select(i => Workload.RandomBatch(model.Config, batch, seq, seed: i)).ToList();
        var rss = new List<double>();
        var times = new List<double>();
        for (int i = 0; i < steps; i++)
        {
            times.Add(step.Run(inputs[i % inputs.Count]));
            if (trim) NativeMemory.Trim();
            rss.Add(Machine.GiB(Machine.RssBytes()));
        }
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["allocator"] = NativeMemory.Current + (trim ? " + malloc_trim" : "")
                + (Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is { } m ? $" + mmap threshold {m}" : ""),
            ["rss_gib"] = rss,
            ["step_seconds"] = times,
            ["peak_rss_gib"] = Machine.GiB(Machine.PeakRssBytes()),
            ["milestones_gib"] = milestones,
        }));
    }

    private static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);

    internal static JsonElement? RunChild(IEnumerable<string> args, IReadOnlyDictionary<string, string> env)
    {
        var (file, prefix) = Machine.SelfCommand();
        var psi = new ProcessStartInfo(file, [.. prefix, .. args, "--results", "none"]) { RedirectStandardOutput = true };
        // The child starts from this process's environment minus what chose this process's allocator.
        psi.Environment.Remove("LD_PRELOAD");
        psi.Environment.Remove("FINETUNE_REEXEC");
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        string? last = null;
        while (process.StandardOutput.ReadLine() is { } line) last = line;
        process.WaitForExit();
        if (process.ExitCode != 0 || last is null || !last.StartsWith('{')) return null;
        return JsonDocument.Parse(last).RootElement.Clone();
    }
}
