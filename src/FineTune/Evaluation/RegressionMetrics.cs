using FineTune.Data;

namespace FineTune.Evaluation;

/// <summary>
/// Regression metrics. The (prediction, target) pairs are kept (8 bytes an example), because Spearman's rank
/// correlation needs all of them; everything else would stream.
/// <para>
/// R² is 1 − SS_res / SS_tot; when the targets are all equal it is 1 for a perfect prediction and 0 otherwise
/// (scikit-learn's finite convention). Pearson and Spearman are 0 when undefined (constant predictions or targets).
/// Spearman ranks tied values by the mean of their positions.
/// </para>
/// </summary>
internal sealed class RegressionMetrics : IMetricAccumulator
{
    private readonly List<float> _predictions = [];
    private readonly List<float> _targets = [];
    private LossAverage _loss;

    public long ExampleCount => _targets.Count;

    public void Add(ReadOnlySpan<float> predictions, ReadOnlySpan<float> targets)
    {
        if (predictions.Length != targets.Length)
            throw new ArgumentException($"{predictions.Length} predictions for {targets.Length} targets");
        foreach (var p in predictions) _predictions.Add(p);
        foreach (var t in targets) _targets.Add(t);
    }

    /// <summary>Outputs are [B] or [B, 1].</summary>
    public void AddBatch(ReadOnlySpan<float> outputs, IReadOnlyList<LabelTarget> targets)
    {
        var values = new float[targets.Count];
        for (var i = 0; i < values.Length; i++)
            values[i] = targets[i] is RegressionTarget r ? r.Value
                : throw new ArgumentException($"target {i} is {targets[i]?.GetType().Name ?? "null"}, not a regression target", nameof(targets));
        Add(outputs, values);
    }

    public void AddLoss(double meanLoss, int exampleCount) => _loss.Add(meanLoss, exampleCount);

    public void Reset()
    {
        _predictions.Clear();
        _targets.Clear();
        _loss.Reset();
    }

    public IReadOnlyList<string> Names => [MetricNames.Mse, MetricNames.Mae, MetricNames.Rmse, MetricNames.R2, MetricNames.Pearson, MetricNames.Spearman];

    public IReadOnlyDictionary<string, double> Compute()
    {
        var n = _targets.Count;
        if (n == 0) throw new InvalidOperationException("no examples were added");
        var p = _predictions.Select(v => (double)v).ToArray();
        var t = _targets.Select(v => (double)v).ToArray();

        double squared = 0, absolute = 0;
        for (var i = 0; i < n; i++)
        {
            var e = p[i] - t[i];
            squared += e * e;
            absolute += Math.Abs(e);
        }
        var meanTarget = t.Average();
        var total = t.Sum(v => (v - meanTarget) * (v - meanTarget));
        var r2 = total == 0 ? (squared == 0 ? 1 : 0) : 1 - squared / total;

        var metrics = new Dictionary<string, double>
        {
            [MetricNames.Mse] = squared / n,
            [MetricNames.Mae] = absolute / n,
            [MetricNames.Rmse] = Math.Sqrt(squared / n),
            [MetricNames.R2] = r2,
            [MetricNames.Pearson] = Pearson(p, t),
            [MetricNames.Spearman] = Pearson(Ranks(p), Ranks(t)),
        };
        _loss.WriteTo(metrics);
        return metrics;
    }

    internal static double Pearson(double[] x, double[] y)
    {
        var mx = x.Average();
        var my = y.Average();
        double sxy = 0, sxx = 0, syy = 0;
        for (var i = 0; i < x.Length; i++)
        {
            var dx = x[i] - mx;
            var dy = y[i] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        return sxx == 0 || syy == 0 ? 0 : Math.Clamp(sxy / Math.Sqrt(sxx * syy), -1, 1);
    }

    /// <summary>1-based ranks; tied values get the mean of the ranks they span.</summary>
    internal static double[] Ranks(double[] values)
    {
        var order = Enumerable.Range(0, values.Length).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Length];
        for (var start = 0; start < order.Length;)
        {
            var end = start + 1;
            while (end < order.Length && values[order[end]] == values[order[start]]) end++;
            var rank = (start + 1 + end) / 2.0; // mean of start+1 … end
            for (var k = start; k < end; k++) ranks[order[k]] = rank;
            start = end;
        }
        return ranks;
    }
}
