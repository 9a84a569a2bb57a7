namespace FineTune.Data;

/// <summary>
/// Which columns of the data files hold the text, the optional second text of a pair, and the label(s).
/// </summary>
public sealed record ColumnMapping
{
    /// <summary>The text column (the first text of a pair).</summary>
    public required string Text { get; init; }

    /// <summary>The second text of a sentence pair (entailment, paraphrase, similarity), or null.</summary>
    public string? TextPair { get; init; }

    /// <summary>
    /// The label column: one class name for single-label classification, a delimited list of label names (or a
    /// JSON/Parquet list) for multi-label classification, a number for regression. Null for unlabelled data
    /// (prediction input), or when <see cref="LabelColumns"/> is used.
    /// </summary>
    public string? Label { get; init; }

    /// <summary>
    /// Multi-label classification with one 0/1 column per label: those columns, in label order. Their names become
    /// the label names.
    /// </summary>
    public IReadOnlyList<string>? LabelColumns { get; init; }

    /// <summary>Whether the mapping names any label column.</summary>
    public bool HasLabels => Label is not null || LabelColumns is { Count: > 0 };

    /// <summary>Every column the mapping uses, in the order text, pair, label(s).</summary>
    public IEnumerable<string> AllColumns()
    {
        yield return Text;
        if (TextPair is not null) yield return TextPair;
        if (Label is not null) yield return Label;
        if (LabelColumns is not null)
            foreach (var c in LabelColumns) yield return c;
    }
}
