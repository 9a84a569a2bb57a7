using FineTune.Data;

namespace FineTune.Tests.Data;

public class DatasetSplitterTests
{
    private static TextExample[] Examples(params int[] classSizes)
    {
        var list = new List<TextExample>();
        var row = 2;
        // Interleave the classes so file order and class are unrelated.
        var remaining = classSizes.ToArray();
        while (remaining.Any(r => r > 0))
            for (var c = 0; c < remaining.Length; c++)
                if (remaining[c]-- > 0)
                    list.Add(new TextExample($"text {row}", null, new ClassLabel(c), "f.csv", row++));
        return list.ToArray();
    }

    [Fact]
    public void StratifiedSplitKeepsEachClassShareExactly()
    {
        var examples = Examples(600, 300, 100);
        var split = DatasetSplitter.Split(examples, validationFraction: 0.1, testFraction: 0.2, seed: 1);

        Assert.Equal(100, split.Validation.Count);
        Assert.Equal(200, split.Test.Count);
        Assert.Equal(700, split.Train.Count);
        Assert.Equal([60, 30, 10], Count(split.Validation, 3));
        Assert.Equal([120, 60, 20], Count(split.Test, 3));
        Assert.Equal([420, 210, 70], Count(split.Train, 3));

        var all = split.Train.Concat(split.Validation).Concat(split.Test).Select(e => e.SourceRow).Order();
        Assert.Equal(examples.Select(e => e.SourceRow), all);
        foreach (var part in new[] { split.Train, split.Validation, split.Test })
            Assert.True(part.Zip(part.Skip(1)).All(p => p.First.SourceRow < p.Second.SourceRow), "file order is kept");
    }

    [Fact]
    public void StratifiedRoundingAddsUpByLargestRemainder()
    {
        // 10 % of 7/2/1: exact shares 0.7/0.2/0.1 of 1 example; the largest remainder (class 0) gets it.
        var split = DatasetSplitter.Split(Examples(7, 2, 1), 0.1, 0, seed: 5);
        Assert.Equal([1, 0, 0], Count(split.Validation, 3));
        Assert.Equal([3, 3, 1], DatasetSplitter.Apportion(7, [5, 5, 2]));
        Assert.Equal([2, 1, 1], DatasetSplitter.Apportion(4, [3, 3, 2])); // remainders 0.5/0.5/0: ties to the lower id
    }

    [Fact]
    public void SameSeedSameSplitOtherSeedOtherSplit()
    {
        var examples = Examples(50, 50);
        Assert.Equal(Ids(DatasetSplitter.Split(examples, 0.2, 0.2, seed: 42)), Ids(DatasetSplitter.Split(examples, 0.2, 0.2, seed: 42)));
        Assert.NotEqual(Ids(DatasetSplitter.Split(examples, 0.2, 0.2, seed: 42)), Ids(DatasetSplitter.Split(examples, 0.2, 0.2, seed: 43)));
    }

    [Fact]
    public void UnstratifiedSplitForOtherTargets()
    {
        var examples = Enumerable.Range(0, 95).Select(i => new TextExample("t", null, new RegressionTarget(i), "f", i + 1)).ToArray();
        var split = DatasetSplitter.Split(examples, 0.1, 0.05, seed: 9);
        Assert.Equal((10, 5, 80), (split.Validation.Count, split.Test.Count, split.Train.Count)); // ceil(9.5), ceil(4.75)
        Assert.Equal(95, split.Train.Concat(split.Validation).Concat(split.Test).Select(e => e.SourceRow).Distinct().Count());
    }

    [Fact]
    public void FractionsThatLeaveNothingToTrainOnAreRejected()
    {
        Assert.Throws<ArgumentException>(() => DatasetSplitter.Split(Examples(5), 0.5, 0.5, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => DatasetSplitter.Split(Examples(5), -0.1, 0, 0));
        var e = Assert.Throws<OptionException>(() => DatasetSplitter.Split(Examples(2), 0.4, 0.4, 0));
        Assert.Equal("DatasetOptions.ValidationFraction: 2 examples are too few to hold out 1 for validation and 1 for test and keep any for training", e.Message);
    }

    private static int[] Count(IReadOnlyList<TextExample> examples, int classes)
    {
        var counts = new int[classes];
        foreach (var e in examples) counts[e.ClassId]++;
        return counts;
    }

    private static string Ids(DatasetSplit split) =>
        string.Join(",", split.Validation.Select(e => e.SourceRow)) + "|" + string.Join(",", split.Test.Select(e => e.SourceRow));
}
