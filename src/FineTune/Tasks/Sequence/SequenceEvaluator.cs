using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Reports;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>A model's prediction for one example of a sequence task.</summary>
/// <param name="ExampleIndex">The example's index in the evaluated list.</param>
/// <param name="Outputs">Probabilities per class (softmax) or per label (sigmoid), or the single value.</param>
/// <param name="PredictedClass">Single-label: the arg-max class.</param>
/// <param name="PredictedLabels">Multi-label: the labels at or above the threshold.</param>
public sealed record SequencePrediction(int ExampleIndex, float[] Outputs, int? PredictedClass, int[]? PredictedLabels);

/// <summary>The metrics over a whole set, the accumulator behind them and, when asked for, each example's prediction.</summary>
internal sealed record SequenceEvaluation(
    IReadOnlyDictionary<string, double> Metrics,
    IMetricAccumulator Accumulator,
    IReadOnlyList<SequencePrediction>? Predictions)
{
    /// <summary>The metrics per slice, when slices were asked for.</summary>
    public SliceReport? Slices { get; init; }
}

/// <summary>How a set is sliced: the column (or "length") it is named by, the metric that ranks slices, and each feature's slice.</summary>
internal sealed record SliceSpec<TFeature>(string Column, string Metric, Func<TFeature, string> Of);

/// <summary>
/// How a sequence task reads its head's outputs, one row of values per example (its width): the metrics it
/// accumulates, the prediction it makes, how a prediction is written and reported. Each sequence task has one.
/// </summary>
internal abstract class SequenceReadout
{
    /// <summary>The labels (classification), or null (a value).</summary>
    public abstract LabelMap? Labels { get; }

    /// <summary>A fresh accumulator of the task's metrics.</summary>
    public abstract IMetricAccumulator NewAccumulator();

    /// <summary>The prediction for one example from its row of outputs.</summary>
    public abstract SequencePrediction Predict(ReadOnlySpan<float> outputs, int exampleIndex);

    /// <summary>The prediction as the predictor API gives it.</summary>
    public abstract TextPrediction ToTextPrediction(SequencePrediction prediction);

    /// <summary>The header of the prediction column of a labelled set's predictions file (predicted, prediction, cosine).</summary>
    public abstract string PredictionHeader { get; }

    /// <summary>The header of the prediction column of an unlabelled file's predictions (label, labels, value).</summary>
    public abstract string PredictedValueHeader { get; }

    /// <summary>Precision, recall and F1 per class (or per label) from the task's accumulator, or null.</summary>
    public virtual IReadOnlyList<ClassReport>? PerClass(IMetricAccumulator accumulator) => null;

    /// <summary>The prediction column's text.</summary>
    public abstract string PredictionCell(SequencePrediction prediction);

    /// <summary>Whether predictions files get a probability column per label.</summary>
    public bool HasProbabilities => Labels is not null;

    /// <summary>A wrong prediction the model was sure of (or, for a value, how far off it is), or null when it is right.</summary>
    public abstract PredictionError? Error(TextExample example, SequencePrediction prediction);

    /// <summary>The split's part of the report beyond metrics and errors (confusion matrix, per-class scores, predicted values).</summary>
    public abstract SplitResult Details(SplitResult result, SequenceEvaluation evaluation, IReadOnlyList<TextExample> examples);

    /// <summary>
    /// The outputs to explain for an input predicted as <paramref name="prediction"/>: what the task predicts, or the
    /// output of <paramref name="targetLabel"/> when one is asked for (an unknown one is an <see cref="OptionException"/>).
    /// </summary>
    public abstract IReadOnlyList<ExplanationTarget> ExplanationTargets(SequencePrediction prediction, string? targetLabel);

    /// <summary>The id of an asked-for label among the model's, or an error listing them.</summary>
    protected static int TargetId(LabelMap labels, string targetLabel) =>
        labels.TryGetId(targetLabel, out var id)
            ? id
            : throw new OptionException("ExplainRequest.TargetLabel", $"unknown label '{targetLabel}'; the model's labels are: {labels.Describe()}");
}

/// <summary>
/// Evaluation for the sequence tasks: batches of similar length (longest first, so padding is small), metrics
/// accumulated over every batch, the loss averaged over examples. <typeparamref name="TFeature"/> is the task's
/// feature; <paramref name="collate"/> pads a batch of them with their labels.
/// </summary>
internal sealed class SequenceEvaluator<TFeature>(SequenceReadout readout, Func<IReadOnlyList<TFeature>, Device, ModelInput> collate,
    Func<TFeature, int> length, Func<TFeature, LabelTarget?> label, int batchSize, Func<IDisposable?>? precisionScope)
    where TFeature : Feature
{
    public SequenceEvaluation Evaluate(IForwardModel model, IReadOnlyList<TFeature> features, Device device, bool keepPredictions = false,
        SliceSpec<TFeature>? slices = null)
    {
        var accumulator = readout.NewAccumulator();
        var sliced = slices is null ? null : new SliceAccumulator(readout.NewAccumulator);
        var predictions = keepPredictions ? new SequencePrediction[features.Count] : null;
        var order = ModelBatches.LongestFirst(features, length);
        ModelBatches.Evaluate(model, features, order, batchSize, collate, device, precisionScope, (indices, batch, output) =>
        {
            var logits = output.Logits.to(ScalarType.Float32).cpu();
            var flat = logits.data<float>().ToArray();
            accumulator.AddBatch(flat, batch.Select(f => label(f)!).ToList());
            if (output.Loss is not null)
                accumulator.AddLoss(output.Loss.to(ScalarType.Float64).item<double>(), batch.Count);
            int width = logits.shape.Length > 1 ? (int)logits.shape[1] : 1;
            for (int r = 0; r < batch.Count; r++)
            {
                if (predictions is not null) predictions[indices[r]] = readout.Predict(flat.AsSpan(r * width, width), batch[r].ExampleIndex);
                if (sliced is not null) sliced.Add(slices!.Of(batch[r]), flat.AsSpan(r * width, width), label(batch[r])!);
            }
        });
        return new SequenceEvaluation(accumulator.Compute(), accumulator, predictions) { Slices = sliced?.Report(slices!.Column, slices.Metric) };
    }

    /// <summary>The evaluator as the trainer's validation set over <paramref name="features"/>.</summary>
    public IValidationSet AsValidation(IReadOnlyList<TFeature> features) => new ValidationSet<TFeature>(features, [.. readout.NewAccumulator().Names, Evaluation.MetricNames.Loss], (m, f, d) => Evaluate(m, f, d).Metrics);
}

/// <summary>The report's part of a sequence split: metrics, the task's details, and the top errors.</summary>
internal static class SequenceSplits
{
    /// <summary>The <paramref name="count"/> worst errors: the most confident wrong predictions, or the values furthest off.</summary>
    public static SplitResult Result(SequenceReadout readout, SequenceEvaluation evaluation, IReadOnlyList<TextExample> examples, int count = 20)
    {
        var errors = new List<PredictionError>();
        foreach (var p in evaluation.Predictions!)
            if (readout.Error(examples[p.ExampleIndex], p) is { } error) errors.Add(error);
        var result = new SplitResult
        {
            Metrics = evaluation.Metrics,
            TopErrors = errors.OrderByDescending(x => x.Confidence).Take(count).ToList(),
        };
        return readout.Details(result, evaluation, examples);
    }
}
