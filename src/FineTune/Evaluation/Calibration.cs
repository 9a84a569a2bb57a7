using System.Text.Json.Serialization;

namespace FineTune.Evaluation;

/// <summary>
/// One bin of a reliability diagram: the predictions whose confidence (the probability of the predicted class) lies
/// in (<see cref="Lower"/>, <see cref="Upper"/>], how many there are, their mean confidence and their accuracy.
/// </summary>
internal sealed record ReliabilityBin(
    [property: JsonPropertyName("lower")] double Lower,
    [property: JsonPropertyName("upper")] double Upper,
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("confidence")] double Confidence,
    [property: JsonPropertyName("accuracy")] double Accuracy);

/// <summary>
/// Confidence against accuracy, streamed: equal-width bins over [0, 1] of each prediction's confidence, counting
/// predictions, summing confidences and correct ones. The expected calibration error (Guo et al. 2017) is
/// Σ_b (n_b / N) · |accuracy_b − confidence_b|. A confidence c falls in the bin (k/B, (k+1)/B] that holds it (0 in
/// the first bin), as scikit-learn's calibration_curve bins with strategy="uniform".
/// </summary>
internal sealed class CalibrationBins
{
    /// <summary>The number of bins of the reported ECE and reliability diagram.</summary>
    public const int DefaultCount = 15;

    private readonly long[] _count;
    private readonly double[] _confidence;
    private readonly long[] _correct;

    public CalibrationBins(int bins = DefaultCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        _count = new long[bins];
        _confidence = new double[bins];
        _correct = new long[bins];
    }

    public long Total => _count.Sum();

    /// <summary>The bin of a confidence: the number of inner edges k/B below it.</summary>
    public int BinOf(double confidence)
    {
        int bins = _count.Length, bin = 0;
        while (bin < bins - 1 && (double)(bin + 1) / bins < confidence) bin++;
        return bin;
    }

    public void Add(double confidence, bool correct)
    {
        int b = BinOf(confidence);
        _count[b]++;
        _confidence[b] += confidence;
        if (correct) _correct[b]++;
    }

    /// <summary>The expected calibration error; 0 with nothing added.</summary>
    public double Ece
    {
        get
        {
            long total = Total;
            if (total == 0) return 0;
            double ece = 0;
            for (int b = 0; b < _count.Length; b++)
                if (_count[b] > 0)
                    ece += (double)_count[b] / total * Math.Abs((double)_correct[b] / _count[b] - _confidence[b] / _count[b]);
            return ece;
        }
    }

    /// <summary>Every bin, empty ones included (count 0, confidence and accuracy 0).</summary>
    public IReadOnlyList<ReliabilityBin> Bins() => Enumerable.Range(0, _count.Length).Select(b => new ReliabilityBin(
        (double)b / _count.Length, (double)(b + 1) / _count.Length, _count[b],
        _count[b] > 0 ? _confidence[b] / _count[b] : 0, _count[b] > 0 ? (double)_correct[b] / _count[b] : 0)).ToList();

    public void Reset()
    {
        Array.Clear(_count);
        Array.Clear(_confidence);
        Array.Clear(_correct);
    }

    /// <summary>The arg-max class of a row of logits and its probability under softmax(logits / <paramref name="temperature"/>), in double precision.</summary>
    public static (int Class, double Confidence) Predict(ReadOnlySpan<float> logits, double temperature)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp(((double)logits[i] - logits[best]) / temperature);
        return (best, 1 / sum);
    }
}

/// <summary>
/// Temperature scaling (Guo et al. 2017): one number T that divides every logit, fitted on held-out data by
/// minimising the negative log-likelihood; it changes confidences, never the predicted class.
/// </summary>
internal static class TemperatureScaling
{
    /// <summary>The range the fitted temperature is kept in (a model that separates its data perfectly would push T to 0).</summary>
    public const double Min = 1e-3, Max = 1e3;

    /// <summary>
    /// The temperature that minimises the mean NLL of <paramref name="labels"/> under softmax(logits / T). In β = 1/T
    /// the NLL is convex (a log-sum-exp of linear functions, minus a linear one), and its derivative
    /// mean(E_p[z] − z_label) increases with β: the root is found by bisection on log β, to double precision.
    /// </summary>
    public static double Fit(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels)
    {
        if (logits.Count == 0) throw new ArgumentException("no examples to fit a temperature on", nameof(logits));
        if (logits.Count != labels.Count) throw new ArgumentException($"{logits.Count} rows of logits for {labels.Count} labels", nameof(labels));
        double lo = Math.Log(1 / Max), hi = Math.Log(1 / Min);
        if (Slope(logits, labels, Math.Exp(lo)) >= 0) return Max;
        if (Slope(logits, labels, Math.Exp(hi)) <= 0) return Min;
        for (int i = 0; i < 200 && hi - lo > 1e-13; i++)
        {
            double mid = (lo + hi) / 2;
            if (Slope(logits, labels, Math.Exp(mid)) < 0) lo = mid;
            else hi = mid;
        }
        return 1 / Math.Exp((lo + hi) / 2);
    }

    /// <summary>The mean negative log-likelihood of the labels under softmax(logits / <paramref name="temperature"/>).</summary>
    public static double Nll(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels, double temperature)
    {
        double sum = 0;
        for (int i = 0; i < logits.Count; i++)
        {
            var z = logits[i];
            double max = z.Max() / temperature, s = 0;
            foreach (var v in z) s += Math.Exp(v / temperature - max);
            sum += max + Math.Log(s) - z[labels[i]] / temperature;
        }
        return sum / logits.Count;
    }

    /// <summary>d NLL / d β at <paramref name="beta"/>: the mean over examples of E_softmax(βz)[z] − z_label.</summary>
    private static double Slope(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels, double beta)
    {
        double sum = 0;
        for (int i = 0; i < logits.Count; i++)
        {
            var z = logits[i];
            double max = z.Max(), weights = 0, weighted = 0;
            foreach (var v in z)
            {
                double w = Math.Exp(beta * (v - max));
                weights += w;
                weighted += w * v;
            }
            sum += weighted / weights - z[labels[i]];
        }
        return sum / logits.Count;
    }
}

/// <summary>
/// How well a split's confidences match its accuracy: the ECE and reliability bins with the model's temperature and,
/// when it has one other than 1, the same without it.
/// </summary>
internal sealed record CalibrationReport(
    [property: JsonPropertyName("temperature")] double Temperature,
    [property: JsonPropertyName("ece")] double Ece,
    [property: JsonPropertyName("bins")] IReadOnlyList<ReliabilityBin> Bins,
    [property: JsonPropertyName("ece_uncalibrated")] double? EceUncalibrated = null,
    [property: JsonPropertyName("bins_uncalibrated")] IReadOnlyList<ReliabilityBin>? BinsUncalibrated = null)
{
    /// <summary>The report of a classification accumulator, or null when it saw no confidences.</summary>
    public static CalibrationReport? Of(ClassificationMetrics metrics)
    {
        if (metrics.Reliability is not { } bins) return null;
        var all = metrics.Compute();
        return new CalibrationReport(metrics.Temperature, all[MetricNames.Ece], bins,
            all.TryGetValue(MetricNames.EceUncalibrated, out var u) ? u : null, metrics.UncalibratedReliability);
    }
}
