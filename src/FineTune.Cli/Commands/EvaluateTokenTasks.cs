using System.Globalization;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;

namespace FineTune.Cli.Commands;

/// <summary>
/// `finetune evaluate` for token-classification and question-answering models: prints the metrics of a labelled file
/// and, with an output folder, writes metrics.json ({"test": {...}}) and the predictions as a run writes them for
/// its test set (predictions.csv; QA also predictions.json for SQuAD's evaluation script).
/// </summary>
internal static class EvaluateTokenTasks
{
    public static int EvaluateEntities(string modelFolder, string file, string? outputDirectory, EntityPredictorOptions predictor, EntityEvaluationOptions options)
    {
        using var ner = EntityPredictor.Load(modelFolder, predictor);
        var result = ner.Evaluate(file, options);
        var words = result.Examples.Sum(e => (long)e.Words.Count);
        Console.WriteLine($"{result.Examples.Count} sentences ({words} words) from {file}; tags read as {result.FileScheme}{(result.SchemeDetected ? " (detected)" : "")}, scored as {result.ModelScheme} like the model's labels");
        if (result.Truncated > 0)
            Console.WriteLine($"{result.Truncated} sentences are longer than {result.MaxLength} tokens and were truncated (--max-length); their last words are predicted O.");
        PrintSkipped(result.Skipped, "sentences");
        var perType = result.Entities.PerType;
        var perTypeKeys = perType.SelectMany(t => new[] { "precision", "recall", "f1", "support" }.Select(m => $"{t.Type}_{m}")).ToHashSet(StringComparer.Ordinal);
        TrainCommand.PrintMetrics("test", result.Metrics.Where(kv => !perTypeKeys.Contains(kv.Key)).ToDictionary());
        Console.WriteLine("per entity type:");
        foreach (var t in perType)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {t.Type,-20} precision {t.Precision:0.0000}  recall {t.Recall:0.0000}  f1 {t.F1:0.0000}  support {t.Support}"));
        if (outputDirectory is not null)
        {
            WriteMetrics(outputDirectory, file, result.Metrics);
            result.WritePredictions(Path.Combine(outputDirectory, "predictions.csv"));
            Console.WriteLine($"Wrote {Path.Combine(outputDirectory, "metrics.json")} and predictions.csv");
        }
        return 0;
    }

    public static int EvaluateAnswers(string modelFolder, string file, string? outputDirectory, AnswerPredictorOptions predictor, bool skipInvalidRows)
    {
        using var qa = AnswerPredictor.Load(modelFolder, predictor);
        var result = qa.Evaluate(file, skipInvalidRows);
        Console.WriteLine($"{result.Examples.Count} questions from {file} -> {result.Windows} windows of up to {result.MaxLength} tokens; " +
            $"{result.MultiWindow} questions span more than one window (--doc-stride {result.DocStride}).");
        PrintSkipped(result.Skipped, "questions");
        TrainCommand.PrintMetrics("test", result.Metrics);
        if (outputDirectory is not null)
        {
            WriteMetrics(outputDirectory, file, result.Metrics);
            result.WritePredictions(Path.Combine(outputDirectory, "predictions.csv"));
            result.WriteSquadPredictions(Path.Combine(outputDirectory, "predictions.json"));
            Console.WriteLine($"Wrote {Path.Combine(outputDirectory, "metrics.json")}, predictions.csv and predictions.json");
        }
        return 0;
    }

    private static void PrintSkipped(SkippedRows skipped, string what)
    {
        if (skipped.Count == 0) return;
        Console.WriteLine($"{skipped.Count} invalid {what} skipped (--skip-invalid-rows){(skipped.FirstReasons.Count > 0 ? ", for example:" : ".")}");
        foreach (var reason in skipped.FirstReasons) Console.WriteLine("  " + reason);
    }

    private static void WriteMetrics(string directory, string file, IReadOnlyDictionary<string, double> metrics)
    {
        Directory.CreateDirectory(directory);
        RunFiles.WriteJsonAtomically(Path.Combine(directory, "metrics.json"), new Dictionary<string, object> { ["test"] = metrics, ["data"] = Path.GetFullPath(file) });
    }
}
