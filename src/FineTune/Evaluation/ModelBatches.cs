using FineTune.Configuration;
using FineTune.Data;
using FineTune.Modeling;
using FineTune.Training;
using static TorchSharp.torch;

namespace FineTune.Evaluation;

/// <summary>The batch loop every evaluator and predictor shares: features in a given order, one forward pass a batch.</summary>
internal static class ModelBatches
{
    /// <summary>Feature indices longest first: similar lengths share a batch (little padding), and running out of memory shows at once.</summary>
    public static int[] LongestFirst(IReadOnlyList<Feature> features, Func<Feature, int> length) =>
        Enumerable.Range(0, features.Count).OrderByDescending(i => length(features[i])).ToArray();

    /// <summary>
    /// Runs <paramref name="model"/> over <paramref name="features"/> in <paramref name="order"/>, <paramref name="batchSize"/>
    /// at a time, in inference mode and in <paramref name="precisionScope"/>, and calls <paramref name="onBatch"/> with each
    /// batch's feature indices, features and output, inside the batch's dispose scope (its tensors go with it).
    /// </summary>
    public static void Run(TaskModel model, IReadOnlyList<Feature> features, int[] order, int batchSize, TaskKind task, int padId,
        Device device, Func<IDisposable?>? precisionScope, bool withLabels, Action<int[], List<Feature>, ClassifierOutput> onBatch)
    {
        using var _ = inference_mode();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var indices = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
            var batch = indices.Select(i => features[i]).ToList();
            var input = Collator.Collate(batch, task, padId, device, withLabels);
            ClassifierOutput output;
            using (precisionScope?.Invoke())
                output = model.call(input);
            onBatch(indices, batch, output);
        }
    }

    /// <summary><see cref="Run"/> with labels and the model in evaluation mode (dropout off), its mode restored after.</summary>
    public static void Evaluate(TaskModel model, IReadOnlyList<Feature> features, int[] order, int batchSize, TaskKind task, int padId,
        Device device, Func<IDisposable?>? precisionScope, Action<int[], List<Feature>, ClassifierOutput> onBatch)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            Run(model, features, order, batchSize, task, padId, device, precisionScope, withLabels: true, onBatch);
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}

/// <summary>A summed loss and the denominator of its mean, added up over batches.</summary>
internal sealed class LossTotal
{
    private double _sum, _denominator;

    public void Add(ClassifierOutput output)
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
