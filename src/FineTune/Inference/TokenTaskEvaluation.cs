using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Inference;

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
    public void WritePredictions(string path) => TokenTaskPredictionFiles.WriteWordTags(path, Examples, Predictions);
}

/// <summary>
/// An extractive-QA model's scores on a file of questions with reference answers, and what they were computed on.
/// </summary>
/// <param name="Metrics">exact_match and f1 (SQuAD's, 0–100) and the loss over windows.</param>
/// <param name="Squad">The counts behind the metrics.</param>
/// <param name="Examples">The questions evaluated, in file order.</param>
/// <param name="Predictions">Per question, in file order: the decoded answer, its score, exact match and F1 (0–1).</param>
/// <param name="MaxLength">Tokens per window.</param>
/// <param name="DocStride">Context tokens shared by consecutive windows.</param>
/// <param name="Windows">How many windows the questions made.</param>
/// <param name="MultiWindow">How many questions needed more than one window.</param>
/// <param name="Skipped">Questions skipped because an answer does not match its context at answer_start.</param>
public sealed record AnswerEvaluationResult(
    IReadOnlyDictionary<string, double> Metrics,
    SquadMetrics Squad,
    IReadOnlyList<QaExample> Examples,
    IReadOnlyList<AnswerPrediction> Predictions,
    int MaxLength,
    int DocStride,
    int Windows,
    int MultiWindow,
    SkippedRows Skipped)
{
    /// <summary>
    /// Writes one CSV row per question (id, title, question, prediction, score, offsets, reference answers, exact
    /// match, F1), as a run's predictions-test.csv.
    /// </summary>
    public void WritePredictions(string path) => TokenTaskPredictionFiles.WriteAnswers(path, Examples, Predictions);

    /// <summary>Writes {"question id": "predicted answer"}, the file SQuAD's official evaluation script reads.</summary>
    public void WriteSquadPredictions(string path) => TokenTaskPredictionFiles.WriteSquadJson(path, Examples, Predictions);
}
