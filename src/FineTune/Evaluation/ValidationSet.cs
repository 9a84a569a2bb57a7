using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Evaluation;

/// <summary>
/// A task's validation features as the trainer sees them: the metrics come from the task's own evaluation of them,
/// and which way a metric improves from <see cref="MetricNames"/>.
/// </summary>
internal sealed class ValidationSet<TFeature>(IReadOnlyList<TFeature> features,
    Func<TaskModel, IReadOnlyList<TFeature>, Device, IReadOnlyDictionary<string, double>> evaluate) : IValidationSet
{
    public int Count => features.Count;

    public IReadOnlyDictionary<string, double> Evaluate(TaskModel model, Device device) => evaluate(model, features, device);

    public bool HigherIsBetter(string metric) => MetricNames.HigherIsBetter(metric);
}
