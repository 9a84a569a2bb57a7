using FineTune.Configuration;
using FineTune.Data;
using FineTune.Modeling;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Evaluation;

/// <summary>A model's prediction for one example of a sequence task.</summary>
/// <param name="ExampleIndex">The example's index in the evaluated list.</param>
/// <param name="Outputs">Probabilities per class (softmax) or per label (sigmoid), or the single regression value.</param>
/// <param name="PredictedClass">Single-label: the arg-max class.</param>
/// <param name="PredictedLabels">Multi-label: the labels at or above the threshold.</param>
public sealed record SequencePrediction(int ExampleIndex, float[] Outputs, int? PredictedClass, int[]? PredictedLabels);

/// <summary>The metrics over a whole set and, when asked for, each example's prediction.</summary>
public sealed record EvaluationResult(
    IReadOnlyDictionary<string, double> Metrics,
    IMetricAccumulator? Accumulator,
    IReadOnlyList<SequencePrediction>? Predictions);

/// <summary>Evaluates a task model on encoded features, in inference mode, streaming batch by batch.</summary>
public interface ITaskEvaluator
{
    EvaluationResult Evaluate(TaskModel model, IReadOnlyList<Feature> features, Device device, bool keepPredictions = false);
}

/// <summary>
/// Evaluation for the sequence tasks (single-label, multi-label, regression): batches of similar length (sorted,
/// so padding is small), metrics accumulated over every batch, the loss averaged over examples.
/// </summary>
public sealed class SequenceEvaluator(TaskKind task, LabelMap? labels, int batchSize, int padId, double threshold = 0.5,
    Func<IDisposable?>? precisionScope = null) : ITaskEvaluator
{
    public EvaluationResult Evaluate(TaskModel model, IReadOnlyList<Feature> features, Device device, bool keepPredictions = false)
    {
        // Similarity is scored like regression: the pair's cosine against its normalised score.
        var accumulator = MetricAccumulator.Create(task == TaskKind.Similarity ? TaskKind.Regression : task, labels, threshold);
        var predictions = keepPredictions ? new SequencePrediction[features.Count] : null;
        // Longest first: similar lengths share a batch, and an out-of-memory shows up at once.
        var order = ModelBatches.LongestFirst(features, f => f.Length + (f.Second?.Length ?? 0));
        ModelBatches.Evaluate(model, features, order, batchSize, task, padId, device, precisionScope, (indices, batch, output) =>
        {
            var logits = output.Logits.to(ScalarType.Float32).cpu();
            var flat = logits.data<float>().ToArray();
            var targets = batch.Select(f => f.Label!).ToList();
            accumulator.AddBatch(flat, targets);
            if (output.Loss is not null)
                accumulator.AddLoss(output.Loss.to(ScalarType.Float64).item<double>(), batch.Count);
            if (predictions is not null)
                Predict(flat, logits.shape.Length > 1 ? (int)logits.shape[1] : 1, indices, batch, predictions);
        });
        return new EvaluationResult(accumulator.Compute(), accumulator, predictions);
    }

    private void Predict(float[] flat, int width, int[] indices, List<Feature> batch, SequencePrediction[] predictions)
    {
        for (int r = 0; r < batch.Count; r++)
        {
            var row = flat.AsSpan(r * width, width);
            int example = batch[r].ExampleIndex;
            predictions[indices[r]] = task switch
            {
                TaskKind.SingleLabelClassification => Softmax(row, example),
                TaskKind.MultiLabelClassification => Sigmoid(row, example),
                _ => new SequencePrediction(example, [row[0]], null, null),
            };
        }
    }

    private static SequencePrediction Softmax(ReadOnlySpan<float> logits, int example)
    {
        float max = float.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        var p = new float[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = MathF.Exp(logits[i] - max);
        int best = 0;
        for (int i = 0; i < p.Length; i++)
        {
            p[i] = (float)(p[i] / sum);
            if (p[i] > p[best]) best = i;
        }
        return new SequencePrediction(example, p, best, null);
    }

    private SequencePrediction Sigmoid(ReadOnlySpan<float> logits, int example)
    {
        var p = new float[logits.Length];
        for (int i = 0; i < p.Length; i++) p[i] = 1f / (1f + MathF.Exp(-logits[i]));
        var chosen = Enumerable.Range(0, p.Length).Where(i => p[i] >= threshold).ToArray();
        return new SequencePrediction(example, p, null, chosen);
    }
}
