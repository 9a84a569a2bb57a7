using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using NativeMemory = FineTune.Runtime.NativeMemory;
using System.Text.Json;
using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// memory: RSS and step time over many training steps of all-MiniLM-L6-v2, per allocator, each in its own process
/// (the allocator is chosen before the process starts). The variants:
/// <list type="bullet">
/// <item>glibc: glibc's malloc as the library leaves it on a machine without tcmalloc (FINETUNE_ALLOCATOR=glibc:
/// <see cref="NativeMemory.GlibcDefaults"/> applied at start-up);</item>
/// <item>glibc-untuned: glibc's malloc as the process starts (FINETUNE_ALLOCATOR=system);</item>
/// <item>glibc-trim: untuned, with malloc_trim after every step;</item>
/// <item>glibc-mmap: untuned, with MALLOC_MMAP_THRESHOLD_=131072 (large blocks always returned to the system);</item>
/// <item>mallopt:SETTINGS: untuned, then mallopt at start-up, e.g. mallopt:arena=2:mmap=4M:trim=64M:pad=16M;</item>
/// <item>env:NAME=VALUE+NAME=VALUE: untuned, with glibc's environment variables, e.g. env:MALLOC_ARENA_MAX=2;</item>
/// <item>tcmalloc (LD_PRELOAD).</item>
/// </list>
/// --lengths varied gives every step a batch of its own length (as length-grouped batches of real text come), instead
/// of four batches of the full length in turn. With --rounds N the list runs N times, every other round in reverse order, and the step-time ratio against
/// tcmalloc is taken within each round (the machine's load moves between rounds).
/// </summary>
internal static class MemoryScenario
{
    private static readonly string[] DefaultVariants = ["glibc", "glibc-untuned", "glibc-trim", "glibc-mmap", "tcmalloc"];

