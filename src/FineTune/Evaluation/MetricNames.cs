namespace FineTune.Evaluation;

/// <summary>The names metrics are reported under, and which way is better for each.</summary>
public static class MetricNames
{
    public const string Loss = "loss";

    public const string Accuracy = "accuracy";
    public const string PrecisionMacro = "precision_macro";
    public const string RecallMacro = "recall_macro";
    public const string F1Macro = "f1_macro";
    public const string PrecisionMicro = "precision_micro";
    public const string RecallMicro = "recall_micro";
    public const string F1Micro = "f1_micro";
    public const string PrecisionWeighted = "precision_weighted";
    public const string RecallWeighted = "recall_weighted";
    public const string F1Weighted = "f1_weighted";
    public const string Mcc = "mcc";
    /// <summary>Two classes: precision, recall and F1 of the positive class, the second label (GLUE's MRPC F1).</summary>
    public const string Precision = "precision";
    public const string Recall = "recall";
    public const string F1 = "f1";

    /// <summary>Expected calibration error of the predicted class's probability (15 equal-width bins), with the model's temperature.</summary>
    public const string Ece = "ece";
    /// <summary>The expected calibration error without the model's temperature (reported when it has one).</summary>
    public const string EceUncalibrated = "ece_uncalibrated";

    public const string SubsetAccuracy = "subset_accuracy";
    public const string HammingLoss = "hamming_loss";

    public const string Mse = "mse";
    public const string Mae = "mae";
    public const string Rmse = "rmse";
    public const string R2 = "r2";
    public const string Pearson = "pearson";
    public const string Spearman = "spearman";

    private static readonly HashSet<string> LowerIsBetter = new(StringComparer.Ordinal) { Loss, Mse, Mae, Rmse, HammingLoss, Ece, EceUncalibrated };

    private static readonly string[] SplitPrefixes = ["eval_", "validation_", "test_", "train_"];

    /// <summary>
    /// Whether a larger value of the metric is better (for early stopping and picking the best checkpoint).
    /// Losses and errors (loss, mse, mae, rmse, hamming_loss, ece, ece_uncalibrated) are better lower; every other metric, including ones
    /// this class does not list, is taken as better higher. A split prefix ("eval_loss", "validation/loss") is ignored.
    /// </summary>
    public static bool HigherIsBetter(string metric)
    {
        ArgumentException.ThrowIfNullOrEmpty(metric);
        var name = metric[(metric.LastIndexOf('/') + 1)..];
        foreach (var prefix in SplitPrefixes)
            if (name.StartsWith(prefix, StringComparison.Ordinal) && !LowerIsBetter.Contains(name))
            {
                name = name[prefix.Length..];
                break;
            }
        return !LowerIsBetter.Contains(name);
    }

    /// <summary>True when <paramref name="candidate"/> is strictly better than <paramref name="best"/> for the metric.</summary>
    public static bool IsImprovement(string metric, double candidate, double best) =>
        HigherIsBetter(metric) ? candidate > best : candidate < best;
}
