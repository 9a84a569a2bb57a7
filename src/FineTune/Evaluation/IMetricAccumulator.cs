using FineTune.Data;

namespace FineTune.Evaluation;

/// <summary>
/// Metrics of a task, accumulated batch by batch over a whole evaluation set: counters (and, for regression, the
/// prediction/target pairs) are added to, never replaced, so the result is that of the whole set, not of its last
/// batch. Logits are not kept.
/// </summary>
internal interface IMetricAccumulator
{
    /// <summary>The number of examples added so far.</summary>
    long ExampleCount { get; }

    /// <summary>
    /// Adds a batch of model outputs, row-major [B, K] (K classes or labels; K = 1 for regression), and the
    /// examples' labels.
    /// </summary>
    void AddBatch(ReadOnlySpan<float> outputs, IReadOnlyList<LabelTarget> targets);

    /// <summary>Adds a batch's mean loss; the reported loss is the mean over examples (weighted by <paramref name="exampleCount"/>).</summary>
    void AddLoss(double meanLoss, int exampleCount);

    /// <summary>
    /// The metrics of everything added since the last <see cref="Reset"/>, under <see cref="MetricNames"/>.
    /// "loss" is present only when a loss was added. Throws when no example was added.
    /// </summary>
    IReadOnlyDictionary<string, double> Compute();

    /// <summary>The names <see cref="Compute"/> reports, besides "loss" (which is there when a loss was added).</summary>
    IReadOnlyList<string> Names { get; }

    void Reset();
}

/// <summary>The example-weighted mean of batch losses.</summary>
internal struct LossAverage
{
    private double _sum;
    private long _count;

    public void Add(double meanLoss, int exampleCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(exampleCount);
        _sum += meanLoss * exampleCount;
        _count += exampleCount;
    }

    public readonly void WriteTo(Dictionary<string, double> metrics)
    {
        if (_count > 0) metrics[MetricNames.Loss] = _sum / _count;
    }

    public void Reset() => this = default;
}