    public static void Run(BenchArgs args)
    {
        int steps = args.Int("steps", 100), batch = args.Int("batch", 32), seq = args.Int("seq", 128), warmup = args.Int("warmup", 5);
        int rounds = args.Int("rounds", 1);
        string lengths = args.String("lengths", "fixed");
        if (lengths is not ("fixed" or "varied")) throw new ArgumentException($"--lengths: fixed or varied, got '{lengths}'");
        string precision = args.String("precision", "fp32");
        var variants = args.Strings("allocators", DefaultVariants);
        int? threads = args.OptionalInt("threads");
        bool lockstep = args.Flag("lockstep");
        args.CheckAllUsed();
        var report = new Report("memory");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("steps", steps);
        report.Add("batch", batch);
        report.Add("seq", seq);
        report.Add("precision", precision);
        report.Add("lengths", lengths);
        report.Add("rounds", rounds);
        report.Add("lockstep", lockstep);
        report.Add("glibc_defaults", NativeMemory.GlibcDefaults.ToString());
        List<string> Args(IEnumerable<string> extra)
        {
            var childArgs = new List<string> { "memory-child", "--steps", Str(steps), "--batch", Str(batch), "--seq", Str(seq), "--precision", precision, "--lengths", lengths };
            if (threads is { } t) childArgs.AddRange(["--threads", Str(t)]);
            childArgs.AddRange(extra);
            return childArgs;
        }
        var runs = new List<VariantRun>();
        for (int round = 1; round <= rounds; round++)
        {
            var order = round % 2 == 1 ? variants : variants.Reverse().ToList();
            if (lockstep)
            {
                runs.AddRange(RunInLockstep(order, round, steps, warmup, Args, Configure));
                continue;
            }
            foreach (var variant in order)
            {
                var (env, extra) = Configure(variant);
                if (env is null) { Console.WriteLine($"{variant}: tcmalloc not installed (apt-get install libtcmalloc-minimal4), skipped"); continue; }
                var childArgs = Args(extra);
                string load = Machine.LoadAverage();
                Console.WriteLine($"round {round}, {variant}: {steps} steps at {batch} x {seq} {precision} (load {load})");
                var result = RunChild(childArgs, env);
                if (result is not { } r) { Console.WriteLine($"  {variant}: the child failed"); continue; }
                var run = new VariantRun(variant, round, load, r, warmup);
                runs.Add(run);
                Console.WriteLine($"  {run.Allocator}: median step {run.MedianStep:0.000} s, peak {run.PeakGiB:0.000} GiB, " +
                    $"growth in the second half {run.GrowthMiBPer100:0.0} MiB / 100 steps");
            }
        }

        // Step time against tcmalloc's in the same round.
        double? RatioInRound(VariantRun run) =>
            runs.FirstOrDefault(o => o.Round == run.Round && o.Variant == "tcmalloc") is { } tc ? run.MedianStep / tc.MedianStep : null;
        // In lockstep, the median over steps of this variant's step against tcmalloc's step of the same number.
        double? PairedRatio(VariantRun run) =>
            lockstep && runs.FirstOrDefault(o => o.Round == run.Round && o.Variant == "tcmalloc") is { } tc
                ? Stats.Median(run.Steps.Zip(tc.Steps).Skip(warmup).Select(p => p.First / p.Second))
                : null;
        var marks = Enumerable.Range(1, steps / 100).Select(k => k * 100).ToList();
        var rows = runs.Select(r => (IReadOnlyList<object?>)new object?[]
        {
            r.Variant, r.Round, r.Allocator, r.MedianStep, RatioInRound(r), PairedRatio(r), r.FaultsPerStep, r.Trims, r.RssAfterWarmup, r.RssEnd, r.GrowthMiBPer100, r.PeakGiB, r.Load,
        }).ToList();
        report.Table("per run: median step (s), its ratio to tcmalloc's in the same round (and, in lockstep, the median of step-by-step ratios), median minor page faults per step, heap trims by the guard, RSS after warm-up and at the end (GiB), " +
            "growth over the second half (MiB per 100 steps, least squares), peak RSS (GiB)",
            ["variant", "round", "allocator", "median_step_s", "vs_tcmalloc", "vs_tcmalloc_paired", "page_faults_per_step", "trims", "rss_after_warmup", "rss_end", "growth_mib_per_100", "peak_gib", "load"],
            rows, jsonKey: "runs");
        if (marks.Count > 0)
            report.Table("RSS (GiB) every 100 steps",
                ["variant", "round", .. marks.Select(m => $"step_{m}")],
                runs.Select(r => (IReadOnlyList<object?>)[r.Variant, r.Round, .. marks.Select(m => (object?)r.Rss[m - 1])]).ToList(), jsonKey: "rss_per_100_steps");
        var summary = variants.Where(v => runs.Any(r => r.Variant == v)).Select(v =>
        {
            var mine = runs.Where(r => r.Variant == v).ToList();
            var ratios = mine.Select(RatioInRound).OfType<double>().ToList();
            var paired = mine.Select(PairedRatio).OfType<double>().ToList();
            return (IReadOnlyList<object?>)new object?[]
            {
                v, mine[0].Allocator, mine.Count, Stats.Median(mine.Select(r => r.MedianStep)), ratios.Count > 0 ? Stats.Median(ratios) : null,
                paired.Count > 0 ? Stats.Median(paired) : null, mine.Max(r => r.GrowthMiBPer100), mine.Max(r => r.PeakGiB), mine.Max(r => r.PeakGiB) * 1.073741824,
            };
        }).ToList();
        report.Table("per variant (over its rounds): median step (s), median ratio to tcmalloc in the same round, the largest growth and peak",
            ["variant", "allocator", "runs", "median_step_s", "vs_tcmalloc", "vs_tcmalloc_paired", "growth_mib_per_100", "peak_gib", "peak_gb"], summary, jsonKey: "table");
        foreach (var r in runs)
            report.Json($"{r.Variant}#{r.Round}", new Dictionary<string, object?>
            {
                ["allocator"] = r.Allocator, ["median_step_seconds"] = r.MedianStep, ["peak_rss_gib"] = r.PeakGiB,
                ["growth_mib_per_100_steps_second_half"] = r.GrowthMiBPer100, ["load_average"] = r.Load,
                ["page_faults_per_step"] = r.FaultsPerStep, ["rss_gib"] = r.Rss, ["step_seconds"] = r.Steps, ["heap"] = r.Heap,
            });
        report.Finish();
    }

