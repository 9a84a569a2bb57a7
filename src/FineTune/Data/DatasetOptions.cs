namespace FineTune.Data;

/// <summary>The files of a dataset. Validation and test are optional; they can also be split off the training file.</summary>
public sealed record DatasetFiles(string Train, string? Validation = null, string? Test = null);

/// <summary>
/// What a label cell holds: one class (single-label classification), a list of classes (multi-label, in one column
/// or as 0/1 columns) or a number (regression, similarity scores). The task says which it reads.
/// </summary>
internal enum LabelKind { Class, Classes, Number }

/// <summary>How to turn data files into labelled examples: which columns hold what, how files are read and split.</summary>
public sealed record DatasetOptions
{
    /// <summary>Which columns hold the text, the second text of a pair and the label(s); by default "text" and "label".</summary>
    public ColumnMapping Columns { get; init; } = new() { Text = "text", Label = "label" };

    /// <summary>How the files are read (format, header, quoting, encoding); the same for every file of the dataset.</summary>
    public DataFileOptions DataFile { get; init; } = new();

    /// <summary>Multi-label classification: the separator of the labels in one column ("joy,anger"). Default ",".</summary>
    public string LabelSeparator { get; init; } = ",";

    /// <summary>
    /// The labels, fixed in advance (e.g. those of a model being evaluated, or a labels file). Null: taken from the
    /// training file (see <see cref="LabelMap"/> for the order). A label outside this map is an invalid row.
    /// </summary>
    public LabelMap? Labels { get; init; }

    /// <summary>Accept examples whose text (or text pair) is empty or white space. Off: such a row is invalid.</summary>
    public bool AllowEmptyText { get; init; }

    /// <summary>
    /// Skip invalid rows instead of stopping at the first one; the summary reports how many were skipped per file and
    /// the first <see cref="ReportedInvalidRows"/> reasons.
    /// </summary>
    public bool SkipInvalidRows { get; init; }

    public int ReportedInvalidRows { get; init; } = 5;

    /// <summary>Fraction of the training file held out for validation when there is no validation file.</summary>
    public double ValidationFraction { get; init; }

    /// <summary>Fraction of the training file held out for testing when there is no test file.</summary>
    public double TestFraction { get; init; }

    /// <summary>Seed of the split; the same seed and data give the same split.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Keep each class's share in every split (single-label classification only).</summary>
    public bool Stratify { get; init; } = true;

    /// <summary>
    /// Use only the first N training examples (after any split), in file order. The whole training file is still
    /// read and checked, and the label map still comes from all of it, so it does not change with N.
    /// </summary>
    public int? MaxTrainExamples { get; init; }

    /// <summary>
    /// Report the metrics of the validation and test examples (or of an evaluated file) per value of this column
    /// of the data, or, with "length", per bucket of token counts (1–16, 17–32, 33–64, …); the worst slice is
    /// named. Null: no slices.
    /// </summary>
    public string? SliceColumn { get; init; }

    /// <summary>
    /// Train even when more than half of the training tokens are the tokenizer's unknown token ([UNK]): the model then
    /// sees little of the text. Off: such data is an error (above 5% a warning).
    /// </summary>
    public bool AllowUnknownTokens { get; init; }

    /// <summary>Checks the values that do not depend on the data: fractions, counts, the text column's name.</summary>
    internal void Validate()
    {
        static void Check(bool ok, string property, string message)
        {
            if (!ok) throw new OptionException($"{nameof(DatasetOptions)}.{property}", message);
        }
        Check(ValidationFraction is >= 0 and < 1, nameof(ValidationFraction), $"must be at least 0 and below 1, got {ValidationFraction}");
        Check(TestFraction is >= 0 and < 1, nameof(TestFraction), $"must be at least 0 and below 1, got {TestFraction}");
        Check(ValidationFraction + TestFraction < 1, nameof(TestFraction),
            $"validation ({ValidationFraction}) and test ({TestFraction}) fractions add up to 1 or more and leave nothing to train on");
        Check(MaxTrainExamples is null or > 0, nameof(MaxTrainExamples), $"must be positive, got {MaxTrainExamples}");
        Check(ReportedInvalidRows >= 0, nameof(ReportedInvalidRows), "must not be negative");
        if (string.IsNullOrWhiteSpace(Columns.Text))
            throw new OptionException("ColumnMapping.Text", "the text column is not named");
        if (Columns.TextPair is { } pair && string.IsNullOrWhiteSpace(pair))
            throw new OptionException("ColumnMapping.TextPair", "the column of the second text is named by an empty string");
        if (Columns.Label is { } label && string.IsNullOrWhiteSpace(label))
            throw new OptionException("ColumnMapping.Label", "the label column is named by an empty string");
        if (Columns.LabelColumns is { } labels && (labels.Count == 0 || labels.Any(string.IsNullOrWhiteSpace)))
            throw new OptionException("ColumnMapping.LabelColumns", "names no column (give the 0/1 columns, one per label, separated by commas)");
        if (SliceColumn is { } slice && string.IsNullOrWhiteSpace(slice))
            throw new OptionException("DatasetOptions.SliceColumn", "the slice column is named by an empty string");
    }
}
