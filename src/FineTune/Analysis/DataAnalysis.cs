using System.Text.Json.Serialization;

namespace FineTune.Analysis;

/// <summary>
/// One example as the data report sees it, whatever the task: its text (and second text), its labels (one class;
/// several labels; the entity types of a sentence's entities, once per entity; none for a value), and where it is.
/// </summary>
internal sealed record AnalysisExample(string Text, string? TextPair, IReadOnlyList<string> Labels, string SourceFile, long SourceRow)
{
    /// <summary>file:row, as errors name rows.</summary>
    public string Location => $"{Path.GetFileName(SourceFile)}:{SourceRow}";
}

/// <summary>A dataset's splits as the data report reads them, and what its labels are called.</summary>
/// <param name="Splits">train, validation and test, in that order, each only when it has examples.</param>
/// <param name="LabelKind">"label", or "entity type" for a token-classification dataset; null when the task has no labels.</param>
internal sealed record AnalysisData(string Task, IReadOnlyList<(string Name, IReadOnlyList<AnalysisExample> Examples)> Splits, string? LabelKind);

/// <summary>The data report: what <see cref="DataAnalyzer"/> finds in a dataset (analysis.json, and a section of report.html).</summary>
internal sealed record DataAnalysis
{
    [JsonPropertyName("task")] public required string Task { get; init; }
    [JsonPropertyName("label_kind")] public string? LabelKind { get; init; }
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    [JsonPropertyName("splits")] public required IReadOnlyList<SplitProfile> Splits { get; init; }
    /// <summary>The most frequent label's count over the rarest one's, in the training split (null without labels).</summary>
    [JsonPropertyName("imbalance_ratio")] public double? ImbalanceRatio { get; init; }
    [JsonPropertyName("exact_duplicates")] public required IReadOnlyList<DuplicateFinding> ExactDuplicates { get; init; }
    [JsonPropertyName("near_duplicates")] public required IReadOnlyList<DuplicateFinding> NearDuplicates { get; init; }
    [JsonPropertyName("near_duplicate_threshold")] public double NearDuplicateThreshold { get; init; }
    [JsonPropertyName("conflicting_labels")] public ConflictFinding? ConflictingLabels { get; init; }
    [JsonPropertyName("shortcuts")] public IReadOnlyList<ShortcutToken> Shortcuts { get; init; } = [];
    [JsonPropertyName("shortcut_rule")] public string? ShortcutRule { get; init; }
}

/// <summary>One split: its size, label counts, token lengths overall and per label, and how many exceed the max length.</summary>
internal sealed record SplitProfile(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("examples")] int Examples,
    [property: JsonPropertyName("label_counts")] IReadOnlyDictionary<string, int> LabelCounts,
    [property: JsonPropertyName("lengths")] LengthStats Lengths,
    [property: JsonPropertyName("lengths_per_label")] IReadOnlyDictionary<string, LengthStats> LengthsPerLabel,
    [property: JsonPropertyName("truncated")] int Truncated)
{
    [JsonPropertyName("truncation_rate")] public double TruncationRate => Examples == 0 ? 0 : (double)Truncated / Examples;
}

/// <summary>Token counts (special tokens included, before truncation): count, mean, median, 95th percentile, maximum.</summary>
internal sealed record LengthStats(
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("mean")] double Mean,
    [property: JsonPropertyName("median")] double Median,
    [property: JsonPropertyName("p95")] double P95,
    [property: JsonPropertyName("max")] int Max);

/// <summary>
/// Duplicates within one split (<see cref="Splits"/> one name) or between two (the second split's examples that have
/// a duplicate in the first: leakage when the first is train): how many groups or pairs, how many examples are
/// involved, and a few examples.
/// </summary>
internal sealed record DuplicateFinding(
    [property: JsonPropertyName("splits")] IReadOnlyList<string> Splits,
    [property: JsonPropertyName("groups")] int Groups,
    [property: JsonPropertyName("examples_involved")] int ExamplesInvolved,
    [property: JsonPropertyName("share")] double Share,
    [property: JsonPropertyName("samples")] IReadOnlyList<DuplicateSample> Samples);

/// <summary>Texts found to be duplicates of each other, where they are, and their similarity (1 for exact duplicates).</summary>
internal sealed record DuplicateSample(
    [property: JsonPropertyName("texts")] IReadOnlyList<string> Texts,
    [property: JsonPropertyName("rows")] IReadOnlyList<string> Rows,
    [property: JsonPropertyName("jaccard")] double Jaccard);

/// <summary>Identical texts (after normalising case and white space) with different labels.</summary>
internal sealed record ConflictFinding(
    [property: JsonPropertyName("groups")] int Groups,
    [property: JsonPropertyName("examples_involved")] int ExamplesInvolved,
    [property: JsonPropertyName("samples")] IReadOnlyList<ConflictSample> Samples);

/// <summary>One text and the labels its copies carry (how many copies each).</summary>
internal sealed record ConflictSample(
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, int> Labels,
    [property: JsonPropertyName("rows")] IReadOnlyList<string> Rows);

/// <summary>
/// A word of the training texts that predicts a label almost alone: in <see cref="Count"/> training examples, of which
/// a share <see cref="LabelShare"/> carry <see cref="Label"/>; <see cref="Pmi"/> is log2(P(label | word) / P(label)).
/// </summary>
internal sealed record ShortcutToken(
    [property: JsonPropertyName("token")] string Token,
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("label_share")] double LabelShare,
    [property: JsonPropertyName("pmi")] double Pmi);
