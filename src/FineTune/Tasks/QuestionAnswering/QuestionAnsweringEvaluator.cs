using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// The answer predicted for one question: the decoded span (text and character offsets into the context), its score
/// (<see cref="AnswerScores.Probability"/>) and how it scores against the reference answers (0–1 each).
/// </summary>
public sealed record AnswerPrediction(int ExampleIndex, AnswerCandidate Answer, double Score, double ExactMatch, double F1);

/// <summary>The metrics of a QA set, the SQuAD counts behind them and, when asked, each question's answer.</summary>
internal sealed record QuestionAnsweringEvaluation(
    IReadOnlyDictionary<string, double> Metrics,
    SquadMetrics Squad,
    IReadOnlyList<AnswerPrediction>? Predictions);

/// <summary>
/// Evaluation for extractive QA: the windows of each question are run through the model, the answer is decoded over
/// all of them (<see cref="AnswerDecoder"/>: n-best starts and ends, max answer length, text cut from the context by
/// offsets) and scored with SQuAD's exact match and F1 (0–100, the official script's scale) against the reference
/// answers of <paramref name="examples"/>. Windows are batched in question order and a question's logits are dropped
/// as soon as it is decoded, so memory does not grow with the set. The loss (when the windows carry answer
/// positions) is the mean over windows.
/// </summary>
/// <param name="examples">The questions the features were built from (<see cref="Feature.ExampleIndex"/> points into them).</param>
internal sealed class QuestionAnsweringEvaluator(IReadOnlyList<QaExample> examples, AnswerDecoder decoder, int batchSize, int padId,
    Func<IDisposable?>? precisionScope = null)
{
    /// <summary>The evaluator as the trainer's validation set over <paramref name="features"/>.</summary>
    public IValidationSet AsValidation(IReadOnlyList<WindowFeature> features) => new ValidationSet<WindowFeature>(features, [.. SquadMetrics.Names, MetricNames.Loss], (m, f, d) => Run(m, f, d, keepPredictions: false).Metrics);

    /// <summary>Evaluates and, with <paramref name="keepPredictions"/>, keeps every question's answer (in question order).</summary>
    public QuestionAnsweringEvaluation Run(IForwardModel model, IReadOnlyList<WindowFeature> features, Device device, bool keepPredictions)
    {
        var squad = new SquadMetrics();
        var predictions = keepPredictions ? new List<AnswerPrediction>() : null;
        // Windows grouped by question, questions in order of first appearance.
        var byExample = new Dictionary<int, List<int>>();
        var questionOrder = new List<int>();
        for (int i = 0; i < features.Count; i++)
        {
            int e = features[i].ExampleIndex;
            if (!byExample.TryGetValue(e, out var list))
            {
                byExample[e] = list = [];
                questionOrder.Add(e);
            }
            list.Add(i);
        }
        var order = questionOrder.SelectMany(e => byExample[e]).ToArray();
        var pending = new Dictionary<int, QaWindowOutput[]>();
        var received = new Dictionary<int, int>();
        var loss = new LossTotal();
        ModelBatches.Evaluate(model, features, order, batchSize, (batch, d) => QuestionAnsweringFeatures.Collate(batch, padId, d), device, precisionScope, (indices, batch, output) =>
        {
            loss.Add(output);
            var logits = output.Logits.to(ScalarType.Float32).cpu().data<float>().ToArray();   // [B, T, 2]
            int width = (int)output.Logits.shape[1];
            for (int r = 0; r < batch.Count; r++)
            {
                var feature = batch[r];
                int e = feature.ExampleIndex;
                var windows = byExample[e];
                if (!pending.TryGetValue(e, out var outputs)) pending[e] = outputs = new QaWindowOutput[windows.Count];
                outputs[windows.IndexOf(indices[r])] = WindowOutput(feature, logits.AsSpan(r * width * 2, feature.Length * 2));
                received[e] = received.GetValueOrDefault(e) + 1;
                if (received[e] < windows.Count) continue;
                var prediction = Score(e, outputs);
                squad.Add(prediction.Answer.Text, References(examples[e]));
                predictions?.Add(prediction);
                pending.Remove(e);
                received.Remove(e);
            }
        });
        var metrics = new Dictionary<string, double>(squad.ToDictionary());
        loss.WriteTo(metrics);
        return new QuestionAnsweringEvaluation(metrics, squad, predictions);
    }

    private static QaWindowOutput WindowOutput(WindowFeature feature, ReadOnlySpan<float> logits)
    {
        var offsets = feature.ContextOffsets;
        var starts = new float[feature.Length];
        var ends = new float[feature.Length];
        for (int t = 0; t < feature.Length; t++)
        {
            starts[t] = logits[2 * t];
            ends[t] = logits[2 * t + 1];
        }
        return new QaWindowOutput(starts, ends, offsets);
    }

    private AnswerPrediction Score(int exampleIndex, QaWindowOutput[] windows)
    {
        var example = examples[exampleIndex];
        var answer = decoder.Decode(example.Context, windows);
        var (exact, f1) = SquadScoring.Score(answer.Text, References(example));
        return new AnswerPrediction(exampleIndex, answer, AnswerScores.Probability(windows, answer), exact, f1);
    }

    /// <summary>The reference texts (none for an unanswerable question, which only the empty answer matches).</summary>
    internal static IReadOnlyList<string> References(QaExample example) => example.Answers.Select(a => a.Text).ToArray();
}
