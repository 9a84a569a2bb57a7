using FineTune.Data;

namespace FineTune.Tests.Ner;

public class NerLabelAlignmentTests
{
    private const int X = SubwordAlignment.IgnoreIndex;

    [Fact]
    public void BuildsTheLabelListFromTrainingDataInAStableOrder()
    {
        var train = ConllReader.Load(DataFiles.ConllTrain);
        var labels = TokenLabelMap.FromExamples(train.Examples, TagScheme.IOB2);
        Assert.Equal(["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"], labels.Labels);
        Assert.Equal(["LOC", "MISC", "ORG", "PER"], labels.EntityTypes);

        var shuffled = train.Examples.Reverse().ToArray();
        Assert.Equal(labels.Labels, TokenLabelMap.FromExamples(shuffled, TagScheme.IOB2).Labels);

        var bioes = TokenLabelMap.FromExamples(train.ToScheme(TagScheme.BIOES).Examples, TagScheme.BIOES);
        Assert.Equal(17, bioes.Count);
        Assert.Equal(["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"], bioes.Labels.Take(5));
    }

    [Fact]
    public void ListsEveryPrefixOfATypeEvenIfTheDataUsesOnlySome()
    {
        TokenExample[] examples = [new(["Paris", "is", "nice"], ["B-LOC", "O", "O"], "t", 1)];
        Assert.Equal(["O", "B-LOC", "I-LOC"], TokenLabelMap.FromExamples(examples, TagScheme.IOB2).Labels);
    }

    [Fact]
    public void RejectsBadOrDuplicateLabels()
    {
        Assert.Throws<FineTuneException>(() => new TokenLabelMap(["O", "B-PER", "O"]));
        Assert.Throws<FineTuneException>(() => new TokenLabelMap(["O", "X-PER"]));
        Assert.Throws<FineTuneException>(() => new TokenLabelMap([]));
    }

    [Fact]
    public void AnUnknownTagIsAnErrorNamingTheRow()
    {
        var labels = new TokenLabelMap(["O", "B-PER", "I-PER"]);
        var example = new TokenExample(["John", "in", "Paris"], ["B-PER", "O", "B-LOC"], "dev.conll", 20) { OneWordPerLine = true };
        var e = Assert.Throws<DataException>(() => labels.ToIds(example));
        Assert.StartsWith("dev.conll:22: word 3 ('Paris') has tag 'B-LOC', which the model's labels don't include", e.Message);
        Assert.Throws<FineTuneException>(() => labels.IdOf("B-LOC"));
    }

    [Fact]
    public void FirstSubwordCarriesTheLabelAndTheRestAreIgnored()
    {
        // [CLS] Wash ##ing ##ton is [SEP] [PAD]
        int?[] wordIds = [null, 0, 0, 0, 1, null, null];
        int[] wordLabels = [5, 0];
        Assert.Equal([X, 5, X, X, 0, X, X], SubwordAlignment.AlignLabels(wordIds, wordLabels));
    }

    [Fact]
    public void AllSubwordsMapsBeginToInsideAsRunNerDoes()
    {
        var labels = new TokenLabelMap(["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]);
        var example = new TokenExample(["Wash", "DC", "Ann", "Lee"], ["B-LOC", "I-LOC", "B-PER", "I-PER"], "t", 1);
        // [CLS] Wa ##sh D ##C Ann Le ##e [SEP]
        int?[] wordIds = [null, 0, 0, 1, 1, 2, 3, 3, null];
        Assert.Equal([X, 1, 2, 2, 2, 3, 4, 4, X], labels.AlignLabels(example, wordIds, SubwordLabeling.AllSubwords));
        Assert.Equal([X, 1, X, 2, X, 3, 4, X, X], labels.AlignLabels(example, wordIds));

        // Without I-X in the list (or for any other tag) continuation sub-tokens repeat the word's label.
        var noInside = new TokenLabelMap(["O", "B-LOC", "S-PER"]);
        var short1 = new TokenExample(["Wash", "Ann"], ["B-LOC", "S-PER"], "t", 1);
        Assert.Equal([X, 1, 1, 2, 2, X], noInside.AlignLabels(short1, [null, 0, 0, 1, 1, null], SubwordLabeling.AllSubwords));
    }

    [Fact]
    public void AWindowStartingInsideAWordLabelsItsFirstSubTokenThere()
    {
        // A second window (stride) that begins with the tail of word 0.
        int?[] wordIds = [null, 0, 1, 1, null];
        Assert.Equal([X, 7, 8, X, X], SubwordAlignment.AlignLabels(wordIds, [7, 8]));
    }

    [Fact]
    public void AlignmentRejectsWordIdsOutsideTheSentence() =>
        Assert.Throws<ArgumentException>(() => SubwordAlignment.AlignLabels([null, 0, 2], [1, 2]));

    [Fact]
    public void WordPredictionsComeFromTheFirstSubToken()
    {
        int?[] wordIds = [null, 0, 0, 1, 2, 2, null, null];
        int[] predicted = [0, 3, 4, 0, 1, 2, 0, 0];
        Assert.Equal(new int?[] { 3, 0, 1, null }, SubwordAlignment.WordPredictions(wordIds, predicted, 4));

        var labels = new TokenLabelMap(["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]);
        Assert.Equal(["B-PER", "O", "B-LOC", "O"], labels.WordTags(wordIds, predicted, 4));
    }
}
