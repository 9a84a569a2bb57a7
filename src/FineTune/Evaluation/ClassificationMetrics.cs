using FineTune.Data;

namespace FineTune.Evaluation;

/// <summary>Precision, recall and F1 of one class (or label), with its support (the number of true examples).</summary>
public sealed record ClassReport(string Label, double Precision, double Recall, double F1, long Support);

/// <summary>Counts of (actual, predicted) class pairs: rows are the actual class, columns the predicted one.</summary>
internal sealed class ConfusionMatrix
{
    private readonly long[,] _counts;

    internal ConfusionMatrix(IReadOnlyList<string> labels, long[,] counts)
    {
        Labels = labels;
        _counts = (long[,])counts.Clone();
    }

    public IReadOnlyList<string> Labels { get; }

    public int ClassCount => Labels.Count;

    public long this[int actual, int predicted] => _counts[actual, predicted];

    public long Total
    {
        get
        {
            long total = 0;
            foreach (var c in _counts) total += c;
            return total;
        }
    }

    /// <summary>A copy of the counts, [actual, predicted].</summary>
    public long[,] ToArray() => (long[,])_counts.Clone();
}

/// <summary>
/// Single-label classification metrics, streamed: a confusion matrix and the loss sum are all that is kept.
/// <para>
/// Conventions are scikit-learn's: a ratio with a zero denominator is 0; the macro average is over the classes that
/// occur among the actual or the predicted classes of the evaluated examples; the weighted average weights each class
/// by its support; the micro average pools all decisions (so it equals accuracy); MCC is the multi-class form
/// (Gorodkin 2004), 0 when undefined.
/// </para>
/// </summary>
internal sealed class ClassificationMetrics : IMetricAccumulator
{
    private readonly long[,] _confusion;
    private readonly string[] _labels;
    private readonly CalibrationBins _calibration = new();
    private readonly CalibrationBins? _uncalibrated;
    private LossAverage _loss;

    /// <param name="temperature">
    /// What logits are divided by before the softmax whose confidences the calibration metrics read (a temperature
    /// fitted by <see cref="TemperatureScaling"/>; 1: none). With another temperature than 1 the metrics also
    /// report the calibration error without it.
    /// </param>
    public ClassificationMetrics(LabelMap labels, double temperature = 1) : this(labels.Count, labels.Labels, temperature) { }

