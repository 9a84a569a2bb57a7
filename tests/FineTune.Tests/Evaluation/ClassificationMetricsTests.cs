using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Tests.Evaluation;

public class ClassificationMetricsTests
{
    // Three classes, ten examples. Confusion matrix (rows actual, columns predicted):
    //   [2 1 1]   support t = [4 3 3]
    //   [1 2 0]   predicted p = [3 4 3]
    //   [0 1 2]   true positives = [2 2 2]
    private static readonly int[] Actual = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
    private static readonly int[] Predicted = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1];

    [Fact]
    public void ThreeClassExample_HandComputed()
    {
        var metrics = new ClassificationMetrics(3);
        metrics.Add(Predicted, Actual);
        var m = metrics.Compute();

        Assert.Equal(0.6, m["accuracy"], 12);
        Assert.Equal(11.0 / 18, m["precision_macro"], 12);   // (2/3 + 2/4 + 2/3) / 3
        Assert.Equal(11.0 / 18, m["recall_macro"], 12);      // (2/4 + 2/3 + 2/3) / 3
        Assert.Equal(38.0 / 63, m["f1_macro"], 12);          // (4/7 + 4/7 + 4/6) / 3
        Assert.Equal(37.0 / 60, m["precision_weighted"], 12); // (4·2/3 + 3·2/4 + 3·2/3) / 10
        Assert.Equal(0.6, m["recall_weighted"], 12);
        Assert.Equal(0.6, m["f1_weighted"], 12);             // (4·4/7 + 3·4/7 + 3·4/6) / 10
        Assert.Equal(0.6, m["precision_micro"], 12);
        Assert.Equal(0.6, m["recall_micro"], 12);
        Assert.Equal(0.6, m["f1_micro"], 12);
        Assert.Equal(27.0 / 66, m["mcc"], 12);               // (6·10 − 33) / √((100 − 34)(100 − 34))
        Assert.False(m.ContainsKey("loss"));

        var cm = metrics.ConfusionMatrix();
        Assert.Equal(new long[,] { { 2, 1, 1 }, { 1, 2, 0 }, { 0, 1, 2 } }, cm.ToArray());
        Assert.Equal(10, cm.Total);

        var report = metrics.PerClass();
        Assert.Equal(new ClassReport("0", 2.0 / 3, 0.5, 4.0 / 7, 4), report[0]);
        Assert.Equal(new ClassReport("1", 0.5, 2.0 / 3, 4.0 / 7, 3), report[1]);
        Assert.Equal(new ClassReport("2", 2.0 / 3, 2.0 / 3, 2.0 / 3, 3), report[2]);
    }

    [Fact]
    public void BinaryMccAndF1()
    {
        // tp 3, fn 1, fp 2, tn 4: MCC = (3·4 − 2·1) / √(5·4·6·5)
        var metrics = new ClassificationMetrics(2);
        metrics.Add([1, 1, 1, 0, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
        var m = metrics.Compute();
        Assert.Equal(10 / Math.Sqrt(600), m["mcc"], 12);
        Assert.Equal(0.7, m["accuracy"], 12);
        var positive = metrics.PerClass()[1];
        Assert.Equal((0.6, 0.75, 2.0 / 3), (positive.Precision, positive.Recall, positive.F1));
        // Two classes: the positive class (the second label) is also reported alone, as GLUE's MRPC F1.
        Assert.Equal(0.6, m["precision"], 12);
        Assert.Equal(0.75, m["recall"], 12);
        Assert.Equal(2.0 / 3, m["f1"], 12);
    }

    [Fact]
    public void MoreThanTwoClassesHaveNoPositiveClassMetrics()
    {
        var metrics = new ClassificationMetrics(3);
        metrics.Add([0, 1, 2, 2], [0, 1, 1, 2]);
        var m = metrics.Compute();
        Assert.False(m.ContainsKey("f1"));
        Assert.Equal(0.75, m["accuracy"], 12);
    }

    [Fact]
    public void MatchesAnIndependentReferenceOnRandomData()
    {
        var random = new Random(17);
        const int k = 5, n = 997;
        var actual = Enumerable.Range(0, n).Select(_ => random.Next(k - 1)).ToArray(); // class 4 never occurs as actual
        var predicted = actual.Select(a => random.NextDouble() < 0.6 ? a : random.Next(k)).ToArray();
        var metrics = new ClassificationMetrics(k);
        metrics.Add(predicted, actual);
        var m = metrics.Compute();

        // scikit-learn's definitions, written out per class over the labels present in actual ∪ predicted.
        var labels = actual.Concat(predicted).Distinct().Order().ToArray();
        double P(int c) { var tp = Tp(c); var pc = predicted.Count(p => p == c); return pc == 0 ? 0 : (double)tp / pc; }
        double R(int c) { var tc = actual.Count(a => a == c); return tc == 0 ? 0 : (double)Tp(c) / tc; }
        double F(int c) => P(c) + R(c) == 0 ? 0 : 2 * P(c) * R(c) / (P(c) + R(c));
        int Tp(int c) => actual.Zip(predicted).Count(x => x.First == c && x.Second == c);
        double Support(int c) => actual.Count(a => a == c);

        Assert.Equal(actual.Zip(predicted).Count(x => x.First == x.Second) / (double)n, m["accuracy"], 12);
        Assert.Equal(labels.Average(P), m["precision_macro"], 12);
        Assert.Equal(labels.Average(R), m["recall_macro"], 12);
        Assert.Equal(labels.Average(F), m["f1_macro"], 12);
        Assert.Equal(labels.Sum(c => P(c) * Support(c)) / n, m["precision_weighted"], 12);
        Assert.Equal(labels.Sum(c => F(c) * Support(c)) / n, m["f1_weighted"], 12);
        Assert.Equal(m["accuracy"], m["f1_micro"], 12);

        // MCC from the covariance form: cov(X, Y) / √(cov(X, X) cov(Y, Y)) over one-hot rows.
        double Cov(int[] x, int[] y)
        {
            double sum = 0;
            for (var c = 0; c < k; c++)
            {
                var mx = x.Count(v => v == c) / (double)n;
                var my = y.Count(v => v == c) / (double)n;
                for (var i = 0; i < n; i++) sum += ((x[i] == c ? 1 : 0) - mx) * ((y[i] == c ? 1 : 0) - my);
            }
            return sum;
        }
        Assert.Equal(Cov(actual, predicted) / Math.Sqrt(Cov(actual, actual) * Cov(predicted, predicted)), m["mcc"], 12);
    }

    [Fact]
    public void ClassesAbsentFromBothSidesAreLeftOutOfMacroAverages()
    {
        var metrics = new ClassificationMetrics(4);
        metrics.Add([0, 1, 1], [0, 1, 0]);
        var m = metrics.Compute();
        Assert.Equal((1.0 + 0.5) / 2, m["precision_macro"], 12); // classes 0 and 1 only
        Assert.Equal(4, metrics.PerClass().Count);
        Assert.Equal(0, metrics.PerClass()[3].Support);
    }

    [Fact]
    public void SeveralBatchesEqualOneBatch_AndLossIsWeightedByExamples()
    {
        var labels = LabelMap.FromOrdered(["a", "b", "c"]);
        var logits = Predicted.SelectMany(p => Enumerable.Range(0, 3).Select(c => c == p ? 2f : -1f)).ToArray();
        var targets = Actual.Select(a => (LabelTarget)new ClassLabel(a)).ToArray();

        var whole = (IMetricAccumulator)new ClassificationMetrics(labels);
        whole.AddBatch(logits, targets);
        whole.AddLoss(0.9, 10);

        var batched = (IMetricAccumulator)new ClassificationMetrics(labels);
        int[] sizes = [4, 4, 2];
        double[] losses = [1.0, 1.0, 0.5];
        var start = 0;
        for (var b = 0; b < sizes.Length; b++)
        {
            batched.AddBatch(logits.AsSpan(start * 3, sizes[b] * 3), targets[start..(start + sizes[b])]);
            batched.AddLoss(losses[b], sizes[b]);
            start += sizes[b];
        }

        Assert.Equal(10, batched.ExampleCount);
        Assert.Equal(whole.Compute(), batched.Compute());
        Assert.Equal(0.9, batched.Compute()["loss"], 12); // (4·1 + 4·1 + 2·0.5) / 10, not the last batch's 0.5

        // The last batch alone would have said otherwise.
        var last = new ClassificationMetrics(labels);
        last.AddBatch(logits.AsSpan(8 * 3), targets[8..]);
        Assert.NotEqual(whole.Compute()["accuracy"], last.Compute()["accuracy"]);
    }

    [Fact]
    public void LogitsArgMaxAndLabelNames()
    {
        var metrics = new ClassificationMetrics(LabelMap.FromOrdered(["neg", "pos"]));
        metrics.AddLogits([0.1f, 0.9f, 3f, -1f, 0.5f, 0.5f], new long[] { 1, 0, 1 });
        Assert.Equal(2.0 / 3, metrics.Compute()["accuracy"], 12); // the tie picks the first class
        Assert.Equal(["neg", "pos"], metrics.ConfusionMatrix().Labels);
        Assert.Equal("pos", metrics.PerClass()[1].Label);
    }

    [Fact]
    public void ResetAndBadInput()
    {
        var metrics = new ClassificationMetrics(2);
        Assert.Throws<InvalidOperationException>(() => metrics.Compute());
        metrics.Add([0], [0]);
        metrics.Reset();
        Assert.Equal(0, metrics.ExampleCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.Add(0, 2));
        Assert.Throws<ArgumentException>(() => metrics.AddLogits([1f, 2f, 3f], new[] { 0 }));
        Assert.Throws<ArgumentException>(() => metrics.AddBatch([1f, 2f], [new RegressionTarget(1)]));
    }
}
