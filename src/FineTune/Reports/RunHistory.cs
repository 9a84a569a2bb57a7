namespace FineTune.Reports;

/// <summary>A named series of (step, value) points from a run's log history.</summary>
internal sealed record HistorySeries(string Name, double[] Steps, double[] Values)
{
    public bool IsEmpty => Steps.Length == 0;
}

/// <summary>
/// Reads a run's log history: training entries (loss, learning_rate, grad_norm, …) and evaluation entries (every key
/// prefixed with "eval_"), each at its "step" (or its position when an entry has none).
/// </summary>
internal static class RunHistory
{
    public const string EvalPrefix = "eval_";

    public static bool IsEval(IReadOnlyDictionary<string, double> entry) =>
        entry.Keys.Any(k => k.StartsWith(EvalPrefix, StringComparison.Ordinal));

    /// <summary>A value logged by training entries (e.g. "loss", "learning_rate") over the steps.</summary>
    public static HistorySeries Train(RunRecord record, string key) => Series(record, key, key, eval: false);

    /// <summary>A validation metric (a bare name such as "accuracy") over the steps.</summary>
    public static HistorySeries Eval(RunRecord record, string metric) => Series(record, metric, EvalPrefix + metric, eval: true);

    /// <summary>The validation metrics logged, by bare name, in the order they first appear.</summary>
    public static IReadOnlyList<string> EvalMetricNames(RunRecord record)
    {
        var names = new List<string>();
        foreach (var entry in record.LogHistory)
            foreach (var key in entry.Keys)
                if (key.StartsWith(EvalPrefix, StringComparison.Ordinal) && !names.Contains(key[EvalPrefix.Length..]))
                    names.Add(key[EvalPrefix.Length..]);
        return names;
    }

    public static IReadOnlyList<IReadOnlyDictionary<string, double>> EvalEntries(RunRecord record) =>
        record.LogHistory.Where(IsEval).ToList();

    /// <summary>The metric that picked the best model, as a bare name ("accuracy", not "eval_accuracy"); null when none.</summary>
    public static string? BestMetric(RunRecord record) =>
        string.IsNullOrEmpty(record.MetricForBest) ? null
        : record.MetricForBest.StartsWith(EvalPrefix, StringComparison.Ordinal) ? record.MetricForBest[EvalPrefix.Length..]
        : record.MetricForBest;

    public static double StepOf(IReadOnlyDictionary<string, double> entry, int position) =>
        entry.TryGetValue("step", out var step) ? step : position + 1;

    private static HistorySeries Series(RunRecord record, string name, string key, bool eval)
    {
        var steps = new List<double>();
        var values = new List<double>();
        for (int i = 0; i < record.LogHistory.Count; i++)
        {
            var entry = record.LogHistory[i];
            if (IsEval(entry) != eval || !entry.TryGetValue(key, out var value) || !double.IsFinite(value)) continue;
            steps.Add(StepOf(entry, i));
            values.Add(value);
        }
        return new HistorySeries(name, steps.ToArray(), values.ToArray());
    }
}
