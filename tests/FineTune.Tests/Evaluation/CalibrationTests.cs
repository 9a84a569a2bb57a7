using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Tests.Evaluation;

public class CalibrationTests
{
    [Fact]
    public void EceIsTheCountWeightedGapBetweenAccuracyAndConfidencePerBin()
    {
        var bins = new CalibrationBins();
        // Bin (13/15, 14/15]: 0.9 right, 0.9 wrong -> accuracy 0.5, confidence 0.9. Bin (8/15, 9/15]: 0.6 right -> 1 vs 0.6.
        bins.Add(0.9, true);
        bins.Add(0.9, false);
        bins.Add(0.6, true);
        bins.Add(0.3, true);   // (4/15, 5/15]: 1 vs 0.3
        Assert.Equal(2.0 / 4 * 0.4 + 1.0 / 4 * 0.4 + 1.0 / 4 * 0.7, bins.Ece, 12);
        var used = bins.Bins().Where(b => b.Count > 0).ToList();
        Assert.Equal([4, 8, 13], used.Select(b => (int)Math.Round(b.Lower * 15)));
        // A confidence on an edge belongs to the bin below it, (k/B, (k+1)/B], as scikit-learn's calibration_curve bins.
        Assert.Equal(1, bins.BinOf(2.0 / 15));
        Assert.Equal(2, bins.BinOf(2.0 / 15 + 1e-12));
        Assert.Equal(0, bins.BinOf(0));
        Assert.Equal(14, bins.BinOf(1));
    }

    [Fact]
    public void ClassificationMetricsReportEceWithAndWithoutTheTemperature()
    {
        var labels = LabelMap.FromOrdered(["a", "b"]);
        float[] logits = [2, 0, 0, 3, 1, 0, 0, 0.5f];
        ClassLabel[] targets = [new(0), new(1), new(1), new(1)];
        var plain = new ClassificationMetrics(labels);
        plain.AddBatch(logits, targets);
        var scaled = new ClassificationMetrics(labels, temperature: 2);
        scaled.AddBatch(logits, targets);
        var p = plain.Compute();
        var s = scaled.Compute();
        Assert.False(p.ContainsKey(MetricNames.EceUncalibrated));
        Assert.Equal(p[MetricNames.Ece], s[MetricNames.EceUncalibrated], 12);
        Assert.NotEqual(p[MetricNames.Ece], s[MetricNames.Ece]);
        Assert.Equal(p[MetricNames.Accuracy], s[MetricNames.Accuracy]);   // a temperature never changes the predicted class
        Assert.False(MetricNames.HigherIsBetter(MetricNames.Ece));
    }

    /// <summary>Seeded logits of a model that is right about 70% of the time and too sure of itself.</summary>
    private static (List<float[]> Logits, List<int> Labels) Overconfident(int n, int classes, int seed)
    {
        var rng = new Random(seed);
        var logits = new List<float[]>();
        var labels = new List<int>();
        for (int i = 0; i < n; i++)
        {
            int label = rng.Next(classes);
            int favoured = rng.NextDouble() < 0.7 ? label : rng.Next(classes);
            var row = Enumerable.Range(0, classes).Select(c => (float)(rng.NextDouble() * 2 + (c == favoured ? 3 : 0)) * 2.5f).ToArray();
            logits.Add(row);
            labels.Add(label);
        }
        return (logits, labels);
    }

    [Fact]
    public void TheFittedTemperatureMinimisesTheNegativeLogLikelihood()
    {
        var (logits, labels) = Overconfident(400, 3, 1);
        double t = TemperatureScaling.Fit(logits, labels);
        Assert.True(t > 1, $"an overconfident model needs T > 1, got {t}");
        double best = TemperatureScaling.Nll(logits, labels, t);
        // The NLL is smooth with its minimum at t: a step of 1e-3·t either way raises it.
        Assert.True(TemperatureScaling.Nll(logits, labels, t * 1.001) > best && TemperatureScaling.Nll(logits, labels, t * 0.999) > best);
        Assert.True(best < TemperatureScaling.Nll(logits, labels, 1));
        Assert.Throws<ArgumentException>(() => TemperatureScaling.Fit([], []));
    }

    [Fact]
    public void EceAndTemperatureMatchScikitLearnAndScipy()
    {
        if (!ReferencePython.Available()) return;
        var (logits, labels) = Overconfident(600, 4, 2);
        using var dir = new TestSupport.TempDir();
        var input = dir.File("calibration.json");
        // As doubles: each float's exact value (a float's shortest decimal is another number to a double parser).
        File.WriteAllText(input, JsonSerializer.Serialize(new { logits = logits.Select(r => r.Select(v => (double)v)), labels, bins = 15 }));
        var reference = JsonNode.Parse(ReferencePython.Script("calibration.py", input))!;

        var metrics = new ClassificationMetrics(4);
        metrics.AddLogits(logits.SelectMany(r => r).ToArray(), labels.ToArray());
        // Both take the confidences in double precision from the same float logits and sum 600 terms: equal to ~1e-15.
        Assert.Equal(reference["ece"]!.GetValue<double>(), metrics.Compute()[MetricNames.Ece], 12);
        // scipy's bounded minimiser stops within xatol = 1e-10 of its minimum; ours bisects to double precision. The NLL
        // is flat at its minimum, so the two temperatures agree to about the square root of the NLL's rounding (~1e-8).
        double t = TemperatureScaling.Fit(logits, labels);
        Assert.Equal(reference["temperature"]!.GetValue<double>(), t, 6);
        Assert.Equal(reference["nll_t"]!.GetValue<double>(), TemperatureScaling.Nll(logits, labels, t), 10);
        Assert.Equal(reference["nll_1"]!.GetValue<double>(), TemperatureScaling.Nll(logits, labels, 1), 10);
    }
}
