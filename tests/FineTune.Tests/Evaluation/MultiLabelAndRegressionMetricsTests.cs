using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Tests.Evaluation;

public class MultiLabelMetricsTests
{
    // Four examples, three labels.
    private static readonly float[] Targets = [1, 0, 1, /**/ 0, 1, 0, /**/ 1, 1, 0, /**/ 0, 0, 1];
    private static readonly bool[] Predicted = [true, false, false, /**/ false, true, false, /**/ true, false, true, /**/ false, false, true];

    [Fact]
    public void HandComputed()
    {
        var metrics = new MultiLabelMetrics(3);
        metrics.AddPredictions(Predicted, Targets);
        var m = metrics.Compute();

        // label 0: tp 2; label 1: tp 1, fn 1; label 2: tp 1, fp 1, fn 1. Pooled: tp 4, fp 1, fn 2.
        Assert.Equal(8.0 / 11, m["f1_micro"], 12);
        Assert.Equal((1 + 2.0 / 3 + 0.5) / 3, m["f1_macro"], 12);
        Assert.Equal(0.8, m["precision_micro"], 12);
        Assert.Equal(4.0 / 6, m["recall_micro"], 12);
        Assert.Equal(0.5, m["subset_accuracy"], 12);
        Assert.Equal(3.0 / 12, m["hamming_loss"], 12);
        Assert.Equal(["f1_micro", "f1_macro", "precision_micro", "recall_micro", "subset_accuracy", "hamming_loss"], m.Keys);

        var report = metrics.PerLabel();
        Assert.Equal(new ClassReport("2", 0.5, 0.5, 0.5, 2), report[2]);
        Assert.Equal(new ClassReport("1", 1, 0.5, 2.0 / 3, 2), report[1]);
    }

    [Fact]
    public void SeveralBatchesOfLogitsEqualOneBatch()
    {
        var labels = LabelMap.FromOrdered(["joy", "anger", "love"]);
        var logits = Predicted.Select(p => p ? 1.5f : -0.3f).ToArray();
        var targets = Targets.Chunk(3).Select(t => (LabelTarget)new MultiLabelTargets(t)).ToArray();

        var whole = (IMetricAccumulator)new MultiLabelMetrics(labels);
        whole.AddBatch(logits, targets);
        whole.AddLoss(0.25, 4);
        var batched = (IMetricAccumulator)new MultiLabelMetrics(labels);
        batched.AddBatch(logits.AsSpan(0, 9), targets[..3]);
        batched.AddLoss(0.2, 3);
        batched.AddBatch(logits.AsSpan(9), targets[3..]);
        batched.AddLoss(0.4, 1);

        Assert.Equal(whole.Compute(), batched.Compute());
        Assert.Equal(0.25, batched.Compute()["loss"], 12);
    }

    [Fact]
    public void ThresholdAppliesToTheSigmoid()
    {
        var strict = new MultiLabelMetrics(1, threshold: 0.9);
        strict.AddLogits([2f], [1f]); // sigmoid(2) = 0.88 < 0.9: not predicted
        Assert.Equal(0, strict.Compute()["subset_accuracy"]);
        var lenient = new MultiLabelMetrics(1);
        lenient.AddLogits([0f], [1f]); // sigmoid(0) = 0.5 reaches 0.5
        Assert.Equal(1, lenient.Compute()["subset_accuracy"]);
    }
}

public class RegressionMetricsTests
{
    [Fact]
    public void HandComputed()
    {
        var metrics = new RegressionMetrics();
        metrics.Add([1, 2, 3, 4], [1, 3, 2, 5]);
        var m = metrics.Compute();

        Assert.Equal(0.75, m["mse"], 12);
        Assert.Equal(0.75, m["mae"], 12);
        Assert.Equal(Math.Sqrt(0.75), m["rmse"], 12);
        Assert.Equal(1 - 3 / 8.75, m["r2"], 12);                 // SS_res 3, SS_tot 8.75
        Assert.Equal(5.5 / Math.Sqrt(5 * 8.75), m["pearson"], 12);
        Assert.Equal(0.8, m["spearman"], 12);                    // 1 − 6·2 / (4·15)
        Assert.Equal(["mse", "mae", "rmse", "r2", "pearson", "spearman"], m.Keys);
    }

    [Fact]
    public void SpearmanAveragesTies()
    {
        Assert.Equal([1, 2.5, 2.5, 4], RegressionMetrics.Ranks([1, 2, 2, 3]));
        Assert.Equal([2, 2, 2], RegressionMetrics.Ranks([7, 7, 7]));
        var metrics = new RegressionMetrics();
        metrics.Add([1, 2, 2, 3], [1, 1, 2, 3]);
        Assert.Equal(3.75 / 4.5, metrics.Compute()["spearman"], 12); // Pearson of ranks [1,2.5,2.5,4] and [1.5,1.5,3,4]
    }

    [Fact]
    public void DegenerateCases()
    {
        var constantTargets = new RegressionMetrics();
        constantTargets.Add([1, 2], [3, 3]);
        var m = constantTargets.Compute();
        Assert.Equal((0.0, 0.0, 0.0), (m["r2"], m["pearson"], m["spearman"]));

        var perfect = new RegressionMetrics();
        perfect.Add([3, 3], [3, 3]);
        Assert.Equal(1.0, perfect.Compute()["r2"]);
    }

    [Fact]
    public void SeveralBatchesEqualOneBatch()
    {
        var random = new Random(3);
        var predictions = Enumerable.Range(0, 50).Select(_ => (float)random.NextDouble() * 5).ToArray();
        var targets = predictions.Select(p => (LabelTarget)new RegressionTarget(MathF.Round(p + (float)random.NextDouble() - 0.5f))).ToArray();

        var whole = (IMetricAccumulator)new RegressionMetrics();
        whole.AddBatch(predictions, targets);
        var batched = (IMetricAccumulator)new RegressionMetrics();
        for (var start = 0; start < 50; start += 16)
        {
            var end = Math.Min(start + 16, 50);
            batched.AddBatch(predictions.AsSpan(start, end - start), targets[start..end]);
        }
        Assert.Equal(whole.Compute(), batched.Compute());
    }
}

public class MetricNamesTests
{
    [Theory]
    [InlineData("accuracy", true)]
    [InlineData("f1_macro", true)]
    [InlineData("mcc", true)]
    [InlineData("pearson", true)]
    [InlineData("spearman", true)]
    [InlineData("r2", true)]
    [InlineData("subset_accuracy", true)]
    [InlineData("loss", false)]
    [InlineData("mse", false)]
    [InlineData("mae", false)]
    [InlineData("rmse", false)]
    [InlineData("hamming_loss", false)]
    [InlineData("eval_loss", false)]
    [InlineData("validation/loss", false)]
    [InlineData("eval_accuracy", true)]
    [InlineData("exact_match", true)]
    public void KnowsWhichWayIsBetter(string metric, bool higherIsBetter)
    {
        Assert.Equal(higherIsBetter, MetricNames.HigherIsBetter(metric));
        Assert.Equal(higherIsBetter, MetricNames.IsImprovement(metric, 2, 1));
    }
}
