using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Tasks;

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
    public void WritePredictions(string path) => AnswerPredictionFiles.WriteAnswers(path, Examples, Predictions);

    /// <summary>Writes {"question id": "predicted answer"}, the file SQuAD's official evaluation script reads.</summary>
    public void WriteSquadPredictions(string path) => AnswerPredictionFiles.WriteSquadJson(path, Examples, Predictions);
}
