using System.CommandLine;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;
using FineTune.Training;

namespace FineTune.Cli.Commands;

/// <summary>`finetune evaluate`: the metrics of a fine-tuned model on a labelled file.</summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var model = new Option<string>("--model", "-m") { Description = "The fine-tuned model folder (RUN/model).", Required = true };
        var file = new Option<string>("--data") { Description = "A labelled file with the same columns as the training data.", Required = true };
        var output = new Option<string?>("--output", "-o") { Description = "A folder for metrics.json and predictions.csv (optional)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Texts per batch.", DefaultValueFactory = _ => 64 };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per text (default: the model's limit; use the training value to compare)." };
        var threshold = new Option<double?>("--threshold") { Description = "Multi-label: probability from which a label is predicted (default: the one the model was trained with, else 0.5)." };
        var device = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N with a CUDA build of libtorch.", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch." };
        var precision = new Option<string>("--precision") { Description = "fp32 or bf16.", DefaultValueFactory = _ => "fp32" };
        var command = new Command("evaluate", """
            Evaluate a fine-tuned model on a labelled file: accuracy, precision/recall/F1, MCC (classification), F1 and subset accuracy (multi-label), MSE/MAE/R²/Pearson/Spearman (regression).
            Example: finetune evaluate --model runs/spam/model --data holdout.csv --output runs/spam/holdout
            """) { model, file, output, batchSize, maxLength, threshold, device, threads, precision };
        foreach (var o in data.All) command.Options.Add(o);
        command.SetAction(p =>
        {
            Runtime.TorchRuntime.SetThreads(p.GetValue(threads));
            using var classifier = TextClassifier.Load(p.GetValue(model)!, p.GetValue(device)!, TrainCommand.ParseEnum<Precision>(p.GetValue(precision)!, "--precision"));
            classifier.BatchSize = p.GetValue(batchSize);
            classifier.MaxLength = p.GetValue(maxLength) ?? classifier.MaxLength;
            classifier.Threshold = p.GetValue(threshold) ?? classifier.Threshold;
            var path = p.GetValue(file)!;
            var (result, examples, truncated) = classifier.Evaluate(path, data.Mapping(p), data.FileOptions(p), p.GetValue(data.LabelSeparator)!, p.GetValue(data.SkipInvalidRows));
            Console.WriteLine($"{examples.Count} examples from {path}{(truncated > 0 ? $" ({truncated} truncated to {classifier.MaxLength} tokens)" : "")}");
            TrainCommand.PrintMetrics("metrics", result.Metrics);
            if (result.Accumulator is ClassificationMetrics cm)
            {
                Console.WriteLine("per class:");
                foreach (var c in cm.PerClass())
                    Console.WriteLine($"  {c.Label,-20} precision {c.Precision:0.0000}  recall {c.Recall:0.0000}  f1 {c.F1:0.0000}  support {c.Support}");
            }
            if (p.GetValue(output) is { } dir)
            {
                Directory.CreateDirectory(dir);
                RunFiles.WriteJsonAtomically(Path.Combine(dir, "metrics.json"), new Dictionary<string, object> { ["test"] = result.Metrics, ["data"] = Path.GetFullPath(path) });
                PredictionsCsv.Write(Path.Combine(dir, "predictions.csv"), examples, result.Predictions!, classifier.Labels, classifier.Task);
                Console.WriteLine($"Wrote {Path.Combine(dir, "metrics.json")} and predictions.csv");
            }
            return 0;
        });
        return command;
    }
}
