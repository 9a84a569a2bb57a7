using FineTune.Configuration;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// allreduce: run under mpirun (<c>mpirun -np 2 FineTune.Bench allreduce</c>). The time of summing a float buffer over
/// the ranks, per size, as the trainer sums its gradients (MPI_Iallreduce polled against a deadline, in buckets of
/// <see cref="DataParallel.BucketElements"/>) and with MPI's blocking MPI_Allreduce, medians of repeated calls,
/// alternating the two; algorithm bandwidth (bytes / time) and bus bandwidth (× 2(N−1)/N: what each rank sends and
/// receives in a ring). The last rows are the whole gradient of all-MiniLM-L6-v2 and of a base-size BERT.
/// </summary>
internal static class AllReduceScenario
{
    public static void Run(BenchArgs args)
    {
        var sizes = args.Ints("sizes-kib", 4, 64, 1024, 16384).Select(k => (long)k * 256).ToList();   // floats
        int reps = args.Int("reps", 9), warmup = args.Int("warmup", 2);
        args.CheckAllUsed();
        using var world = MpiCommunicator.OpenWorld(TimeSpan.FromSeconds(600));
        var report = new Report("allreduce");
        report.Add("ranks", world.Size);
        report.Add("load_average_start", Machine.LoadAverage());
        foreach (var (name, parameters) in new[] { ("all-MiniLM-L6-v2", Parameters(MiniLm)), ("bert-base", Parameters(BertBase)) })
            sizes.Add(parameters);
        var rows = new List<IReadOnlyList<object?>>();
        double busFactor = 2.0 * (world.Size - 1) / world.Size;
        foreach (var count in sizes)
        {
            using var buffer = ones(count);
            var polled = new List<double>();
            var blocking = new List<double>();
            unsafe
            {
                var data = (float*)NativeTensor.DataPointer(buffer);
                void Polled()
                {
                    for (long o = 0; o < count; o += DataParallel.BucketElements)
                        world.AllReduceSum(data + o, Math.Min(DataParallel.BucketElements, count - o), "the benchmark");
                }
                void Blocking()
                {
                    for (long o = 0; o < count; o += DataParallel.BucketElements)
                        world.AllReduceSumBlocking(data + o, Math.Min(DataParallel.BucketElements, count - o));
                }
                for (int i = 0; i < warmup; i++) { Polled(); Blocking(); }
                for (int i = 0; i < reps; i++)
                {
                    // Alternating the order, so that neither always runs first.
                    if (i % 2 == 0) { polled.Add(Time(Polled)); blocking.Add(Time(Blocking)); }
                    else { blocking.Add(Time(Blocking)); polled.Add(Time(Polled)); }
                }
            }
            double bytes = count * 4.0, tp = Stats.Median(polled), tb = Stats.Median(blocking);
            rows.Add([Label(count), bytes / 1e6, tp * 1e3, bytes / tp / 1e9, busFactor * bytes / tp / 1e9, tb * 1e3, busFactor * bytes / tb / 1e9]);
        }
        if (world.Rank != 0) return;
        report.Table($"all-reduce (sum, fp32) over {world.Size} ranks on this machine, medians of {reps}",
            ["buffer", "MB", "polled_ms", "algbw_GB/s", "busbw_GB/s", "blocking_ms", "blocking_busbw_GB/s"], rows, "rows");
        report.Finish();
    }

    private static string Label(long floats) =>
        floats == Parameters(MiniLm) ? "MiniLM grads" : floats == Parameters(BertBase) ? "base grads" : $"{floats * 4 / 1024} KiB";

    private static double Time(Action action)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>all-MiniLM-L6-v2's shape (with a 2-class head).</summary>
    public static EncoderConfig MiniLm { get; } = new()
    {
        ModelType = "bert", VocabSize = 30522, HiddenSize = 384, NumHiddenLayers = 6, NumAttentionHeads = 12, IntermediateSize = 1536,
        MaxPositionEmbeddings = 512, TypeVocabSize = 2,
    };

    /// <summary>BERT-base's shape (110 M parameters, with a 2-class head).</summary>
    public static EncoderConfig BertBase { get; } = MiniLm with { HiddenSize = 768, NumHiddenLayers = 12, IntermediateSize = 3072 };

    /// <summary>The trainable values of a sequence classifier of <paramref name="c"/> with 2 labels (the pooler unused by mean pooling is counted).</summary>
    public static long Parameters(EncoderConfig c)
    {
        long h = c.HiddenSize, i = c.IntermediateSize;
        long embeddings = (c.VocabSize + c.MaxPositionEmbeddings + c.TypeVocabSize) * h + 2 * h;
        long layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h;
        long pooler = h * h + h, head = 2 * h + 2;
        return embeddings + c.NumHiddenLayers * layer + pooler + head;
    }
}

