using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// The predicted tags of one sentence, per word (the prediction of the word's first sub-token) with the probability
/// of that tag. Words cut off by truncation, or that have no token at all, are predicted <c>O</c> with score 0.
/// </summary>
public sealed record WordTagPrediction(int ExampleIndex, IReadOnlyList<string> Tags, IReadOnlyList<float> Scores);

/// <summary>The metrics of a token-classification set, the entity counts behind them and, when asked, each sentence's tags.</summary>
internal sealed record TokenClassificationEvaluation(
    IReadOnlyDictionary<string, double> Metrics,
    EntityMetrics Entities,
    IReadOnlyList<WordTagPrediction>? Predictions);

/// <summary>
/// Evaluation for token classification (NER): every sentence's words get the tag of their first sub-token, and
/// entity precision, recall and F1 (micro and per type, seqeval's definition) and token accuracy are accumulated over
/// the whole set against the gold tags of <paramref name="examples"/> (all words, also those truncation cut off).
/// The loss is the mean over labelled tokens.
/// </summary>
/// <param name="examples">The sentences the features were built from (<see cref="Feature.ExampleIndex"/> points into them).</param>
internal sealed class TokenClassificationEvaluator(IReadOnlyList<TokenExample> examples, TokenLabelMap labels, int batchSize, int padId,
    Func<IDisposable?>? precisionScope = null)
{
    /// <summary>The evaluator as the trainer's validation set over <paramref name="features"/>.</summary>
    public IValidationSet AsValidation(IReadOnlyList<TokenFeature> features) => new ValidationSet<TokenFeature>(features, [.. EntityMetrics.Names(labels.EntityTypes), MetricNames.Loss], (m, f, d) => Run(m, f, d, keepPredictions: false).Metrics);

    /// <summary>Evaluates and, with <paramref name="keepPredictions"/>, keeps every sentence's predicted tags.</summary>
    public TokenClassificationEvaluation Run(IForwardModel model, IReadOnlyList<TokenFeature> features, Device device, bool keepPredictions)
    {
        var entities = new EntityMetrics();
        var predictions = keepPredictions ? new WordTagPrediction[features.Count] : null;
        var loss = new LossTotal();
        var order = ModelBatches.LongestFirst(features, f => f.Length);
        ModelBatches.Evaluate(model, features, order, batchSize, (batch, d) => TokenClassificationFeatures.Collate(batch, padId, d), device, precisionScope, (indices, batch, output) =>
        {
            loss.Add(output);
            var (best, ids) = output.Logits.to(ScalarType.Float32).softmax(-1).max(-1);      // [B, T, C] -> [B, T]
            var scores = best.cpu().data<float>().ToArray();
            var labelIds = ids.to(ScalarType.Int32).cpu().data<int>().ToArray();
            int width = (int)ids.shape[1];
            for (int r = 0; r < batch.Count; r++)
            {
                var feature = batch[r];
                var example = examples[feature.ExampleIndex];
                var prediction = WordTags(feature, labelIds.AsSpan(r * width, feature.Length), scores.AsSpan(r * width, feature.Length), example.Words.Count);
                entities.Add(example.Tags, prediction.Tags);
                if (predictions is not null) predictions[indices[r]] = prediction with { ExampleIndex = feature.ExampleIndex };
            }
        });
        var metrics = new Dictionary<string, double>(entities.ToDictionary());
        loss.WriteTo(metrics);
        return new TokenClassificationEvaluation(metrics, entities, predictions);
    }

    /// <summary>Per word: the tag and probability of its first sub-token; words without a token get O and 0.</summary>
    private WordTagPrediction WordTags(TokenFeature feature, ReadOnlySpan<int> tokenLabels, ReadOnlySpan<float> tokenScores, int wordCount)
    {
        var wordIds = feature.WordIds;
        var tags = new string[wordCount];
        var scores = new float[wordCount];
        var seen = new bool[wordCount];
        Array.Fill(tags, TagSchemes.Outside);
        for (int t = 0; t < wordIds.Length; t++)
        {
            if (wordIds[t] is not { } w || seen[w]) continue;
            seen[w] = true;
            tags[w] = labels[tokenLabels[t]];
            scores[w] = tokenScores[t];
        }
        return new WordTagPrediction(feature.ExampleIndex, tags, scores);
    }
}
