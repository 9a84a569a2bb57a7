using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Tests.Robustness;

/// <summary>Data a loss cannot learn from stops at loading; the metric names a run can pick from are known before it evaluates.</summary>
public class LearnabilityTests
{
    private static TextDataset Load(TestSupport.TempDir dir, string content, LabelKind kind, ColumnMapping? columns = null)
    {
        var file = dir.File("train.csv");
        File.WriteAllText(file, content);
        return DatasetLoader.Load(new DatasetFiles(file), new DatasetOptions { Columns = columns ?? new ColumnMapping { Text = "text", Label = "label" } }, kind);
    }

    private static string Rows(int n, Func<int, string> label) =>
        "text,label\n" + string.Concat(Enumerable.Range(0, n).Select(i => $"message number {i},{label(i)}\n"));

    [Fact]
    public void OneClassIsAnError()
    {
        using var dir = new TestSupport.TempDir();
        var e = Assert.Throws<DataException>(() => Load(dir, Rows(30, _ => "ham"), LabelKind.Class));
        Assert.Equal($"{dir.File("train.csv")}: column 'label': all 30 training examples have the label 'ham': a classifier needs examples of at least two classes", e.Message);
    }

    [Fact]
    public void ALabelPerRowIsAnErrorAndMostlySingleExampleClassesAWarning()
    {
        using var dir = new TestSupport.TempDir();
        var e = Assert.Throws<DataException>(() => Load(dir, Rows(30, i => $"id{i}"), LabelKind.Class));
        Assert.Contains("each of the 30 training examples has a label of its own (30 classes): is this an id or text column rather than the label?", e.Message);

        // 30 rows, 22 classes of which 8 have two examples and 14 one: a warning, not an error.
        var data = Load(dir, Rows(30, i => i < 16 ? $"c{i / 2}" : $"c{i - 8}"), LabelKind.Class);
        Assert.Equal(["14 of the 22 classes have a single training example; a classifier learns little about them"], data.Summary.Warnings);
        // Small files are not second-guessed.
        Assert.Equal(3, Load(dir, Rows(3, i => $"c{i}"), LabelKind.Class).Train.Count);
    }

    [Fact]
    public void AConstantTargetIsAnError()
    {
        using var dir = new TestSupport.TempDir();
        var e = Assert.Throws<DataException>(() => Load(dir, Rows(12, _ => "2.5"), LabelKind.Number));
        Assert.Equal($"{dir.File("train.csv")}: column 'label': all 12 training targets are 2.5: there is nothing to learn", e.Message);
        Assert.Equal(12, Load(dir, Rows(12, i => i == 5 ? "2.0" : "2.5"), LabelKind.Number).Train.Count);
    }

    [Fact]
    public void MultiLabelColumnsThatAreNeverOrAlwaysOnAreWarnedAbout()
    {
        using var dir = new TestSupport.TempDir();
        var content = "text,joy,anger,fear\n" + string.Concat(Enumerable.Range(0, 10).Select(i => $"text {i},1,{i % 2},0\n"));
        var data = Load(dir, content, LabelKind.Classes, new ColumnMapping { Text = "text", LabelColumns = ["joy", "anger", "fear"] });
        Assert.Equal(
            ["1 label(s) never occur in the training data (fear): the model will never predict them", "1 label(s) are on every training example (joy): the model learns nothing about them"],
            data.Summary.Warnings);
        var none = "text,joy,anger\n" + string.Concat(Enumerable.Range(0, 4).Select(i => $"text {i},0,0\n"));
        var e = Assert.Throws<DataException>(() => Load(dir, none, LabelKind.Classes, new ColumnMapping { Text = "text", LabelColumns = ["joy", "anger"] }));
        Assert.Contains("no training example has any of the 2 labels", e.Message);
    }

    [Theory]
    [InlineData(2, 1.0)]
    [InlineData(3, 1.0)]
    [InlineData(2, 1.7)]
    public void ClassificationMetricNamesAreTheOnesComputed(int classes, double temperature)
    {
        var labels = LabelMap.FromOrdered(Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray());
        var metrics = new ClassificationMetrics(labels, temperature);
        metrics.AddBatch(Enumerable.Range(0, classes * classes).Select(i => (float)(i % (classes + 1))).ToArray(),
            Enumerable.Range(0, classes).Select(c => (LabelTarget)new ClassLabel(c)).ToList());
        Assert.Equal(metrics.Names.Order(), metrics.Compute().Keys.Order());
    }

    [Fact]
    public void MultiLabelRegressionEntityAndSquadMetricNamesAreTheOnesComputed()
    {
        var multi = new MultiLabelMetrics(LabelMap.FromOrdered(["a", "b"]), 0.5);
        multi.AddBatch([2f, -1f, -3f, 4f], [new MultiLabelTargets([1f, 0f]), new MultiLabelTargets([1f, 1f])]);
        Assert.Equal(multi.Names.Order(), multi.Compute().Keys.Order());

        var regression = new RegressionMetrics();
        regression.AddBatch([1f, 2f, 4f], [new RegressionTarget(1.5f), new RegressionTarget(2f), new RegressionTarget(3f)]);
        Assert.Equal(regression.Names.Order(), regression.Compute().Keys.Order());

        var entities = new EntityMetrics();
        entities.Add(["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "O"]);
        Assert.Equal(EntityMetrics.Names(["LOC", "PER"]).Order(), entities.ToDictionary().Keys.Order());

        var squad = new SquadMetrics();
        squad.Add("Denver Broncos", ["Denver Broncos", "The Broncos"]);
        Assert.Equal(SquadMetrics.Names.Order(), squad.ToDictionary().Keys.Order());
    }
}
