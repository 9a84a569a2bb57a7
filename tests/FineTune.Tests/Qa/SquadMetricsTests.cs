using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Tests.Ner;

namespace FineTune.Tests.Qa;

public class SquadMetricsTests
{
    [Theory]
    [InlineData("The Cat!", "cat")]
    [InlineData("It's the 1st; (A) test", "its 1st test")]
    [InlineData("New\tYork\n City", "new york city")]
    [InlineData("Élan — the café", "élan — café")]          // only ASCII punctuation is removed
    [InlineData("the-end", "theend")]                        // punctuation goes before articles
    [InlineData("a.m.", "am")]
    [InlineData("Theatre of the absurd", "theatre of absurd")]
    [InlineData("An  apple", "apple")]
    [InlineData("  A  an the  ", "")]
    [InlineData("Denver Broncos", "denver broncos")]
    public void NormalizesAsTheOfficialScript(string text, string expected) =>
        Assert.Equal(expected, SquadScoring.NormalizeAnswer(text));

    [Fact]
    public void ExactMatchAndF1OnHandCases()
    {
        Assert.True(SquadScoring.ExactMatch("The Denver Broncos.", "Denver Broncos"));
        Assert.False(SquadScoring.ExactMatch("Broncos", "Denver Broncos"));
        Assert.Equal(2.0 / 3, SquadScoring.F1("the big cat sat", "a cat sat down"), 12);
        Assert.Equal(0.5, SquadScoring.F1("cat cat cat", "cat"), 12);       // common tokens count at most as often as in the reference
        Assert.Equal(0, SquadScoring.F1("dog", "cat"));
        Assert.Equal(0, SquadScoring.F1("the", "a"));                       // both empty after normalisation: F1 0, exact match 1
        Assert.True(SquadScoring.ExactMatch("the", "a"));
    }

    [Fact]
    public void TakesTheBestOverSeveralReferences()
    {
        Assert.Equal((1.0, 1.0), SquadScoring.Score("Denver", ["Denver Broncos", "Broncos", "Denver"]));
        var (exact, f1) = SquadScoring.Score("Broncos team", ["Denver Broncos", "the Broncos"]);
        Assert.Equal(0, exact);
        Assert.Equal(2.0 / 3, f1, 12);
        Assert.Equal((1.0, 1.0), SquadScoring.Score("", []));
        Assert.Equal((0.0, 0.0), SquadScoring.Score("Paris", []));
    }

    [Fact]
    public void AccumulatesOnTheZeroToHundredScale()
    {
        var metrics = new SquadMetrics();
        metrics.Add("Denver", ["Denver Broncos", "Denver"]);
        metrics.Add("Broncos team", ["Denver Broncos", "the Broncos"]);
        Assert.Equal(50, metrics.ExactMatch, 10);
        Assert.Equal(100 * (1 + 2.0 / 3) / 2, metrics.F1, 10);
        metrics.AddUnanswered();
        Assert.Equal(3, metrics.Questions);
        Assert.Equal(100.0 / 3, metrics.ExactMatch, 10);
        var values = metrics.ToDictionary();
        Assert.Equal(["exact_match", "f1"], values.Keys);
        Assert.Equal(metrics.F1, values["f1"]);
        Assert.Equal(0, new SquadMetrics().F1);
    }

    [Theory]
    // Expected values computed with the official SQuAD v1.1 evaluation logic on the same predictions.
    [InlineData("xquad", 1190, 7.310924369747899, 53.011426934651595)]
    [InlineData("squad", 10570, 15.099337748344372, 57.0614928728279)]
    public void MatchesTheOfficialScriptOnRealQuestions(string which, int questions, double exactMatch, double f1)
    {
        var examples = SquadReader.Read(which == "xquad" ? DataFiles.XquadEn : DataFiles.SquadDev).Examples;
        var metrics = new SquadMetrics();
        var perfect = new SquadMetrics();
        foreach (var example in examples)
        {
            var references = example.Answers.Select(a => a.Text).ToArray();
            // A deliberately imperfect prediction: the first reference without its first word, or the context's start.
            var parts = references[0].Split(' ');
            var prediction = parts.Length > 1 ? string.Join(' ', parts.Skip(1)) : example.Context[..Math.Min(20, example.Context.Length)];
            metrics.Add(prediction, references);
            perfect.Add(references[0], references);
        }
        Assert.Equal(questions, metrics.Questions);
        Assert.Equal(exactMatch, metrics.ExactMatch, 9);
        Assert.Equal(f1, metrics.F1, 9);
        Assert.Equal(100, perfect.ExactMatch, 9);
        Assert.Equal(100, perfect.F1, 9);
    }
}
