using FineTune.Data;

namespace FineTune.Tests.Ner;

public class TagSchemeTests
{
    private static string[] Tags(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    [Theory]
    [InlineData("iob1", TagScheme.IOB1)]
    [InlineData("IOB2", TagScheme.IOB2)]
    [InlineData("bio", TagScheme.IOB2)]
    [InlineData("BIOES", TagScheme.BIOES)]
    [InlineData("iobes", TagScheme.BIOES)]
    [InlineData(" IO ", TagScheme.IO)]
    public void ParsesSchemeNames(string name, TagScheme expected) => Assert.Equal(expected, TagSchemes.Parse(name));

    [Fact]
    public void UnknownSchemeNameIsAClearError()
    {
        var e = Assert.Throws<FineTuneException>(() => TagSchemes.Parse("BILOU"));
        Assert.Contains("Unknown tag scheme 'BILOU'", e.Message);
        Assert.Contains("IOB2", e.Message);
    }

    [Theory]
    [InlineData("X-PER")]
    [InlineData("PER")]
    [InlineData("B-")]
    [InlineData("b-PER")]
    [InlineData("B_PER")]
    [InlineData("")]
    [InlineData("o")]
    public void RejectsTagsThatFitNoScheme(string tag)
    {
        Assert.False(TagSchemes.TryParseTag(tag, out _));
        var e = Assert.Throws<DataException>(() => TagSchemes.ParseTag(tag));
        Assert.Contains($"tag '{tag}' fits no tag scheme", e.Message);
    }

    [Fact]
    public void ParsesTypesWithHyphens()
    {
        Assert.True(TagSchemes.TryParseTag("B-geo-nam", out var parts));
        Assert.Equal(new TagParts('B', "geo-nam"), parts);
        Assert.Equal(new TagParts('O', ""), TagSchemes.ParseTag("O"));
    }

    [Theory]
    // IOB1                               IOB2                                  BIOES
    [InlineData("I-PER I-PER B-PER O I-LOC", "B-PER I-PER B-PER O B-LOC", "B-PER E-PER S-PER O S-LOC")]
    [InlineData("O I-ORG I-ORG I-ORG", "O B-ORG I-ORG I-ORG", "O B-ORG I-ORG E-ORG")]
    [InlineData("I-PER I-LOC B-LOC I-LOC", "B-PER B-LOC B-LOC I-LOC", "S-PER S-LOC B-LOC E-LOC")]
    [InlineData("O O", "O O", "O O")]
    [InlineData("", "", "")]
    public void ConvertsBetweenIob1Iob2AndBioes(string iob1, string iob2, string bioes)
    {
        Assert.Equal(Tags(iob2), TagSchemes.Convert(Tags(iob1), TagScheme.IOB1, TagScheme.IOB2));
        Assert.Equal(Tags(bioes), TagSchemes.Convert(Tags(iob2), TagScheme.IOB2, TagScheme.BIOES));
        Assert.Equal(Tags(iob2), TagSchemes.Convert(Tags(bioes), TagScheme.BIOES, TagScheme.IOB2));
        Assert.Equal(Tags(iob1), TagSchemes.Convert(Tags(iob2), TagScheme.IOB2, TagScheme.IOB1));
        Assert.Equal(Tags(iob1), TagSchemes.Convert(Tags(bioes), TagScheme.BIOES, TagScheme.IOB1));
        Assert.Equal(Tags(bioes), TagSchemes.Convert(Tags(iob1), TagScheme.IOB1, TagScheme.BIOES));
    }

    [Fact]
    public void ConvertingToIoMergesAdjacentEntitiesOfOneType()
    {
        Assert.Equal(Tags("I-PER I-PER I-LOC O"), TagSchemes.Convert(Tags("B-PER B-PER B-LOC O"), TagScheme.IOB2, TagScheme.IO));
        Assert.Equal(Tags("B-PER I-PER B-LOC O"), TagSchemes.Convert(Tags("I-PER I-PER I-LOC O"), TagScheme.IO, TagScheme.IOB2));
    }

    [Fact]
    public void MalformedIob2ConvertsAsConllevalReadsIt()
    {
        // An I- after O starts an entity; a type change starts another.
        Assert.Equal(Tags("O B-PER I-PER B-LOC"), TagSchemes.Convert(Tags("O I-PER I-PER I-LOC"), TagScheme.IOB2, TagScheme.IOB2));
        Assert.Equal(Tags("O S-PER B-LOC E-LOC"), TagSchemes.Convert(Tags("O I-PER B-LOC I-LOC"), TagScheme.IOB2, TagScheme.BIOES));
    }

    [Fact]
    public void ConvertingExamplesAlwaysGivesTheCanonicalForm()
    {
        TokenExample[] examples = [new(["Ann", "Lee", "met", "Bob"], ["O", "I-PER", "O", "I-PER"], "t", 1)];
        Assert.Equal(Tags("O B-PER O B-PER"), TagSchemes.Convert(examples, TagScheme.IOB2, TagScheme.IOB2)[0].Tags);
    }

    [Fact]
    public void ATagOutsideTheSourceSchemeIsAnError()
    {
        var e = Assert.Throws<DataException>(() => TagSchemes.Convert(Tags("B-PER E-PER"), TagScheme.IOB2, TagScheme.BIOES));
        Assert.Contains("'E-PER' at position 1 is not allowed in IOB2, which uses O and B-, I-", e.Message);
        Assert.Throws<DataException>(() => TagSchemes.Convert(Tags("B-PER"), TagScheme.IO, TagScheme.IOB2));
        Assert.Throws<DataException>(() => TagSchemes.Convert(Tags("X-PER"), TagScheme.IOB2, TagScheme.BIOES));
    }

    [Theory]
    [InlineData(TagScheme.IOB1, "I-PER I-PER O", "O I-LOC B-LOC")]
    [InlineData(TagScheme.IOB1, "B-PER O", "O I-LOC")]          // one I- start is enough; a B- after O is tolerated
    [InlineData(TagScheme.IOB2, "B-PER I-PER O", "O B-LOC B-LOC")]
    [InlineData(TagScheme.IOB2, "O O", "O")]                    // nothing contradicts the training scheme
    [InlineData(TagScheme.BIOES, "B-PER E-PER O", "S-LOC O")]
    [InlineData(TagScheme.BIOES, "B-PER I-PER E-PER", "O")]
    public void DetectsTheSchemeOfAFile(TagScheme expected, string first, string second) =>
        Assert.Equal(expected, TagSchemes.Detect([Tags(first), Tags(second)]));

    [Fact]
    public void MixedSchemesAndBadTagsFailDetectionWithTheirLine()
    {
        TokenExample[] mixed =
        [
            new(["Paris", "is"], ["S-LOC", "O"], "a.conll", 3) { OneWordPerLine = true },
            new(["John", "Smith"], ["I-PER", "I-PER"], "a.conll", 7) { OneWordPerLine = true },
        ];
        var e = Assert.Throws<DataException>(() => TagSchemes.Detect(mixed));
        Assert.StartsWith("a.conll:7: ", e.Message);
        Assert.Contains("mix schemes", e.Message);
        Assert.Contains("a.conll:3 word 1", e.Message);

        TokenExample[] bad = [new(["John", "Smith"], ["B-PER", "X-PER"], "b.jsonl", 12)];
        var badTag = Assert.Throws<DataException>(() => TagSchemes.Detect(bad));
        Assert.Equal("b.jsonl:12: word 2 ('Smith') of the sentence: " + TagSchemes.InvalidTagMessage("X-PER"), badTag.Message);
        Assert.Equal(12, badTag.Row);
    }

    [Fact]
    public void ValidationNamesTheExactLineOfAColumnFileTag()
    {
        TokenExample[] examples = [new(["John", "Smith", "said"], ["B-PER", "E-PER", "O"], "c.conll", 40) { OneWordPerLine = true }];
        var e = Assert.Throws<DataException>(() => TagSchemes.Validate(examples, TagScheme.IOB2));
        Assert.StartsWith("c.conll:41: word 2 ('Smith')", e.Message);
        Assert.Contains("'E-PER' is not allowed in IOB2", e.Message);
    }
}
