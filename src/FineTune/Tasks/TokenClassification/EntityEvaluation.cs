using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Tasks;

/// <summary>How <see cref="EntityPredictor.Evaluate(string, EntityEvaluationOptions?)"/> reads a labelled file.</summary>
public sealed record EntityEvaluationOptions
{
    /// <summary>Column files: the 0-based column of the tag (null: the last; the word is column 0).</summary>
    public int? TagColumn { get; init; }

    /// <summary>The scheme the file's tags are written in; null to detect it from the file.</summary>
    public TagScheme? Scheme { get; init; }

    /// <summary>
    /// Skip the sentences with an invalid line (another number of columns, a tag that fits no scheme or not the
    /// file's, a tag the model doesn't know) instead of stopping at the first; they are counted in
    /// <see cref="EntityEvaluationResult.Skipped"/> with the first few reasons.
    /// </summary>
    public bool SkipInvalidRows { get; init; }

    /// <summary>How many reasons <see cref="EntityEvaluationResult.Skipped"/> keeps.</summary>
    public int ReportedInvalidRows { get; init; } = 5;
}

/// <summary>
/// A token-classification model's scores on a labelled file, and what they were computed on.
/// </summary>
/// <param name="Metrics">precision, recall, f1 (entity level, micro), accuracy (token level), loss, and per entity type TYPE_precision, TYPE_recall, TYPE_f1, TYPE_support.</param>
/// <param name="Entities">The counts behind the metrics, with the per-type scores.</param>
/// <param name="Examples">The sentences evaluated, with their gold tags in <paramref name="ModelScheme"/>.</param>
/// <param name="Predictions">Per sentence, in file order: the predicted tag of every word and its probability.</param>
/// <param name="FileScheme">The scheme the file's tags were written in.</param>
/// <param name="SchemeDetected">Whether <paramref name="FileScheme"/> was detected rather than given.</param>
/// <param name="ModelScheme">The scheme of the model's labels, which the gold tags were converted to.</param>
/// <param name="MaxLength">Tokens per sentence; longer sentences were truncated and their cut words predicted O.</param>
/// <param name="Truncated">How many sentences were truncated.</param>
/// <param name="Skipped">The sentences skipped as invalid (<see cref="EntityEvaluationOptions.SkipInvalidRows"/>).</param>
public sealed record EntityEvaluationResult(
    IReadOnlyDictionary<string, double> Metrics,
    EntityMetrics Entities,
    IReadOnlyList<TokenExample> Examples,
    IReadOnlyList<WordTagPrediction> Predictions,
    TagScheme FileScheme,
    bool SchemeDetected,
    TagScheme ModelScheme,
    int MaxLength,
    int Truncated,
    SkippedRows Skipped)
{
    /// <summary>
    /// Writes one CSV row per word (sentence, file line, word, gold tag, predicted tag, probability), as a run's
    /// predictions-test.csv.
    /// </summary>
    public void WritePredictions(string path) => TokenPredictionFiles.WriteWordTags(path, Examples, Predictions);
}