/// <summary>
/// scaling: a model of data-parallel training over N machines, from times measured here. Per model (all-MiniLM-L6-v2
/// and a base-size BERT, random weights: the time does not depend on them) it measures one training step on this
/// machine (forward, backward, optimizer of the fastest of <c>--reps</c> steps; <c>--batch</c> examples of <c>--seq</c> tokens per machine), counts the
/// gradient bytes a step sums, and models a ring all-reduce of them over N machines on a link of B Gbit/s:
/// 2(N−1)/N × bytes / B + 2(N−1) × latency per bucket. Efficiency = step / (step + all-reduce) without overlap, and
/// step / (forward + max(backward, all-reduce) + optimizer) with the all-reduce hidden behind the backward pass.
/// </summary>
internal static class ScalingScenario
{
    public static void Run(BenchArgs args)
    {
        int batch = args.Int("batch", 32), seq = args.Int("seq", 128), reps = args.Int("reps", 3), warmup = args.Int("warmup", 1);
        var machines = args.Ints("machines", 2, 4, 8);
        var links = args.Ints("gbits", 10, 25);
        double latency = args.Int("latency-us", 50) * 1e-6;
        int? threads = args.OptionalInt("threads");
        var models = args.Strings("models", "minilm", "base");
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        var report = new Report("scaling");
        report.Add("threads", torch.get_num_threads());
        report.Add("batch_per_machine", batch);
        report.Add("seq", seq);
        report.Add("latency_us_assumed", latency * 1e6);
        report.Add("load_average_start", Machine.LoadAverage());
        var measured = new List<IReadOnlyList<object?>>();
        var modelled = new List<IReadOnlyList<object?>>();
        foreach (var name in models)
        {
            var config = (name == "base" ? AllReduceScenario.BertBase : AllReduceScenario.MiniLm).WithLabels(["negative", "positive"], "single_label_classification");
            random.manual_seed(1);
            using var model = TaskModels.SequenceClassifier(config, 2, KernelSwitches.Current);
            long parameters = model.parameters().Sum(p => p.NumberOfElements);
            using var step = new TrainStep(model, Precision.Fp32);
            var inputs = Enumerable.Range(0, 2).Select(i => Workload.RandomBatch(config, batch, seq, seed: i)).ToList();
            for (int i = 0; i < warmup; i++) step.Run(inputs[i % inputs.Count]);
            var (total, fwd, bwd, opt) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
            for (int i = 0; i < reps; i++)
            {
                total.Add(step.Run(inputs[i % inputs.Count]));
                fwd.Add(step.ForwardSeconds); bwd.Add(step.BackwardSeconds); opt.Add(step.OptimizerSeconds);
            }
            // The fastest step: on a shared machine the least disturbed one, and the one that makes communication weigh
            // most (so the efficiencies below are not flattered by a slow step).
            int fastest = total.IndexOf(total.Min());
            double t = total[fastest], f = fwd[fastest], b = bwd[fastest], o = opt[fastest];
            double bytes = parameters * 4.0;
            long buckets = (parameters + DataParallel.BucketElements - 1) / DataParallel.BucketElements;
            measured.Add([name, parameters / 1e6, bytes / 1e6, Stats.Median(total), t, f, b, o, batch / t]);
            foreach (var gbit in links)
                foreach (var n in machines)
                {
                    double ring = 2.0 * (n - 1) / n * bytes / (gbit * 1e9 / 8) + 2 * (n - 1) * latency * buckets;
                    double plain = t / (t + ring), overlapped = t / (f + Math.Max(b, ring) + o);
                    modelled.Add([name, gbit, n, 2.0 * (n - 1) / n * bytes / 1e6, ring, t + ring, plain, n * batch / (t + ring), overlapped]);
                }
        }
        report.Table($"one training step on this machine ({torch.get_num_threads()} threads, fp32, batch {batch} × {seq} tokens; {reps} steps, the fastest one's phases)",
            ["model", "params_M", "grad_MB", "median_step_s", "fastest_step_s", "forward_s", "backward_s", "optimizer_s", "examples/s"], measured, "measured");
        report.Table("ring all-reduce over N such machines (each its own batch; bytes sent per machine per step)",
            ["model", "Gbit/s", "N", "sent_MB", "allreduce_s", "step_s", "efficiency", "examples/s", "efficiency_overlapped"], modelled, "modelled");
        report.Finish();
    }
}

