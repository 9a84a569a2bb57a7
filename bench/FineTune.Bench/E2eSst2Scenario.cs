using System.Diagnostics;
using System.Text.Json;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Runtime;
using FineTune.Text;
using FineTune.Training;

namespace FineTune.Bench;

/// <summary>
/// e2e-sst2: fine-tune all-MiniLM-L6-v2 on the first N rows of SST-2's training file for one epoch through the
/// library's real path (FineTuner.Train: read, tokenize, batch, train, evaluate on dev) with its defaults; then the
/// PyTorch-eager peer (bench/peer/bert_peer.py) on the same rows, tokenized by us, with Hugging Face's default recipe.
/// examples/s is training examples over the training loop's time (first step to last step) on both sides.
/// </summary>
internal static class E2eSst2Scenario
{
    public static void Run(BenchArgs args)
    {
        int examples = args.Int("examples", 20_000);
        bool withPeer = args.Flag("vs-pytorch");
        var precisionArg = args.String("precision");
        string peerPrecision = args.String("peer-precision", "bf16");
        string python = args.String("python", "/usr/bin/python3");
        string data = args.String("data", DefaultDataFolder());
        bool skipOurs = args.Flag("peer-only");
        int? threads = args.OptionalInt("threads");
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        int n = TorchSharp.torch.get_num_threads();
        var defaults = new TrainingOptions();
        var precision = PrecisionScopes.Resolve(precisionArg is null ? defaults.Precision : TrainStepScenario.ParsePrecision(precisionArg), TorchSharp.torch.CPU);

        var report = new Report("e2e-sst2");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("threads", n);
        report.Add("examples", examples);
        report.Add("precision", precision.ToString().ToLowerInvariant() + (precisionArg is null ? $" (the default, {defaults.Precision.ToString().ToLowerInvariant()})" : ""));
        report.Add("batch_size", defaults.BatchSize);
        report.Add("learning_rate", defaults.LearningRate);
        report.Add("group_by_length", defaults.GroupByLength);

        string trainFile = Path.Combine(data, "sst2", "train.tsv"), devFile = Path.Combine(data, "sst2", "dev.tsv");
        var work = Directory.CreateTempSubdirectory("finetune-e2e-");
        try
        {
            var datasetOptions = new DatasetOptions
            {
                Columns = new ColumnMapping { Text = "sentence", Label = "label" },
                MaxTrainExamples = examples,
            };
            double ours = double.NaN, oursAccuracy = double.NaN;
            if (!skipOurs)
            {
                var timer = new LoopTimer();
                var clock = Stopwatch.StartNew();
                var result = FineTuner.Train(new FineTuneRequest
                {
                    Model = Workload.ModelName,
                    Data = new DatasetFiles(trainFile, devFile),
                    Dataset = datasetOptions,
                    Training = defaults with { Epochs = 1, Precision = precision },
                    OutputDirectory = Path.Combine(work.FullName, "run"),
                    Threads = threads,
                    Callbacks = [timer],
                });
                double wall = clock.Elapsed.TotalSeconds;
                ours = result.State.ExamplesSeen / timer.LoopSeconds;
                oursAccuracy = result.Validation!["accuracy"];
                report.Add("train_seconds", timer.LoopSeconds);
                report.Add("examples_per_second", ours);
                report.Add("accuracy", oursAccuracy);
                report.Add("run_wall_seconds", wall);
                report.Add("peak_rss_gib", Machine.GiB(Machine.PeakRssBytes()));
            }

            if (withPeer)
            {
                var peer = RunPeer(python, peerPrecision, n, examples, trainFile, devFile, datasetOptions, work.FullName, report, defaults);
                if (peer is { } p)
                {
                    double peerRate = p.GetProperty("examples_per_second").GetDouble();
                    double peerAccuracy = p.GetProperty("accuracy").GetDouble();
                    report.Add("pytorch_precision", peerPrecision);
                    report.Add("pytorch_version", p.GetProperty("torch_version").GetString());
                    report.Add("pytorch_train_seconds", p.GetProperty("train_seconds").GetDouble());
                    report.Add("pytorch_examples_per_second", peerRate);
                    report.Add("pytorch_padding_fraction", p.GetProperty("padding_fraction").GetDouble());
                    report.Add("pytorch_accuracy", peerAccuracy);
                    report.Add("ratio_vs_pytorch", ours / peerRate);
                    report.Add("accuracy_difference_points", (oursAccuracy - peerAccuracy) * 100);
                }
            }
        }
        finally
        {
            try { work.Delete(recursive: true); } catch (IOException) { }
        }
        report.Finish();
    }

