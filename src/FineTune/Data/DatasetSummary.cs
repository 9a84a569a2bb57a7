using System.Globalization;
using System.Text;

namespace FineTune.Data;

/// <summary>Minimum, maximum and mean of regression targets.</summary>
public sealed record ValueStatistics(double Min, double Max, double Mean);

/// <summary>Invalid rows that were skipped in one file: how many, and the first few reasons (file:row: column: why).</summary>
public sealed record SkippedRows(string File, int Count, IReadOnlyList<string> FirstReasons);

/// <summary>
/// One split: its size and its labels. For classification <see cref="LabelCounts"/> has every label of the map,
/// in id order, with the number of examples (multi-label: the number of examples that carry the label); for
/// regression <see cref="Values"/> describes the targets. <see cref="Truncated"/> is filled in once the examples
/// are tokenized: how many were cut to the maximum sequence length.
/// </summary>
public sealed record SplitSummary(string Name, int Count, IReadOnlyDictionary<string, int> LabelCounts, ValueStatistics? Values)
{
    public int? Truncated { get; init; }

    public static SplitSummary Of(string name, IReadOnlyList<TextExample> examples, LabelMap? labels)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        ValueStatistics? values = null;
        if (labels is not null)
        {
            var perId = new int[labels.Count];
            foreach (var e in examples)
            {
                switch (e.Label)
                {
                    case ClassLabel c: perId[c.Id]++; break;
                    case MultiLabelTargets m:
                        foreach (var id in m.PositiveIds()) perId[id]++;
                        break;
                }
            }
            for (var i = 0; i < perId.Length; i++) counts[labels[i]] = perId[i];
        }
        var targets = examples.Select(e => e.Label).OfType<RegressionTarget>().Select(r => (double)r.Value).ToArray();
        if (targets.Length > 0)
            values = new ValueStatistics(targets.Min(), targets.Max(), targets.Average());
        return new SplitSummary(name, examples.Count, counts, values);
    }
}

/// <summary>
/// What was loaded: the task (its name), the labels, each split's size and label distribution, and skipped rows.
/// <see cref="Unit"/> names what a row is, in messages: rows, sentences, questions.
/// </summary>
public sealed record DatasetSummary(string Task, LabelMap? Labels, IReadOnlyList<SplitSummary> Splits, IReadOnlyList<SkippedRows> Skipped)
{
    /// <summary>What the invalid rows of a file are called in messages (rows, sentences, questions).</summary>
    public string Unit { get; init; } = "rows";

    /// <summary>The split of that name ("train", "validation", "test"), or null.</summary>
    public SplitSummary? this[string name] => Splits.FirstOrDefault(s => s.Name == name);

    public int SkippedCount => Skipped.Sum(s => s.Count);

    /// <summary>What about the data may keep a model from learning (e.g. classes with a single example), one sentence each.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>A copy with the number of truncated examples of one split set.</summary>
    public DatasetSummary WithTruncated(string split, int truncated)
    {
        if (this[split] is null) throw new ArgumentException($"no split named '{split}'", nameof(split));
        return this with { Splits = Splits.Select(s => s.Name == split ? s with { Truncated = truncated } : s).ToArray() };
    }

    /// <summary>A few lines for a person to read.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        var head = new List<string>();
        if (Task.Length > 0) head.Add($"task: {Task}");
        if (Labels is not null) head.Add(string.Create(inv, $"{Labels.Count} labels"));
        if (head.Count > 0) sb.AppendLine(string.Join(", ", head));
        foreach (var s in Splits)
        {
            sb.Append(inv, $"{s.Name}: {s.Count} examples");
            if (s.LabelCounts.Count > 0)
                sb.Append(" (").Append(string.Join(", ", s.LabelCounts.Select(kv => $"{kv.Key}: {kv.Value}"))).Append(')');
            if (s.Values is { } v)
                sb.Append(inv, $" (min {v.Min:0.###}, max {v.Max:0.###}, mean {v.Mean:0.###})");
            if (s.Truncated is { } t)
                sb.Append(inv, $", {t} truncated");
            sb.AppendLine();
        }
        var rows = Unit;
        foreach (var skipped in Skipped.Where(s => s.Count > 0))
        {
            sb.AppendLine(inv, $"{skipped.File}: {skipped.Count} invalid {rows} skipped, for example:");
            foreach (var reason in skipped.FirstReasons) sb.Append("  ").AppendLine(reason);
        }
        return sb.ToString();
    }
}