/// <summary>
/// data-parallel-sst2: the same fine-tuning run of all-MiniLM-L6-v2 on the first N rows of SST-2 (one epoch, the
/// defaults, evaluated on the 872 dev sentences) as 2 ranks × 1 thread (<c>mpirun -np 2 finetune train ...
/// --distributed mpi --threads 1</c>) and as 1 process × 2 threads, alternating which goes first in each round;
/// training examples/s (the rows over the training loop's seconds in run.json) and dev accuracy per run, medians,
/// and the ratio. Each run is its own process, as a user starts it.
/// </summary>
internal static class DataParallelSst2Scenario
{
    public static void Run(BenchArgs args)
    {
        int examples = args.Int("examples", 3000), rounds = args.Int("rounds", 3);
        string data = args.String("data", E2eSst2Scenario.DefaultDataFolder());
        string precision = args.String("precision", "fp32");
        args.CheckAllUsed();
        var cli = FindCli();
        var report = new Report("data-parallel-sst2");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("examples", examples);
        report.Add("precision", precision);
        var work = Directory.CreateTempSubdirectory("finetune-dp-");
        var rows = new List<IReadOnlyList<object?>>();
        var speed = new Dictionary<string, List<double>> { ["2 ranks x 1 thread"] = [], ["1 rank x 2 threads"] = [] };
        var accuracy = new Dictionary<string, List<double>> { ["2 ranks x 1 thread"] = [], ["1 rank x 2 threads"] = [] };
        try
        {
            for (int round = 0; round < rounds; round++)
            {
                var order = round % 2 == 0 ? speed.Keys.ToArray() : speed.Keys.Reverse().ToArray();
                foreach (var setup in order)
                {
                    bool ranks = setup.StartsWith('2');
                    var output = Path.Combine(work.FullName, $"run-{round}-{(ranks ? "ranks" : "threads")}");
                    List<string> train =
                    [
                        "train", "--data", Path.Combine(data, "sst2", "train.tsv"), "--validation", Path.Combine(data, "sst2", "dev.tsv"),
                        "--text-column", "sentence", "--max-train-examples", examples.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        "--epochs", "1", "--precision", precision, "--eval-strategy", "no", "--save-strategy", "no", "--output", output,
                        "--threads", ranks ? "1" : "2",
                    ];
                    var start = new System.Diagnostics.ProcessStartInfo(ranks ? "mpirun" : cli) { RedirectStandardOutput = true, RedirectStandardError = true };
                    foreach (var a in ranks ? ["-np", "2", "--bind-to", "none", cli, .. train, "--distributed", "mpi"] : train) start.ArgumentList.Add(a);
                    start.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
                    start.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
                    using var process = System.Diagnostics.Process.Start(start)!;
                    var stdout = process.StandardOutput.ReadToEndAsync();
                    var stderr = process.StandardError.ReadToEndAsync();
                    process.WaitForExit();
                    if (process.ExitCode != 0) throw new InvalidOperationException($"{setup} failed:\n{stdout.Result}\n{stderr.Result}");
                    using var run = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "run.json")));
                    using var metrics = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
                    double seconds = run.RootElement.GetProperty("training_seconds").GetDouble();
                    long steps = run.RootElement.GetProperty("global_step").GetInt64();
                    // The trainer logs the mean all-reduce seconds per step of each logging window (ranks only).
                    var reduce = File.ReadLines(Path.Combine(output, "log.jsonl")).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!)
                        .Where(n => n["allreduce_seconds"] is not null).Select(n => (double)n["allreduce_seconds"]!).ToList();
                    double acc = metrics.RootElement.GetProperty("validation").GetProperty("accuracy").GetDouble();
                    speed[setup].Add(examples / seconds);
                    accuracy[setup].Add(acc);
                    rows.Add([round + 1, setup, seconds, examples / seconds, seconds / steps, reduce.Count > 0 ? Stats.Median(reduce) : double.NaN, acc, Machine.LoadAverage()]);
                    Console.WriteLine($"round {round + 1}: {setup}: {examples / seconds:0.0} examples/s, dev accuracy {acc:0.0000}");
                }
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
        report.Table($"SST-2, first {examples} rows, 1 epoch, all-MiniLM-L6-v2 ({precision}); runs in the order they ran",
            ["round", "setup", "train_s", "examples/s", "step_s", "allreduce_s", "dev_accuracy", "load_average"], rows, "runs");
        foreach (var (setup, values) in speed)
        {
            report.Add($"{setup} examples/s (median)", Stats.Median(values));
            report.Add($"{setup} dev accuracy (median)", Stats.Median(accuracy[setup]));
        }
        report.Add("ratio 2 ranks / 1 rank (examples/s, medians)", Stats.Median(speed["2 ranks x 1 thread"]) / Stats.Median(speed["1 rank x 2 threads"]));
        report.Finish();
    }

    /// <summary>The finetune tool of the repository this program was built from (built in Release).</summary>
    private static string FindCli()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var cli = Path.Combine(dir.FullName, "src", "FineTune.Cli", "bin", "Release", "net10.0", "linux-x64", "FineTune.Cli");
            if (File.Exists(cli)) return cli;
        }
        throw new InvalidOperationException("build the tool first: dotnet build src/FineTune.Cli -c Release");
    }
}
