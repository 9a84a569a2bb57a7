using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Tests.Ner;

public class ConllReaderTests
{
    [Theory]
    // Sentences, tokens and entities per type as published for CoNLL-2003 English (and in shared/data/README.md).
    [InlineData("eng.train", 14041, 203621, 7140, 3438, 6321, 6600)]
    [InlineData("eng.testa", 3250, 51362, 1837, 922, 1341, 1842)]
    [InlineData("eng.testb", 3453, 46435, 1668, 702, 1661, 1617)]
    public void ReadsConll2003WithItsOfficialCounts(string file, int sentences, int tokens, int loc, int misc, int org, int per)
    {
        var examples = ConllReader.ReadColumns(DataFiles.Path("conll2003", file));
        Assert.Equal(sentences, examples.Count);
        Assert.Equal(tokens, examples.Sum(e => e.Words.Count));
        Assert.All(examples, e => Assert.Equal(e.Words.Count, e.Tags.Count));
        Assert.DoesNotContain(examples, e => e.Words.Contains(ConllReader.DocumentStart));

        var entities = examples.SelectMany(e => EntityChunker.Extract(e.Tags)).GroupBy(s => s.Type).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new Dictionary<string, int> { ["LOC"] = loc, ["MISC"] = misc, ["ORG"] = org, ["PER"] = per }, entities);
    }

    [Fact]
    public void KeepsTheLineOfEveryWord()
    {
        var examples = ConllReader.ReadColumns(DataFiles.ConllTrain);
        var first = examples[0];
        Assert.Equal(["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."], first.Words);
        Assert.Equal(["I-ORG", "O", "I-MISC", "O", "O", "O", "I-MISC", "O", "O"], first.Tags);
        Assert.Equal(3, first.SourceLine);
        Assert.Equal(DataFiles.ConllTrain, first.SourceFile);
        Assert.Equal(["Peter", "Blackburn"], examples[1].Words);
        Assert.Equal(13, examples[1].SourceLine);
        Assert.Equal(14, examples[1].LineOf(1));
    }

    [Theory]
    [InlineData("eng.train")]
    [InlineData("eng.testa")]
    [InlineData("eng.testb")]
    public void DetectsIob1InConll2003(string file) =>
        Assert.Equal(TagScheme.IOB1, TagSchemes.Detect(ConllReader.ReadColumns(DataFiles.Path("conll2003", file))));

    [Fact]
    public void RoundTripsTheWholeTrainingFileThroughIob2AndBioes()
    {
        var original = ConllReader.ReadColumns(DataFiles.ConllTrain);
        var iob2 = TagSchemes.Convert(original, TagScheme.IOB1, TagScheme.IOB2);
        var bioes = TagSchemes.Convert(iob2, TagScheme.IOB2, TagScheme.BIOES);
        var iob2Again = TagSchemes.Convert(bioes, TagScheme.BIOES, TagScheme.IOB2);
        var iob1Again = TagSchemes.Convert(iob2Again, TagScheme.IOB2, TagScheme.IOB1);

        Assert.Equal(TagScheme.IOB2, TagSchemes.Detect(iob2));
        Assert.Equal(TagScheme.BIOES, TagSchemes.Detect(bioes));
        var differences = new List<(long Line, string Original, string RoundTrip)>();
        for (var s = 0; s < original.Count; s++)
        {
            Assert.Equal(iob2[s].Tags, iob2Again[s].Tags);
            Assert.Equal(original[s].Words, iob1Again[s].Words);
            Assert.Equal(EntityChunker.Extract(original[s].Tags), EntityChunker.Extract(bioes[s].Tags));
            for (var w = 0; w < original[s].Tags.Count; w++)
                if (original[s].Tags[w] != iob1Again[s].Tags[w]) differences.Add((original[s].LineOf(w), original[s].Tags[w], iob1Again[s].Tags[w]));
        }
        // IOB1 comes back exactly except for the file's two non-canonical B- tags after O, which read the same
        // entities and are written back in the canonical form.
        Assert.Equal([(152428L, "B-MISC", "I-MISC"), (175436L, "B-MISC", "I-MISC")], differences);
    }

    [Fact]
    public void LoadsInTheTrainingSchemeWithADetectedSource()
    {
        var dataset = ConllReader.Load(DataFiles.ConllTestB);
        Assert.Equal(TagScheme.IOB1, dataset.SourceScheme);
        Assert.Equal(TagScheme.IOB2, dataset.Scheme);
        Assert.True(dataset.SchemeDetected);
        Assert.Equal(3453, dataset.Count);
        Assert.Equal(46435, dataset.WordCount);
        Assert.Equal(TagScheme.IOB2, TagSchemes.Detect(dataset.Examples));

        var bioes = ConllReader.Load(DataFiles.ConllTestB, new ConllReadOptions { SourceScheme = TagScheme.IOB1, TargetScheme = TagScheme.BIOES });
        Assert.False(bioes.SchemeDetected);
        Assert.Equal(dataset.ToScheme(TagScheme.BIOES).Examples.Select(e => e.Tags), bioes.Examples.Select(e => e.Tags));
    }

    [Fact]
    public void ReadsAnotherColumnAsTags()
    {
        // Column 3 of CoNLL-2003 holds the syntactic chunk tags (I-NP, B-VP, ...), also IOB1.
        var chunks = ConllReader.ReadColumns(DataFiles.ConllTestA, tagColumn: 2);
        Assert.Equal(3250, chunks.Count);
        Assert.Contains("I-NP", chunks[0].Tags);
    }

    [Fact]
    public void ALineWithTheWrongNumberOfColumnsNamesFileAndLine()
    {
        using var file = new TempFile(".conll", "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-MISC\n");
        var e = Assert.Throws<DataException>(() => ConllReader.ReadColumns(file.FilePath));
        Assert.Equal($"{file.FilePath}:5: the line has 3 columns, but the file's first word line has 4", e.Message);
        Assert.Equal(5, e.Row);
    }

    [Fact]
    public void ATagThatFitsNoSchemeNamesFileLineAndColumn()
    {
        using var file = new TempFile(".txt", "EU\tB-ORG\nrejects\tO\n\nPeter\tX-PER\n");
        var e = Assert.Throws<DataException>(() => ConllReader.ReadColumns(file.FilePath));
        Assert.Equal($"{file.FilePath}:4: column '2': {TagSchemes.InvalidTagMessage("X-PER")}", e.Message);
    }

    [Fact]
    public void ADeclaredSchemeThatDoesNotFitIsAnErrorWithTheLine()
    {
        using var file = new TempFile(".conll", "John B-PER\nSmith E-PER\n\nParis S-LOC\n");
        var e = Assert.Throws<DataException>(() => ConllReader.Load(file.FilePath, new ConllReadOptions { SourceScheme = TagScheme.IOB2 }));
        Assert.StartsWith($"{file.FilePath}:2: word 2 ('Smith')", e.Message);
        var detected = ConllReader.Load(file.FilePath);
        Assert.Equal(TagScheme.BIOES, detected.SourceScheme);
        Assert.Equal(["B-PER", "I-PER"], detected.Examples[0].Tags);
        Assert.Equal(["B-LOC"], detected.Examples[1].Tags);
    }

    [Fact]
    public void ReadsTheLastSentenceWithoutATrailingBlankLineAndCrLf()
    {
        using var file = new TempFile(".conll", "A O\r\nB B-X\r\n\r\n\r\nC I-X\r\nD O");
        var examples = ConllReader.ReadColumns(file.FilePath);
        Assert.Equal(2, examples.Count);
        Assert.Equal(["C", "D"], examples[1].Words);
        Assert.Equal(5, examples[1].SourceLine);
    }

    [Fact]
    public void ReadsJsonl()
    {
        using var file = new TempFile(".jsonl", "{\"tokens\": [\"EU\", \"rejects\"], \"tags\": [\"B-ORG\", \"O\"]}\n\n{\"tokens\": [\"Peter\"], \"tags\": [\"B-PER\"], \"id\": 7}\n");
        var examples = ConllReader.Read(file.FilePath);
        Assert.Equal(2, examples.Count);
        Assert.Equal(["EU", "rejects"], examples[0].Words);
        Assert.Equal(["B-PER"], examples[1].Tags);
        Assert.Equal(3, examples[1].SourceLine);
        Assert.Equal(3, examples[1].LineOf(0));
        Assert.Equal(TagScheme.IOB2, ConllReader.Load(file.FilePath).SourceScheme);
    }

    [Theory]
    [InlineData("{\"tokens\": [\"EU\", \"rejects\"], \"tags\": [\"B-ORG\"]}", ":2: the line has 2 tokens but 1 tags")]
    [InlineData("{\"tokens\": [\"EU\"]}", ":2: column 'tags': the object has no \"tags\"")]
    [InlineData("{\"tokens\": [\"EU\"], \"tags\": [3]}", ":2: column 'tags': item 1 of \"tags\" is number, not a string")]
    [InlineData("{\"tokens\": [\"EU\"], \"tags\": [\"X-ORG\"]}", ":2: column 'tags': tag 1: tag 'X-ORG' fits no tag scheme")]
    [InlineData("[\"EU\"]", ":2: the line must be a JSON object")]
    [InlineData("{\"tokens\": [\"EU\"", ":2: the line is not valid JSON")]
    public void BadJsonlLinesNameFileAndLine(string badLine, string expected)
    {
        using var file = new TempFile(".jsonl", "{\"tokens\": [\"A\"], \"tags\": [\"O\"]}\n" + badLine + "\n");
        var e = Assert.Throws<DataException>(() => ConllReader.ReadJsonl(file.FilePath));
        Assert.StartsWith(file.FilePath + expected, e.Message);
        Assert.Equal(2, e.Row);
    }

    [Fact]
    public void AMissingFileIsADataError()
    {
        var e = Assert.Throws<DataException>(() => ConllReader.Read("/nonexistent/eng.train"));
        Assert.Equal("/nonexistent/eng.train: the file does not exist", e.Message);
    }
}
