using System.CommandLine;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;
using FineTune.Training;

namespace FineTune.Cli.Commands;

/// <summary>
/// `finetune evaluate`: the metrics of a fine-tuned model on a labelled file. The task comes from the model folder:
/// sequence models read columns (--text-column, --label-column ...), NER models CoNLL or JSONL, QA models SQuAD.
/// </summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var tokenTasks = new TokenTaskOptions();
        var model = new Option<string>("--model", "-m") { Description = "The fine-tuned model folder (RUN/model).", Required = true };
        var file = new Option<string>("--data") { Description = "A labelled file like the training data: the same columns; NER: CoNLL columns or JSONL; QA: SQuAD JSON or JSONL with answers.", Required = true };
        var output = new Option<string?>("--output", "-o") { Description = "A folder for metrics.json and predictions.csv (QA: also predictions.json) (optional)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Model inputs per forward pass (texts; NER: sentences; QA: windows).", DefaultValueFactory = _ => 64 };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per input (default: the length the model was trained with, so the scores match the run's; QA: per window)." };
        var threshold = new Option<double?>("--threshold") { Description = "Multi-label: probability from which a label is predicted (default: the one the model was trained with, else 0.5)." };
        var device = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N with a CUDA build of libtorch.", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch." };
        var precision = new Option<string>("--precision") { Description = "fp32 or bf16.", DefaultValueFactory = _ => "fp32" };
        var command = new Command("evaluate", """
            Evaluate a fine-tuned model on a labelled file: accuracy, precision/recall/F1, MCC (classification), F1 and subset accuracy (multi-label), MSE/MAE/R²/Pearson/Spearman (regression),
            entity precision/recall/F1 per type and token accuracy (NER), exact match and F1 (QA).
            Example: finetune evaluate --model runs/spam/model --data holdout.csv --output runs/spam/holdout
            NER:     finetune evaluate --model runs/conll/model --data eng.testb --output runs/conll/testb
            QA:      finetune evaluate --model runs/squad/model --data xquad.en.json --output runs/squad/xquad
            """) { model, file, output, batchSize, maxLength, threshold, device, threads, precision };
        foreach (var o in data.All) command.Options.Add(o);
        foreach (var o in tokenTasks.Evaluation) command.Options.Add(o);
        command.SetAction(p =>
        {
            var folder = p.GetValue(model)!;
            var path = p.GetValue(file)!;
            var runPrecision = TrainCommand.ParseEnum<Precision>(p.GetValue(precision)!, "--precision");
            var task = Directory.Exists(folder) && File.Exists(Path.Combine(folder, "config.json")) ? ModelTask.Detect(folder) : null;
            if (task == TaskKind.TokenClassification)
            {
                var column = p.GetValue(tokenTasks.TagColumn);
                if (column < 0) throw new FineTuneException($"--tag-column: must be 0 or more (0-based), got {column}");
                return EvaluateTokenTasks.EvaluateEntities(folder, path, p.GetValue(output), new EntityPredictorOptions
                {
                    Device = p.GetValue(device)!, Threads = p.GetValue(threads), BatchSize = p.GetValue(batchSize), Precision = runPrecision, MaxLength = p.GetValue(maxLength),
                }, new EntityEvaluationOptions { TagColumn = column, Scheme = tokenTasks.Scheme(p), SkipInvalidRows = p.GetValue(data.SkipInvalidRows) });
            }
            if (task == TaskKind.QuestionAnswering)
            {
                var qa = tokenTasks.QuestionAnswering(p, p.GetValue(maxLength));
                return EvaluateTokenTasks.EvaluateAnswers(folder, path, p.GetValue(output), new AnswerPredictorOptions
                {
                    Device = p.GetValue(device)!, Threads = p.GetValue(threads), BatchSize = p.GetValue(batchSize), Precision = runPrecision,
                    MaxLength = p.GetValue(maxLength), DocStride = p.GetValue(tokenTasks.DocStride), NBest = qa.NBest, MaxAnswerLength = qa.MaxAnswerLength,
                }, p.GetValue(data.SkipInvalidRows));
            }
            Runtime.TorchRuntime.SetThreads(p.GetValue(threads));
            using var classifier = TextClassifier.Load(folder, p.GetValue(device)!, runPrecision);
            classifier.BatchSize = p.GetValue(batchSize);
            classifier.MaxLength = p.GetValue(maxLength) ?? classifier.MaxLength;
            classifier.Threshold = p.GetValue(threshold) ?? classifier.Threshold;
            var (result, examples, truncated, skipped) = classifier.Evaluate(path, data.Mapping(p), data.FileOptions(p), p.GetValue(data.LabelSeparator)!, p.GetValue(data.SkipInvalidRows));
            Console.WriteLine($"{examples.Count} examples from {path}{(truncated > 0 ? $" ({truncated} truncated to {classifier.MaxLength} tokens)" : "")}");
            if (skipped.Count > 0)
            {
                Console.WriteLine($"{skipped.Count} invalid rows skipped; the first:");
                foreach (var reason in skipped.FirstReasons) Console.WriteLine("  " + reason);
            }
            TrainCommand.PrintMetrics("test", result.Metrics);
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