    public ClassificationMetrics(int classCount, IReadOnlyList<string>? labelNames = null, double temperature = 1)
    {
        if (!(temperature > 0 && double.IsFinite(temperature))) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be a positive number");
        Temperature = temperature;
        if (temperature != 1) _uncalibrated = new CalibrationBins();
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 1);
        if (labelNames is not null && labelNames.Count != classCount)
            throw new ArgumentException($"{labelNames.Count} label names for {classCount} classes", nameof(labelNames));
        ClassCount = classCount;
        _labels = labelNames?.ToArray() ?? Enumerable.Range(0, classCount).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        _confusion = new long[classCount, classCount];
    }

    public int ClassCount { get; }

    public double Temperature { get; }

    public long ExampleCount { get; private set; }

    /// <summary>The reliability diagram's bins (with the temperature), or null when no confidences were added.</summary>
    public IReadOnlyList<ReliabilityBin>? Reliability => _calibration.Total > 0 ? _calibration.Bins() : null;

    /// <summary>The same without the temperature, when there is one.</summary>
    public IReadOnlyList<ReliabilityBin>? UncalibratedReliability => _uncalibrated is { Total: > 0 } u ? u.Bins() : null;

    /// <summary>Adds one row of logits: its arg max as the prediction, and its confidence to the calibration bins.</summary>
    private void AddRow(ReadOnlySpan<float> logits, int actual)
    {
        var (predicted, confidence) = CalibrationBins.Predict(logits, Temperature);
        Add(predicted, actual);
        _calibration.Add(confidence, predicted == actual);
        if (_uncalibrated is not null)
            _uncalibrated.Add(CalibrationBins.Predict(logits, 1).Confidence, predicted == actual);
    }

    public void Add(int predicted, int actual)
    {
        if ((uint)actual >= (uint)ClassCount)
            throw new ArgumentOutOfRangeException(nameof(actual), actual, $"a class id must be 0 … {ClassCount - 1}");
        if ((uint)predicted >= (uint)ClassCount)
            throw new ArgumentOutOfRangeException(nameof(predicted), predicted, $"a class id must be 0 … {ClassCount - 1}");
        _confusion[actual, predicted]++;
        ExampleCount++;
    }

    public void Add(ReadOnlySpan<int> predicted, ReadOnlySpan<int> actual)
    {
        CheckLengths(predicted.Length, actual.Length);
        for (var i = 0; i < actual.Length; i++) Add(predicted[i], actual[i]);
    }

    /// <summary>Adds a batch of logits (or probabilities), row-major [B, ClassCount]; the prediction is the arg max (first on ties).</summary>
    public void AddLogits(ReadOnlySpan<float> logits, ReadOnlySpan<int> actual)
    {
        CheckLogits(logits.Length, actual.Length);
        for (var i = 0; i < actual.Length; i++) AddRow(logits.Slice(i * ClassCount, ClassCount), actual[i]);
    }

    /// <inheritdoc cref="AddLogits(ReadOnlySpan{float}, ReadOnlySpan{int})"/>
    public void AddLogits(ReadOnlySpan<float> logits, ReadOnlySpan<long> actual)
    {
        CheckLogits(logits.Length, actual.Length);
        for (var i = 0; i < actual.Length; i++)
            AddRow(logits.Slice(i * ClassCount, ClassCount), checked((int)actual[i]));
    }

    public void AddBatch(ReadOnlySpan<float> outputs, IReadOnlyList<LabelTarget> targets)
    {
        CheckLogits(outputs.Length, targets.Count);
        for (var i = 0; i < targets.Count; i++)
        {
            var actual = targets[i] is ClassLabel c ? c.Id
                : throw new ArgumentException($"target {i} is {targets[i]?.GetType().Name ?? "null"}, not a class label", nameof(targets));
            AddRow(outputs.Slice(i * ClassCount, ClassCount), actual);
        }
    }

    public void AddLoss(double meanLoss, int exampleCount) => _loss.Add(meanLoss, exampleCount);

    public void Reset()
    {
        Array.Clear(_confusion);
        ExampleCount = 0;
        _loss.Reset();
        _calibration.Reset();
        _uncalibrated?.Reset();
    }

    public ConfusionMatrix ConfusionMatrix() => new(_labels, _confusion);

    /// <summary>Precision, recall, F1 and support of every class, in id order.</summary>
    public IReadOnlyList<ClassReport> PerClass()
    {
        var (tp, actual, predicted) = Totals();
        return Enumerable.Range(0, ClassCount)
            .Select(c => new ClassReport(_labels[c], Ratio(tp[c], predicted[c]), Ratio(tp[c], actual[c]), F1(tp[c], actual[c], predicted[c]), actual[c]))
            .ToArray();
    }

    public IReadOnlyList<string> Names =>
    [
        MetricNames.Accuracy, MetricNames.PrecisionMacro, MetricNames.RecallMacro, MetricNames.F1Macro, MetricNames.PrecisionMicro,
        MetricNames.RecallMicro, MetricNames.F1Micro, MetricNames.PrecisionWeighted, MetricNames.RecallWeighted, MetricNames.F1Weighted,
        MetricNames.Mcc, .. ClassCount == 2 ? new[] { MetricNames.Precision, MetricNames.Recall, MetricNames.F1 } : [],
        MetricNames.Ece, .. _uncalibrated is null ? Array.Empty<string>() : [MetricNames.EceUncalibrated],
    ];

    public IReadOnlyDictionary<string, double> Compute()
    {
        if (ExampleCount == 0) throw new InvalidOperationException("no examples were added");
        var (tp, actual, predicted) = Totals();
        double n = ExampleCount;
        long correct = tp.Sum();

        var present = Enumerable.Range(0, ClassCount).Where(c => actual[c] + predicted[c] > 0).ToArray();
        var precision = present.Select(c => Ratio(tp[c], predicted[c])).ToArray();
        var recall = present.Select(c => Ratio(tp[c], actual[c])).ToArray();
        var f1 = present.Select(c => F1(tp[c], actual[c], predicted[c])).ToArray();
        var support = present.Select(c => (double)actual[c]).ToArray();

        long predictedPresent = present.Sum(c => predicted[c]);
        long actualPresent = present.Sum(c => actual[c]);

        var metrics = new Dictionary<string, double>
        {
            [MetricNames.Accuracy] = correct / n,
            [MetricNames.PrecisionMacro] = precision.Average(),
            [MetricNames.RecallMacro] = recall.Average(),
            [MetricNames.F1Macro] = f1.Average(),
            [MetricNames.PrecisionMicro] = Ratio(correct, predictedPresent),
            [MetricNames.RecallMicro] = Ratio(correct, actualPresent),
            [MetricNames.F1Micro] = F1(correct, actualPresent, predictedPresent),
            [MetricNames.PrecisionWeighted] = Weighted(precision, support),
            [MetricNames.RecallWeighted] = Weighted(recall, support),
            [MetricNames.F1Weighted] = Weighted(f1, support),
            [MetricNames.Mcc] = Mcc(correct, n, actual, predicted),
        };
        if (ClassCount == 2)
        {
            // Binary tasks also report the positive class alone, as GLUE and scikit-learn's pos_label=1 do: the
            // second label in label order (1, true, spam, ...).
            metrics[MetricNames.Precision] = Ratio(tp[1], predicted[1]);
            metrics[MetricNames.Recall] = Ratio(tp[1], actual[1]);
            metrics[MetricNames.F1] = F1(tp[1], actual[1], predicted[1]);
        }
        if (_calibration.Total > 0) metrics[MetricNames.Ece] = _calibration.Ece;
        if (_uncalibrated is { Total: > 0 }) metrics[MetricNames.EceUncalibrated] = _uncalibrated.Ece;
        _loss.WriteTo(metrics);
        return metrics;
    }

    private (long[] TruePositives, long[] Actual, long[] Predicted) Totals()
    {
        var tp = new long[ClassCount];
        var actual = new long[ClassCount];
        var predicted = new long[ClassCount];
        for (var a = 0; a < ClassCount; a++)
            for (var p = 0; p < ClassCount; p++)
            {
                var count = _confusion[a, p];
                actual[a] += count;
                predicted[p] += count;
                if (a == p) tp[a] = count;
            }
        return (tp, actual, predicted);
    }

    /// <summary>(c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)), with c correct, s total, t_k actual and p_k predicted counts.</summary>
    private static double Mcc(long correct, double total, long[] actual, long[] predicted)
    {
        double sumPt = 0, sumP2 = 0, sumT2 = 0;
        for (var k = 0; k < actual.Length; k++)
        {
            sumPt += (double)predicted[k] * actual[k];
            sumP2 += (double)predicted[k] * predicted[k];
            sumT2 += (double)actual[k] * actual[k];
        }
        var numerator = correct * total - sumPt;
        var denominator = Math.Sqrt((total * total - sumP2) * (total * total - sumT2));
        return denominator == 0 ? 0 : numerator / denominator;
    }

    internal static double Ratio(long numerator, long denominator) => denominator == 0 ? 0 : (double)numerator / denominator;

    /// <summary>2·tp / (actual + predicted): the harmonic mean of precision and recall, 0 when both are 0.</summary>
    internal static double F1(long truePositives, long actual, long predicted) =>
        actual + predicted == 0 ? 0 : 2.0 * truePositives / (actual + predicted);

    private static double Weighted(double[] values, double[] weights)
    {
        var total = weights.Sum();
        if (total == 0) return 0;
        double sum = 0;
        for (var i = 0; i < values.Length; i++) sum += values[i] * weights[i];
        return sum / total;
    }

    private static void CheckLengths(int predicted, int actual)
    {
        if (predicted != actual)
            throw new ArgumentException($"{predicted} predictions for {actual} targets");
    }

    private void CheckLogits(int logits, int actual)
    {
        if (logits != actual * ClassCount)
            throw new ArgumentException($"{logits} logits for {actual} examples of {ClassCount} classes; expected [B, {ClassCount}] row-major");
    }
}