    /// <summary>
    /// Runs every variant's child at once, one step at a time in turn (the others wait between steps), so that what
    /// else runs on the machine falls on all of them alike. The children load one after another.
    /// </summary>
    private static List<VariantRun> RunInLockstep(IReadOnlyList<string> variants, int round, int steps, int warmup,
        Func<IEnumerable<string>, List<string>> args, Func<string, (Dictionary<string, string>? Env, List<string> Args)> configure)
    {
        var children = new List<(string Variant, string Load, Process Process)>();
        try
        {
            foreach (var variant in variants)
            {
                var (env, extra) = configure(variant);
                if (env is null) { Console.WriteLine($"{variant}: tcmalloc not installed (apt-get install libtcmalloc-minimal4), skipped"); continue; }
                string load = Machine.LoadAverage();
                Console.WriteLine($"round {round}, {variant}: starting (load {load})");
                var process = StartChild([.. args(extra), "--lockstep"], env, stdin: true);
                if (ReadUntil(process, "ready") is null) throw new InvalidOperationException($"{variant}: the child did not start");
                children.Add((variant, load, process));
            }
            for (int i = 0; i < steps; i++)
            {
                // Every other step in reverse order, so that neither variant always follows the other.
                var order = i % 2 == 0 ? children : Enumerable.Reverse(children).ToList();
                foreach (var (variant, _, process) in order)
                {
                    process.StandardInput.WriteLine("step");
                    process.StandardInput.Flush();
                    if (ReadUntil(process, "stepped") is null)
                        throw new InvalidOperationException($"{variant}: the child stopped at step {i + 1}");
                }
                if ((i + 1) % 50 == 0) Console.WriteLine($"  step {i + 1} of {steps} (load {Machine.LoadAverage()})");
            }
            var runs = new List<VariantRun>();
            foreach (var (variant, load, process) in children)
            {
                process.StandardInput.Close();
                string? last = null;
                while (process.StandardOutput.ReadLine() is { } line) last = line;
                process.WaitForExit();
                if (process.ExitCode != 0 || last is null || !last.StartsWith('{')) { Console.WriteLine($"  {variant}: the child failed"); continue; }
                var run = new VariantRun(variant, round, load, JsonDocument.Parse(last).RootElement.Clone(), warmup);
                runs.Add(run);
                Console.WriteLine($"  {run.Allocator}: median step {run.MedianStep:0.000} s, peak {run.PeakGiB:0.000} GiB, " +
                    $"growth in the second half {run.GrowthMiBPer100:0.0} MiB / 100 steps");
            }
            return runs;
        }
        finally
        {
            foreach (var (_, _, process) in children)
            {
                if (!process.HasExited) process.Kill();
                process.Dispose();
            }
        }
    }

    /// <summary>The child's environment and extra arguments for a variant; a null environment when it cannot run here.</summary>
    private static (Dictionary<string, string>? Env, List<string> Args) Configure(string variant)
    {
        var untuned = new Dictionary<string, string> { [NativeMemory.AllocatorVariable] = "system" };
        switch (variant)
        {
            case "glibc": return (new() { [NativeMemory.AllocatorVariable] = "glibc" }, []);
            case "glibc-untuned": return (untuned, []);
            case "glibc-trim": return (untuned, ["--trim"]);
            case "glibc-mmap": untuned["MALLOC_MMAP_THRESHOLD_"] = "131072"; return (untuned, []);
            case "tcmalloc":
                if (NativeMemory.FindTcmalloc() is not { } library) return (null, []);
                return (new() { ["LD_PRELOAD"] = library, [NativeMemory.AllocatorVariable] = "system" }, []);
        }
        if (variant.StartsWith("mallopt:", StringComparison.Ordinal))
        {
            _ = GlibcMallocSettings.Parse(variant["mallopt:".Length..]); // fail here, not in the child
            return (untuned, ["--mallopt", variant["mallopt:".Length..]]);
        }
        if (variant.StartsWith("env:", StringComparison.Ordinal))
        {
            foreach (var pair in variant["env:".Length..].Split('+', StringSplitOptions.RemoveEmptyEntries))
                untuned[pair[..pair.IndexOf('=')]] = pair[(pair.IndexOf('=') + 1)..];
            return (untuned, []);
        }
        throw new ArgumentException($"--allocators: unknown '{variant}' (glibc, glibc-untuned, glibc-trim, glibc-mmap, tcmalloc, mallopt:SETTINGS, env:NAME=VALUE+...)");
    }

