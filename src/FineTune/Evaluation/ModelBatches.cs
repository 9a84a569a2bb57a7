using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Evaluation;

/// <summary>
/// The batch loop every evaluator and predictor shares: features in a given order, collated by the task's own
/// function, one forward pass a batch.
/// </summary>
internal static class ModelBatches
{
    /// <summary>Feature indices longest first: similar lengths share a batch (little padding), and running out of memory shows at once.</summary>
    public static int[] LongestFirst<TFeature>(IReadOnlyList<TFeature> features, Func<TFeature, int> length) =>
        Enumerable.Range(0, features.Count).OrderByDescending(i => length(features[i])).ToArray();

    /// <summary>
    /// Runs <paramref name="model"/> over <paramref name="features"/> in <paramref name="order"/>, <paramref name="batchSize"/>
    /// at a time, collated by <paramref name="collate"/>, in inference mode and in <paramref name="precisionScope"/>, and calls
    /// <paramref name="onBatch"/> with each batch's feature indices, features and output, inside the batch's dispose scope
    /// (its tensors go with it).
    /// </summary>
    public static void Run<TFeature>(IForwardModel model, IReadOnlyList<TFeature> features, int[] order, int batchSize,
        Func<IReadOnlyList<TFeature>, Device, ModelInput> collate, Device device, Func<IDisposable?>? precisionScope,
        Action<int[], List<TFeature>, ModelOutput> onBatch)
    {
        using var _ = inference_mode();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var indices = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
            var batch = indices.Select(i => features[i]).ToList();
            var input = collate(batch, device);
            ModelOutput output;
            using (precisionScope?.Invoke())
                output = model.Forward(input);
            onBatch(indices, batch, output);
        }
    }

    /// <summary>
    /// <see cref="Run"/> with the model in evaluation mode (dropout off), its mode restored after. Inside
    /// <see cref="ShardedEvaluation.Use"/> the ranks of a data-parallel run share the batches.
    /// </summary>
    public static void Evaluate<TFeature>(IForwardModel model, IReadOnlyList<TFeature> features, int[] order, int batchSize,
        Func<IReadOnlyList<TFeature>, Device, ModelInput> collate, Device device, Func<IDisposable?>? precisionScope,
        Action<int[], List<TFeature>, ModelOutput> onBatch)
    {
        using var _ = model.EvaluationMode();
        if (ShardedEvaluation.Current is { Size: > 1 } ranks)
            ShardedEvaluation.Run(ranks, model, features, order, batchSize, collate, device, precisionScope, onBatch);
        else
            Run(model, features, order, batchSize, collate, device, precisionScope, onBatch);
    }
}

/// <summary>A summed loss and the denominator of its mean, added up over batches.</summary>
internal sealed class LossTotal
{
    private double _sum, _denominator;

    public void Add(ModelOutput output)
    {
        if (output.LossSum is null) return;
        _sum += output.LossSum.to(ScalarType.Float64).item<double>();
        _denominator += output.LossDenominator;
    }

    /// <summary>Adds the mean loss as <see cref="MetricNames.Loss"/> when any batch had labels.</summary>
    public void WriteTo(IDictionary<string, double> metrics)
    {
        if (_denominator > 0) metrics[MetricNames.Loss] = _sum / _denominator;
    }
}
