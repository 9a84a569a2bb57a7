using FineTune.Data;
using FineTune.Tests.Ner;

namespace FineTune.Tests.Qa;

public class SquadSplitTests
{
    [Fact]
    public void SplitsSquadDevByTitleInFileOrder()
    {
        var examples = SquadReader.Read(DataFiles.SquadDev).Examples;
        var split = QaSplitter.ByTitle(examples, testFraction: 0.2);

        Assert.Equal((38, 0, 10), (split.TrainTitles, split.ValidationTitles, split.TestTitles));
        Assert.Equal((8582, 0, 1988), (split.Train.Count, split.Validation.Count, split.Test.Count));
        var titles = examples.Select(e => e.Title).Distinct().ToArray();
        Assert.Equal(titles[..38], split.Train.Select(e => e.Title).Distinct());
        Assert.Equal(titles[38..], split.Test.Select(e => e.Title).Distinct());
        Assert.Empty(split.Train.Select(e => e.Title).Intersect(split.Test.Select(e => e.Title)));
        Assert.Equal(examples.Select(e => e.Id).Order(), split.Train.Concat(split.Test).Select(e => e.Id).Order());
        Assert.Equal("train 8582 questions (38 titles), validation 0 questions (0 titles), test 1988 questions (10 titles)", split.ToString());
    }

    [Fact]
    public void ValidationTakesTheTitlesBeforeTestAndTheSplitIsDeterministic()
    {
        var examples = SquadReader.Read(DataFiles.SquadDev).Examples;
        var split = QaSplitter.ByTitle(examples, testFraction: 0.2, validationFraction: 0.1);
        Assert.Equal((33, 5, 10), (split.TrainTitles, split.ValidationTitles, split.TestTitles));
        Assert.Equal((7331, 1251, 1988), (split.Train.Count, split.Validation.Count, split.Test.Count));

        var parts = new[] { split.Train, split.Validation, split.Test }.Select(p => p.Select(e => e.Title).ToHashSet()).ToArray();
        Assert.Empty(parts[0].Intersect(parts[1]));
        Assert.Empty(parts[0].Intersect(parts[2]));
        Assert.Empty(parts[1].Intersect(parts[2]));

        var again = QaSplitter.ByTitle(examples, testFraction: 0.2, validationFraction: 0.1);
        Assert.Equal(split.Train.Select(e => e.Id), again.Train.Select(e => e.Id));
        Assert.Equal(split.Validation.Select(e => e.Id), again.Validation.Select(e => e.Id));
        Assert.Equal(split.Test.Select(e => e.Id), again.Test.Select(e => e.Id));
    }

    [Fact]
    public void QuestionsWithoutATitleAreGroupedByContext()
    {
        QaExample Q(string id, string context) => new(id, "", "q?", context, [], "f.jsonl", 1);
        var examples = new[] { Q("1", "A"), Q("2", "B"), Q("3", "A"), Q("4", "C") };
        var split = QaSplitter.ByTitle(examples, testFraction: 0.34);
        Assert.Equal(["1", "3", "2"], split.Train.Select(e => e.Id));
        Assert.Equal(["4"], split.Test.Select(e => e.Id));
    }

    [Fact]
    public void RejectsFractionsThatLeaveNoTraining()
    {
        var examples = SquadReader.Read(DataFiles.XquadEn).Examples;
        Assert.Throws<FineTuneException>(() => QaSplitter.ByTitle(examples, testFraction: 1));
        Assert.Throws<FineTuneException>(() => QaSplitter.ByTitle(examples, testFraction: 0.6, validationFraction: 0.4));
        Assert.Throws<FineTuneException>(() => QaSplitter.ByTitle(examples, testFraction: -0.1));
        Assert.Throws<FineTuneException>(() => QaSplitter.ByTitle(examples.Take(1).ToArray(), testFraction: 0.1));
    }
}
