using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Evaluation;

/// <summary>
/// A task's validation features as the trainer sees them: the metrics come from the task's own evaluation of them,
/// and which way a metric improves from <see cref="MetricNames"/>.
/// </summary>
/// <param name="names">The metrics the evaluation reports, "loss" included.</param>
internal sealed class ValidationSet<TFeature>(IReadOnlyList<TFeature> features, IReadOnlyList<string> names,
    Func<TaskModel, IReadOnlyList<TFeature>, Device, IReadOnlyDictionary<string, double>> evaluate) : IValidationSet
{
    public int Count => features.Count;

    public IReadOnlyList<string> MetricNames => names;

    public IReadOnlyDictionary<string, double> Evaluate(TaskModel model, Device device) => evaluate(model, features, device);

    public bool HigherIsBetter(string metric) => Evaluation.MetricNames.HigherIsBetter(metric);
}