    /// <summary>One variant's process: what it printed, summarised.</summary>
    private sealed class VariantRun
    {
        public VariantRun(string variant, int round, string load, JsonElement r, int warmup)
        {
            Variant = variant;
            Round = round;
            Load = load;
            Allocator = r.GetProperty("allocator").GetString()!;
            Rss = r.GetProperty("rss_gib").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Steps = r.GetProperty("step_seconds").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            PeakGiB = r.GetProperty("peak_rss_gib").GetDouble();
            Heap = r.TryGetProperty("heap", out var heap) ? heap.Clone() : null;
            FaultsPerStep = Stats.Median(r.GetProperty("minor_faults").EnumerateArray().Skip(warmup).Select(e => (double)e.GetInt64()));
            MedianStep = Stats.Median(Steps.Skip(warmup));
            Trims = r.TryGetProperty("trimmed_after_steps", out var trims) ? trims.GetArrayLength() : 0;
            RssAfterWarmup = Rss[Math.Min(warmup, Rss.Length) - 1];
            RssEnd = Rss[^1];
            GrowthMiBPer100 = SlopePer100(Rss.Skip(Rss.Length / 2).ToArray()) * 1024;
        }

        public string Variant { get; }
        public int Round { get; }
        public string Load { get; }
        public string Allocator { get; }
        public double[] Rss { get; }
        public double[] Steps { get; }
        public double PeakGiB { get; }
        public JsonElement? Heap { get; }
        public double MedianStep { get; }
        public double FaultsPerStep { get; }
        public int Trims { get; }
        public double RssAfterWarmup { get; }
        public double RssEnd { get; }
        public double GrowthMiBPer100 { get; }

        /// <summary>The least-squares slope of the values against their step, per 100 steps.</summary>
        private static double SlopePer100(double[] y)
        {
            if (y.Length < 2) return double.NaN;
            double n = y.Length, meanX = (n - 1) / 2, meanY = y.Average(), sxy = 0, sxx = 0;
            for (int i = 0; i < y.Length; i++) { sxy += (i - meanX) * (y[i] - meanY); sxx += (i - meanX) * (i - meanX); }
            return sxy / sxx * 100;
        }
    }

