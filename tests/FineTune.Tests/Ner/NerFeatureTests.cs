using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Tasks;
using FineTune.Text;
using FineTune.Training;

namespace FineTune.Tests.Ner;

/// <summary>Token-classification features of real CoNLL-2003 sentences through the real all-MiniLM-L6-v2 tokenizer.</summary>
public class NerFeatureTests
{
    private static readonly Lazy<WordPieceTokenizer> Tokenizer = new(() => WordPieceTokenizer.FromFolder(ModelCatalog.Resolve("all-MiniLM-L6-v2")));
    private static readonly Lazy<TokenDataset> Train = new(() => ConllReader.Load(DataFiles.ConllTrain));

    private static (IReadOnlyList<TokenExample> Examples, TokenLabelMap Labels) Sample(int count = 500)
    {
        var examples = Train.Value.Examples.Take(count).ToList();
        return (examples, TokenLabelMap.FromExamples(Train.Value.Examples, TagScheme.IOB2));
    }

    [Fact]
    public void TheFirstSubTokenOfEveryWordCarriesItsTagAndTheOthersAreIgnored()
    {
        var (examples, labels) = Sample();
        var (features, truncated) = TokenClassificationFeatures.Build(examples, Tokenizer.Value, labels, 128);
        Assert.Equal(0, truncated);
        Assert.Equal(examples.Count, features.Count);
        int multiPiece = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var (example, f) = (examples[i], features[i]);
            Assert.Equal(i, f.ExampleIndex);
            Assert.Equal(f.Length, f.TokenLabels!.Length);
            Assert.Equal(f.Length, f.WordIds!.Length);
            Assert.Equal(Tokenizer.Value.ClassifierTokenId, f.InputIds[0]);
            Assert.Equal(Tokenizer.Value.SeparatorTokenId, f.InputIds[^1]);
            var labelled = Enumerable.Range(0, f.Length).Where(t => f.TokenLabels[t] != SubwordAlignment.IgnoreIndex).ToList();
            // One labelled token per word (CoNLL words always give at least one token), in word order, with the word's tag.
            Assert.Equal(example.Words.Count, labelled.Count);
            for (int w = 0; w < labelled.Count; w++)
            {
                int t = labelled[w];
                Assert.Equal(w, f.WordIds[t]);
                Assert.True(t == 1 || f.WordIds[t - 1] != w, $"sentence {i} word {w}: token {t} is not the word's first");
                Assert.Equal(example.Tags[w], labels[f.TokenLabels[t]]);
            }
            multiPiece += example.Words.Count(w => Tokenizer.Value.EncodeWords([w]).Length > 3);
        }
        Assert.True(multiPiece > 100, $"the sample should have many words of several sub-tokens, has {multiPiece}");
    }

    [Fact]
    public void LabelAllTokensGivesContinuationsTheInsideTag()
    {
        var (examples, labels) = Sample(200);
        var (features, _) = TokenClassificationFeatures.Build(examples, Tokenizer.Value, labels, 128, SubwordLabeling.AllSubwords);
        bool sawBeginContinuation = false;
        for (int i = 0; i < examples.Count; i++)
        {
            var f = features[i];
            for (int t = 1; t < f.Length - 1; t++)
            {
                int w = f.WordIds![t]!.Value;
                var tag = examples[i].Tags[w];
                bool first = f.WordIds[t - 1] != w;
                var expected = !first && tag.StartsWith("B-", StringComparison.Ordinal) ? "I-" + tag[2..] : tag;
                if (!first && tag.StartsWith("B-", StringComparison.Ordinal)) sawBeginContinuation = true;
                Assert.Equal(expected, labels[f.TokenLabels![t]]);
            }
            Assert.Equal(SubwordAlignment.IgnoreIndex, f.TokenLabels![0]);
            Assert.Equal(SubwordAlignment.IgnoreIndex, f.TokenLabels[^1]);
        }
        Assert.True(sawBeginContinuation);
    }

    [Fact]
    public void TruncationIsCountedAndKeepsTheFirstWords()
    {
        var (examples, labels) = Sample(300);
        var (features, truncated) = TokenClassificationFeatures.Build(examples, Tokenizer.Value, labels, 16);
        int expected = examples.Count(e => Tokenizer.Value.EncodeWords(e.Words).Length > 16);
        Assert.True(expected > 50);
        Assert.Equal(expected, truncated);
        Assert.All(features, f => Assert.True(f.Length <= 16));
        var longest = features.First(f => f.Length == 16);
        Assert.Equal(0, longest.WordIds![1]);
    }

    [Fact]
    public void AValidationTagTheTrainingDataLacksNamesFileAndLine()
    {
        var labels = new TokenLabelMap(["O", "B-PER", "I-PER"]);
        var examples = ConllReader.Load(DataFiles.ConllTestA).Examples.Take(50).ToList();
        var e = Assert.Throws<DataException>(() => TokenClassificationFeatures.Build(examples, Tokenizer.Value, labels, 128));
        Assert.Matches(@"eng\.testa:\d+: word \d+ \('.+'\) has tag '[BI]-(LOC|ORG|MISC)', which the model's labels don't include", e.Message);
    }
}
