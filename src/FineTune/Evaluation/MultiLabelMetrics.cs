using FineTune.Data;

namespace FineTune.Evaluation;

/// <summary>
/// Multi-label classification metrics, streamed: per-label true/false positive and false negative counts, exact
/// matches and the loss sum. A label is predicted when its probability (the sigmoid of its logit) reaches
/// <see cref="Threshold"/>; a target counts as positive from 0.5.
/// <para>
/// scikit-learn's conventions for label-indicator data: micro averages pool the counts of all labels; the macro
/// average is the plain mean over all labels (a label never true nor predicted scores 0); ratios with a zero
/// denominator are 0. Subset accuracy is the share of examples whose whole label set is right; Hamming loss the share
/// of wrong (example, label) decisions.
/// </para>
/// </summary>
internal sealed class MultiLabelMetrics : IMetricAccumulator
{
    private readonly string[] _labels;
    private readonly long[] _truePositives;
    private readonly long[] _falsePositives;
    private readonly long[] _falseNegatives;
    private long _exactMatches;
    private LossAverage _loss;

    public MultiLabelMetrics(LabelMap labels, double threshold = 0.5) : this(labels.Count, labels.Labels, threshold) { }

    public MultiLabelMetrics(int labelCount, IReadOnlyList<string>? labelNames = null, double threshold = 0.5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(labelCount, 1);
        if (labelNames is not null && labelNames.Count != labelCount)
            throw new ArgumentException($"{labelNames.Count} label names for {labelCount} labels", nameof(labelNames));
        if (!(threshold > 0 && threshold < 1))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "a probability threshold must be between 0 and 1");
        LabelCount = labelCount;
        Threshold = threshold;
        _labels = labelNames?.ToArray() ?? Enumerable.Range(0, labelCount).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        _truePositives = new long[labelCount];
        _falsePositives = new long[labelCount];
        _falseNegatives = new long[labelCount];
    }

    public int LabelCount { get; }

    public double Threshold { get; }

    public long ExampleCount { get; private set; }

    /// <summary>Adds decisions, row-major [B, LabelCount]: predicted labels and 0/1 targets.</summary>
    public void AddPredictions(ReadOnlySpan<bool> predicted, ReadOnlySpan<float> targets)
    {
        if (predicted.Length != targets.Length || targets.Length % LabelCount != 0)
            throw new ArgumentException($"{predicted.Length} predictions and {targets.Length} targets; expected [B, {LabelCount}] each");
        for (var row = 0; row < targets.Length / LabelCount; row++)
        {
            var exact = true;
            for (var l = 0; l < LabelCount; l++)
            {
                var p = predicted[row * LabelCount + l];
                var t = targets[row * LabelCount + l] >= 0.5f;
                if (p && t) _truePositives[l]++;
                else if (p) _falsePositives[l]++;
                else if (t) _falseNegatives[l]++;
                exact &= p == t;
            }
            if (exact) _exactMatches++;
            ExampleCount++;
        }
    }

    /// <summary>Adds logits and 0/1 targets, row-major [B, LabelCount].</summary>
    public void AddLogits(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets)
    {
        if (logits.Length != targets.Length)
            throw new ArgumentException($"{logits.Length} logits for {targets.Length} targets");
        var predicted = new bool[logits.Length];
        for (var i = 0; i < logits.Length; i++) predicted[i] = Sigmoid(logits[i]) >= Threshold;
        AddPredictions(predicted, targets);
    }

    public void AddBatch(ReadOnlySpan<float> outputs, IReadOnlyList<LabelTarget> targets)
    {
        var flat = new float[targets.Count * LabelCount];
        for (var i = 0; i < targets.Count; i++)
        {
            if (targets[i] is not MultiLabelTargets m || m.Targets.Length != LabelCount)
                throw new ArgumentException($"target {i} is not a multi-label target of {LabelCount} labels", nameof(targets));
            m.Targets.CopyTo(flat, i * LabelCount);
        }
        AddLogits(outputs, flat);
    }

    public void AddLoss(double meanLoss, int exampleCount) => _loss.Add(meanLoss, exampleCount);

    public void Reset()
    {
        Array.Clear(_truePositives);
        Array.Clear(_falsePositives);
        Array.Clear(_falseNegatives);
        _exactMatches = 0;
        ExampleCount = 0;
        _loss.Reset();
    }

    /// <summary>Precision, recall, F1 and support of every label, in id order.</summary>
    public IReadOnlyList<ClassReport> PerLabel() =>
        Enumerable.Range(0, LabelCount).Select(l =>
        {
            long tp = _truePositives[l], predicted = tp + _falsePositives[l], actual = tp + _falseNegatives[l];
            return new ClassReport(_labels[l], ClassificationMetrics.Ratio(tp, predicted), ClassificationMetrics.Ratio(tp, actual),
                ClassificationMetrics.F1(tp, actual, predicted), actual);
        }).ToArray();

    public IReadOnlyList<string> Names =>
        [MetricNames.F1Micro, MetricNames.F1Macro, MetricNames.PrecisionMicro, MetricNames.RecallMicro, MetricNames.SubsetAccuracy, MetricNames.HammingLoss];

    public IReadOnlyDictionary<string, double> Compute()
    {
        if (ExampleCount == 0) throw new InvalidOperationException("no examples were added");
        long tp = _truePositives.Sum(), fp = _falsePositives.Sum(), fn = _falseNegatives.Sum();
        var metrics = new Dictionary<string, double>
        {
            [MetricNames.F1Micro] = ClassificationMetrics.F1(tp, tp + fn, tp + fp),
            [MetricNames.F1Macro] = PerLabel().Average(r => r.F1),
            [MetricNames.PrecisionMicro] = ClassificationMetrics.Ratio(tp, tp + fp),
            [MetricNames.RecallMicro] = ClassificationMetrics.Ratio(tp, tp + fn),
            [MetricNames.SubsetAccuracy] = (double)_exactMatches / ExampleCount,
            [MetricNames.HammingLoss] = (double)(fp + fn) / (ExampleCount * (double)LabelCount),
        };
        _loss.WriteTo(metrics);
        return metrics;
    }

    private static double Sigmoid(float x) => 1.0 / (1.0 + Math.Exp(-(double)x));
}
