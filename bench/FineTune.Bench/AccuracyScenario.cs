using System.Diagnostics;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Runtime;
using FineTune.Training;

namespace FineTune.Bench;

/// <summary>
/// accuracy: the same fine-tuning run (FineTuner.Train, library defaults, the same seed) in each precision, and the
/// dev-set metric of each: whether bf16 autocast holds the accuracy of fp32. Tasks: sst2 (accuracy, the first N rows
/// of the training file) and stsb (Pearson and Spearman, in points).
/// </summary>
internal static class AccuracyScenario
{
    public static void Run(BenchArgs args)
    {
        string task = args.String("task", "sst2");
        int? examples = args.OptionalInt("examples") ?? (task == "sst2" ? 8000 : null);
        int epochs = args.Int("epochs", new TrainingOptions().Epochs);
        int seed = args.Int("seed", new TrainingOptions().Seed);
        var precisions = args.Strings("precision", "fp32", "bf16").Select(TrainStepScenario.ParsePrecision).ToList();
        string data = args.String("data", "/work/shared/data");
        int? threads = args.OptionalInt("threads");
        KernelSwitches.Apply(args);
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);

        var report = new Report("accuracy");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("task", task);
        report.Add("examples", examples);
        report.Add("epochs", epochs);
        report.Add("seed", seed);
        KernelSwitches.Describe(report);
        var (files, taskName, options, metric) = task switch
        {
            "sst2" => (new DatasetFiles(Path.Combine(data, "sst2", "train.tsv"), Path.Combine(data, "sst2", "dev.tsv")),
                "classification", new DatasetOptions { Columns = new ColumnMapping { Text = "sentence", Label = "label" }, MaxTrainExamples = examples },
                "accuracy"),
            "stsb" => (new DatasetFiles(Path.Combine(data, "stsb", "train.tsv"), Path.Combine(data, "stsb", "dev.tsv")),
                "regression", new DatasetOptions { Columns = new ColumnMapping { Text = "sentence1", TextPair = "sentence2", Label = "score" }, MaxTrainExamples = examples },
                "pearson"),
            _ => throw new ArgumentException($"--task: sst2 or stsb, got '{task}'"),
        };
        var rows = new List<IReadOnlyList<object?>>();
        var values = new Dictionary<Precision, IReadOnlyDictionary<string, double>>();
        foreach (var precision in precisions)
        {
            var work = Directory.CreateTempSubdirectory("finetune-accuracy-");
            try
            {
                var clock = Stopwatch.StartNew();
                var result = FineTuner.Train(new FineTuneRequest
                {
                    Model = Workload.ModelName,
                    Task = taskName,
                    Data = files,
                    Dataset = options,
                    Kernels = KernelSwitches.Current,
                    Training = new TrainingOptions { Epochs = epochs, Seed = seed, Precision = precision },
                    OutputDirectory = Path.Combine(work.FullName, "run"),
                    Threads = threads,
                });
                var m = result.Validation!;
                values[precision] = m;
                string name = precision.ToString().ToLowerInvariant();
                Console.WriteLine($"{name}: {string.Join(", ", m.Where(kv => kv.Key is "accuracy" or "pearson" or "spearman" or "f1" or "loss").Select(kv => $"{kv.Key} {kv.Value:0.0000}"))} ({clock.Elapsed.TotalSeconds:0} s)");
                rows.Add([name, m[metric] * 100, m.TryGetValue("spearman", out var sp) ? sp * 100 : double.NaN, m.TryGetValue("loss", out var l) ? l : double.NaN, clock.Elapsed.TotalSeconds]);
                report.Json(name, m);
            }
            finally
            {
                try { work.Delete(recursive: true); } catch (IOException) { }
            }
        }
        report.Table($"dev-set {metric} (points) per precision", ["precision", metric, "spearman", "loss", "seconds"], rows);
        if (values.ContainsKey(Precision.Fp32) && values.ContainsKey(Precision.Bf16))
        {
            report.Add($"{metric}_fp32", values[Precision.Fp32][metric] * 100);
            report.Add($"{metric}_bf16", values[Precision.Bf16][metric] * 100);
            report.Add("bf16_minus_fp32_points", (values[Precision.Bf16][metric] - values[Precision.Fp32][metric]) * 100);
        }
        report.Finish();
    }
}