    /// <summary>Times the training loop: from the trainer's start to its last optimizer step (evaluation and saving excluded).</summary>
    private sealed class LoopTimer : ITrainerCallback
    {
        private Stopwatch? _clock;
        public double LoopSeconds { get; private set; }
        public void OnTrainBegin(TrainerState state, long totalSteps) => _clock = Stopwatch.StartNew();
        public void OnStep(TrainerState state, StepInfo step) => LoopSeconds = _clock!.Elapsed.TotalSeconds;
    }

    private static JsonElement? RunPeer(string python, string precision, int threads, int examples, string trainFile, string devFile,
        DatasetOptions datasetOptions, string work, Report report, TrainingOptions defaults)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "peer", "bert_peer.py");
        if (!File.Exists(python))
        {
            Console.WriteLine($"peer skipped: no Python at {python} (apt-get install python3-torch libopenblas0-pthread)");
            report.Add("pytorch_skipped", $"no Python at {python}");
            return null;
        }
        var probe = Process.Start(new ProcessStartInfo(python, ["-c", "import torch; print(torch.__version__)"])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        probe.WaitForExit();
        if (probe.ExitCode != 0)
        {
            Console.WriteLine($"peer skipped: {python} cannot import torch (apt-get install python3-torch libopenblas0-pthread)");
            report.Add("pytorch_skipped", "torch is not importable");
            return null;
        }

        // The same rows, tokenized by us, so that both sides train on the same ids.
        var folder = ModelCatalog.Resolve(Workload.ModelName);
        var tokenizer = Tokenizers.FromFolder(folder);
        var dataset = DatasetLoader.Load(new DatasetFiles(trainFile, devFile), datasetOptions, LabelKind.Class);
        string trainJson = Path.Combine(work, "train.jsonl"), devJson = Path.Combine(work, "dev.jsonl");
        WriteTokenized(trainJson, dataset.Train, tokenizer);
        WriteTokenized(devJson, dataset.Validation, tokenizer);

        var psi = new ProcessStartInfo(python, [script, "--model", folder, "--train", trainJson, "--dev", devJson,
            "--labels", dataset.Labels!.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--precision", precision, "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // The same learning rate and warmup as our defaults; the head stays Hugging Face's (pooled [CLS]).
            "--lr", defaults.LearningRate.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            "--warmup-ratio", defaults.WarmupRatio.ToString("R", System.Globalization.CultureInfo.InvariantCulture)])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        // OpenBLAS for this process only (Debian's default libblas.so.3 may be the reference BLAS), the same
        // OpenMP wait policy as ours.
        const string OpenBlas = "/usr/lib/x86_64-linux-gnu/openblas-pthread";
        string blas = "system default libblas.so.3";
        if (Directory.Exists(OpenBlas))
        {
            var existing = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
            psi.Environment["LD_LIBRARY_PATH"] = string.IsNullOrEmpty(existing) ? OpenBlas : OpenBlas + ":" + existing;
            psi.Environment["OPENBLAS_NUM_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
            blas = "OpenBLAS (openblas-pthread)";
        }
        psi.Environment["FINETUNE_PEER_BLAS"] = blas;
        psi.Environment["OMP_WAIT_POLICY"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "PASSIVE";
        psi.Environment["OMP_NUM_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        report.Add("pytorch_blas", blas);
        Console.WriteLine($"peer: {python} {Path.GetFileName(script)} ({examples} examples, {precision}, {blas})");
        using var process = Process.Start(psi)!;
        string? last = null;
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.WriteLine("  peer: " + e.Data); };
        process.BeginErrorReadLine();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            Console.WriteLine("  peer: " + line);
            last = line;
        }
        process.WaitForExit();
        if (process.ExitCode != 0 || last is null || !last.StartsWith('{'))
        {
            report.Add("pytorch_skipped", $"the peer failed (exit code {process.ExitCode})");
            return null;
        }
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    private static void WriteTokenized(string path, IReadOnlyList<TextExample> examples, ITokenizer tokenizer)
    {
        int maxLength = FineTuner.Tasks.Single(t => t.Name == "classification").DefaultMaxLength;
        var encodings = tokenizer.EncodeBatch(examples.Select(e => (e.Text, e.TextPair)).ToList(), EncodeOptions.Truncate(maxLength));
        using var writer = new StreamWriter(path);
        for (int i = 0; i < examples.Count; i++)
            writer.WriteLine(JsonSerializer.Serialize(new { ids = encodings[i].Ids, label = examples[i].ClassId }));
    }

    internal static string DefaultDataFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data");
            if (Directory.Exists(Path.Combine(candidate, "sst2"))) return candidate;
        }
        return "/work/shared/data";
    }
}
