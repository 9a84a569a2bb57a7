using FineTune.Checkpoints;
using FineTune.Inference;
using FineTune.Tasks;

namespace FineTune.Tests.Ner;

/// <summary>
/// Raw text in, entities with character offsets into the original string out. The models here always predict one
/// tag, so the expected entities are known: with I-PER everywhere one entity covers the text from its first to its
/// last word; with B-PER everywhere every word is an entity.
/// </summary>
public class EntityPredictorTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    private static readonly string[] Tags = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"];

    [Theory]
    [InlineData("Crème   brûlée à Zürich", 0)]
    [InlineData("  Ångström\u00A0and  Dvořák\tmet\r\nin   São  Paulo.  ", 2)]
    [InlineData("ＦＵＬＬＷＩＤＴＨ café naïve 東京 ok", 0)]
    public void OneEntityFromTheFirstToTheLastWordKeepsTheTextBetweenAsItWas(string text, int start)
    {
        using var predictor = EntityPredictor.Load(tiny.ConstantTagger(Tags, "I-PER"));
        var entity = Assert.Single(predictor.Predict(text));
        var expected = text.Trim();
        Assert.Equal(("PER", expected, start, start + expected.Length), (entity.Type, entity.Text, entity.Start, entity.End));
        Assert.InRange(entity.Score, 0.99, 1.0);
    }

    [Fact]
    public void EveryWordIsAnEntityAtItsPlaceInTheOriginalString()
    {
        using var predictor = EntityPredictor.Load(tiny.ConstantTagger(Tags, "B-PER"));
        var text = "Müller  visited   São Paulo, didn't he? I like 😀 and 東京 … Ærø";
        var entities = predictor.Predict(text);
        Assert.Equal(["Müller", "visited", "São", "Paulo", ",", "didn", "'", "t", "he", "?", "I", "like", "😀", "and", "東", "京", "…", "Ærø"],
            entities.Select(e => e.Text));
        Assert.All(entities, e => Assert.Equal(text[e.Start..e.End], e.Text));
        Assert.Equal(text.IndexOf("São", StringComparison.Ordinal), entities[2].Start);
        Assert.Equal(text.Length, entities[^1].End);
    }

    [Fact]
    public void LongTextsAreCutAtWordBoundaries()
    {
        var folder = tiny.ConstantTagger(Tags, "B-PER");
        var text = string.Join("  ", Enumerable.Range(0, 60).Select(i => i % 3 == 0 ? "Antidisestablishmentarianism" : i % 3 == 1 ? "Zürich" : "x"));
        using var whole = EntityPredictor.Load(folder);
        using var pieces = EntityPredictor.Load(folder, new EntityPredictorOptions { MaxLength = 9, BatchSize = 3 });
        var expected = whole.Predict(text);
        Assert.Equal(60, expected.Count);
        Assert.Equal(expected, pieces.Predict(text));
        Assert.Equal([(0, 4), (4, 3), (7, 2)], FineTune.Tasks.EntitySpans.Pieces([0, 0, 0, 1, 2, 2, 2, 3, 3], 4));
        Assert.Equal([(0, 4), (4, 4), (8, 1)], FineTune.Tasks.EntitySpans.Pieces([0, 0, 0, 0, 0, 0, 0, 0, 0], 4));
    }

    [Fact]
    public void TextsInABatchGetWhatTheyGetAlone()
    {
        using var predictor = EntityPredictor.Load(tiny.ConstantTagger(Tags, "B-LOC"));
        string[] texts = ["Paris", "", "   ", "New York  and Berlin", "a b c d e f g h i j k l m n o p"];
        var batch = predictor.Predict(texts);
        for (int i = 0; i < texts.Length; i++) Assert.Equal(predictor.Predict(texts[i]), batch[i]);
        Assert.Empty(batch[1]);
        Assert.Empty(batch[2]);
        Assert.Equal(["New", "York", "and", "Berlin"], batch[3].Select(e => e.Text));
    }

    [Fact]
    public void AModelWithoutATrainedTokenHeadIsRefused()
    {
        var e = Assert.Throws<ModelLoadException>(() => EntityPredictor.Load(tiny.Path));
        Assert.Contains("has no trained token-classification head (classifier.weight, classifier.bias missing)", e.Message);
    }
}