    /// <summary>The child: trains for --steps steps, records RSS after each, prints one JSON line.</summary>
    public static void Child(BenchArgs args)
    {
        int steps = args.Int("steps", 100), batch = args.Int("batch", 32), seq = args.Int("seq", 128);
        var precision = TrainStepScenario.ParsePrecision(args.String("precision", "fp32"));
        bool trim = args.Flag("trim");
        bool varied = args.String("lengths", "fixed") == "varied";
        var mallopt = args.String("mallopt") is { } spec ? GlibcMallocSettings.Parse(spec) : null;
        int? threads = args.OptionalInt("threads");
        bool lockstep = args.Flag("lockstep");
        args.CheckAllUsed();
        if (mallopt is not null && NativeMemory.ApplyGlibcSettings(mallopt) is { Count: > 0 } rejected)
            throw new ArgumentException($"--mallopt: glibc rejected {string.Join(", ", rejected)}");
        TorchRuntime.SetThreads(threads);
        var milestones = new Dictionary<string, double> { ["start"] = Machine.GiB(Machine.RssBytes()) };
        random.manual_seed(1);
        using (var warm = ones(1)) milestones["torch_loaded"] = Machine.GiB(Machine.RssBytes());
        using var model = Workload.LoadClassifier();
        milestones["model_loaded"] = Machine.GiB(Machine.RssBytes());
        using var step = new TrainStep(model, precision);
        milestones["optimizer_created"] = Machine.GiB(Machine.RssBytes());
        // Fixed: four batches of batch x seq in turn. Varied: as length-grouped batches of real text come, every step
        // a new batch of its own length, from seq / 4 to seq in steps of 8 (the same lengths in every process).
        var inputs = Enumerable.Range(0, 4).Select(i => Workload.RandomBatch(model.Config, batch, seq, seed: i)).ToList();
        var lengthDraw = new Random(7);
        var rss = new List<double>();
        var times = new List<double>();
        var faults = new List<long>();
        // The library's guard for the glibc variant (its defaults); the one a mallopt variant names.
        var guard = mallopt is { TrimMargin: { } margin } ? new GlibcHeapGuard(margin) : GlibcHeapGuard.ForThisProcess();
        var trims = new List<int>();
        if (guard is not null) step.BeforeBackward = input => guard.BeforeBackward(input.InputIds.shape[0], input.InputIds.shape[1]);
        if (lockstep) Console.WriteLine("ready");
        for (int i = 0; i < steps; i++)
        {
            // In lockstep the parent says when to take each step (one process at a time, the variants in turn).
            if (lockstep && Console.In.ReadLine() is null) break;
            long before = Machine.MinorFaults();
            if (varied)
            {
                int length = Math.Min(seq, Math.Max(8, lengthDraw.Next(seq / 4, seq + 1) / 8 * 8));
                using var scope = NewDisposeScope();
                times.Add(step.Run(Workload.RandomBatch(model.Config, batch, length, seed: i)));
            }
            else times.Add(step.Run(inputs[i % inputs.Count]));
            // What the allocator's upkeep costs counts in the step.
            var upkeep = Stopwatch.StartNew();
            if (trim) NativeMemory.Trim();
            if (guard?.AfterStep() == true) trims.Add(i + 1);
            times[^1] += upkeep.Elapsed.TotalSeconds;
            faults.Add(Machine.MinorFaults() - before);
            rss.Add(Machine.GiB(Machine.RssBytes()));
            if (lockstep) Console.WriteLine($"stepped {i + 1}");
        }
        var allocator = NativeMemory.Current;
        if (allocator == "glibc")
        {
            var settings = Environment.GetEnvironmentVariable(NativeMemory.AllocatorVariable) == "glibc" ? NativeMemory.GlibcDefaults : mallopt;
            allocator += settings is null ? " (untuned)" : $" (mallopt {settings})";
            allocator += (trim ? " + malloc_trim" : "")
                + string.Concat(new[] { "MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES" }
                    .Where(v => Environment.GetEnvironmentVariable(v) is not null)
                    .Select(v => $" + {v}={Environment.GetEnvironmentVariable(v)}"));
        }
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["allocator"] = allocator,
            ["rss_gib"] = rss,
            ["step_seconds"] = times,
            ["minor_faults"] = faults,
            ["trimmed_after_steps"] = trims,
            ["backward_trims"] = guard?.BackwardTrims,
            ["peak_rss_gib"] = Machine.GiB(Machine.PeakRssBytes()),
            ["milestones_gib"] = milestones,
            ["heap"] = allocator.StartsWith("glibc", StringComparison.Ordinal) ? GlibcHeap() : null,
        }));
    }

    /// <summary>glibc's own account of its heap at the end (mallinfo2), GiB: what the arenas hold, mapped blocks, in use, free.</summary>
    private static Dictionary<string, double>? GlibcHeap()
    {
        try
        {
            var m = mallinfo2();
            return new()
            {
                ["arenas"] = Machine.GiB((long)m.Arena), ["mapped_blocks"] = Machine.GiB((long)m.Hblkhd),
                ["in_use"] = Machine.GiB((long)m.Uordblks), ["free_in_arenas"] = Machine.GiB((long)m.Fordblks),
                ["releasable_at_top"] = Machine.GiB((long)m.Keepcost),
            };
        }
        catch (EntryPointNotFoundException) { return null; }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc")]
    private static extern MallInfo2 mallinfo2();

    private static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);

    internal static JsonElement? RunChild(IEnumerable<string> args, IReadOnlyDictionary<string, string> env)
    {
        using var process = StartChild(args, env, stdin: false);
        string? last = null;
        while (process.StandardOutput.ReadLine() is { } line) last = line;
        process.WaitForExit();
        if (process.ExitCode != 0 || last is null || !last.StartsWith('{')) return null;
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    /// <summary>Reads the child's output up to a line that starts with <paramref name="prefix"/>; null at its end.</summary>
    private static string? ReadUntil(Process process, string prefix)
    {
        while (process.StandardOutput.ReadLine() is { } line)
            if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
        return null;
    }

    private static Process StartChild(IEnumerable<string> args, IReadOnlyDictionary<string, string> env, bool stdin)
    {
        var (file, prefix) = Machine.SelfCommand();
        var psi = new ProcessStartInfo(file, [.. prefix, .. args, "--results", "none"]) { RedirectStandardOutput = true, RedirectStandardInput = stdin };
        // The child starts from this process's environment minus what chose this process's allocator.
        psi.Environment.Remove("LD_PRELOAD");
        psi.Environment.Remove("FINETUNE_REEXEC");
        foreach (var (k, v) in env) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }
}
