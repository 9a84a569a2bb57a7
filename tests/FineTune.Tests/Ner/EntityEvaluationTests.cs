using FineTune.Configuration;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Tasks;

namespace FineTune.Tests.Ner;

/// <summary>
/// Evaluating a token-classification model on a labelled file through the library. The models always predict one
/// tag, so the scores can be worked out by hand from the file.
/// </summary>
public class EntityEvaluationTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    private static readonly string[] Tags = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"];
    private static readonly string[] BioesTags = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER"];

    // Three sentences: "Peter visits Paris", "Anna", "John Smith"; gold entities Peter/PER, Paris/LOC, Anna/PER, John Smith/PER.
    private static readonly string[][] Words = [["Peter", "visits", "Paris"], ["Anna"], ["John", "Smith"]];

    private static string Conll(string path, params string[][] tags)
    {
        var lines = new List<string>();
        for (int s = 0; s < Words.Length; s++)
        {
            for (int w = 0; w < Words[s].Length; w++) lines.Add($"{Words[s][w]} NNP {tags[s][w]}");
            lines.Add("");
        }
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void ScoresAreTheHandComputedOnesWhateverSchemeTheFileIsWrittenIn()
    {
        using var dir = new TestSupport.TempDir();
        var jsonl = dir.File("iob2.jsonl");
        File.WriteAllLines(jsonl,
        [
            """{"tokens": ["Peter", "visits", "Paris"], "tags": ["B-PER", "O", "B-LOC"]}""",
            """{"tokens": ["Anna"], "tags": ["B-PER"]}""",
            """{"tokens": ["John", "Smith"], "tags": ["B-PER", "I-PER"]}""",
        ]);
        var iob1 = Conll(dir.File("iob1.conll"), ["I-PER", "O", "I-LOC"], ["I-PER"], ["I-PER", "I-PER"]);
        var bioes = Conll(dir.File("bioes.conll"), ["S-PER", "O", "S-LOC"], ["S-PER"], ["B-PER", "E-PER"]);

        // B-PER on every word: six one-word PER entities, of which Peter and Anna are right.
        using var predictor = EntityPredictor.Load(tiny.ConstantTagger(Tags, "B-PER"));
        foreach (var (file, scheme) in new[] { (jsonl, TagScheme.IOB2), (iob1, TagScheme.IOB1), (bioes, TagScheme.BIOES) })
        {
            var result = predictor.Evaluate(file);
            Assert.Equal((scheme, true, TagScheme.IOB2), (result.FileScheme, result.SchemeDetected, result.ModelScheme));
            var m = result.Metrics;
            Assert.Equal(2.0 / 6, m["precision"], 12);
            Assert.Equal(2.0 / 4, m["recall"], 12);
            Assert.Equal(0.4, m["f1"], 12);
            // Gold tags converted to the model's IOB2: Peter, Anna and John are B-PER, so 3 of 6 words are right.
            Assert.Equal(0.5, m["accuracy"], 12);
            Assert.Equal((2.0 / 6, 2.0 / 3, 3.0), (m["PER_precision"], m["PER_recall"], m["PER_support"]));
            Assert.Equal((0.0, 0.0, 1.0), (m["LOC_precision"], m["LOC_recall"], m["LOC_support"]));
            Assert.True(m["loss"] > 0);
            Assert.Equal(["B-PER", "O", "B-LOC"], result.Examples[0].Tags);
            Assert.Equal([3, 1, 2], result.Predictions.Select(p => p.Tags.Count));
            Assert.Equal(0, result.Skipped.Count);
        }

        // A BIOES model: the gold tags become BIOES, and S-PER on every word is right for Peter and Anna only.
        using var bioesModel = EntityPredictor.Load(tiny.ConstantTagger(BioesTags, "S-PER"));
        var bioesResult = bioesModel.Evaluate(jsonl);
        Assert.Equal(TagScheme.BIOES, bioesResult.ModelScheme);
        Assert.Equal(["B-PER", "E-PER"], bioesResult.Examples[2].Tags);
        Assert.Equal(0.4, bioesResult.Metrics["f1"], 12);
        Assert.Equal(2.0 / 6, bioesResult.Metrics["accuracy"], 12);
    }

    [Fact]
    public void AnOTaggerFindsNoEntitiesAndIsRightOnTheShareOfOTokens()
    {
        using var dir = new TestSupport.TempDir();
        var file = Slices.Conll(DataFiles.ConllTestB, 80, dir.File("testb.conll"));
        // Counted from the file's text: word lines and those whose last column is O.
        var wordLines = File.ReadLines(file).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length > 0).ToList();
        double share = (double)wordLines.Count(f => f[^1] == "O") / wordLines.Count;
        Assert.InRange(share, 0.5, 0.95);

        using var predictor = EntityPredictor.Load(tiny.ConstantTagger(Tags.Concat(["B-MISC", "I-MISC", "B-ORG", "I-ORG"]).ToArray(), "O"));
        var result = predictor.Evaluate(file);
        Assert.Equal(80, result.Examples.Count);
        Assert.Equal((0.0, 0.0, 0.0), (result.Metrics["precision"], result.Metrics["recall"], result.Metrics["f1"]));
        Assert.Equal(share, result.Metrics["accuracy"], 12);
        Assert.Equal(wordLines.Count, result.Entities.Tokens);
        Assert.Equal(0, result.Entities.PredictedEntities);
        Assert.True(result.Entities.GoldEntities > 50);
        Assert.Equal(0, result.Truncated);

        // Sentences cut to 8 tokens: their last words are predicted O, which an O tagger predicts anyway.
        using var short8 = EntityPredictor.Load(tiny.ConstantTagger(Tags.Concat(["B-MISC", "I-MISC", "B-ORG", "I-ORG"]).ToArray(), "O"), new EntityPredictorOptions { MaxLength = 8 });
        var cut = short8.Evaluate(file);
        Assert.Equal(8, cut.MaxLength);
        Assert.InRange(cut.Truncated, 20, 80);
        Assert.Equal(share, cut.Metrics["accuracy"], 12);
    }

    [Fact]
    public void ATagTheModelDoesNotKnowIsAnErrorNamingFileAndLine()
    {
        using var dir = new TestSupport.TempDir();
        using var predictor = EntityPredictor.Load(tiny.ConstantTagger(Tags, "B-PER"));
        var conll = dir.File("test.conll");
        File.WriteAllText(conll, "Peter B-PER\nvisits O\n\nthe O\nEU B-ORG\nsummit O\n");
        var e = Assert.Throws<DataException>(() => predictor.Evaluate(conll));
        Assert.Equal($"{conll}:5: word 2 ('EU') has tag 'B-ORG', which the model's labels don't include (O, B-LOC, I-LOC, B-PER, I-PER)", e.Message);

        var jsonl = dir.File("test.jsonl");
        File.WriteAllLines(jsonl, ["""{"tokens": ["Peter"], "tags": ["B-PER"]}""", "", """{"tokens": ["in", "Bonn"], "tags": ["O", "B-CITY"]}"""]);
        e = Assert.Throws<DataException>(() => predictor.Evaluate(jsonl));
        Assert.StartsWith($"{jsonl}:3: word 2 ('Bonn') has tag 'B-CITY', which the model's labels don't include", e.Message);

        // The tag column is chosen as in training: column 1 holds POS tags, which fit no scheme.
        e = Assert.Throws<DataException>(() => predictor.Evaluate(Conll(dir.File("pos.conll"), ["B-PER", "O", "B-LOC"], ["B-PER"], ["B-PER", "I-PER"]),
            new EntityEvaluationOptions { TagColumn = 1 }));
        Assert.StartsWith($"{dir.File("pos.conll")}:1: column '2': tag 'NNP' fits no tag scheme", e.Message);
    }

    [Fact]
    public void SkipInvalidRowsSkipsTheBadSentencesAndReportsThemInFileOrder()
    {
        using var dir = new TestSupport.TempDir();
        var file = dir.File("mixed.conll");
        File.WriteAllLines(file,
        [
            "EU NNP I-NP B-ORG",      // 1: a type the model doesn't know
            "",
            "Peter NNP I-NP B-PER",   // 3
            "visits VBZ I-VP O",
            "",
            "Anna NNP I-NP B-PER",    // 6
            "runs VBZ O",             // 7: three columns
            "fast RB I-ADVP O",       // 8: dropped with its sentence
            "",
            "John NNP I-NP PERSON",   // 10: fits no scheme
            "",
            "Zed NNP I-NP S-PER",     // 12: not IOB2
            "",
            "Paris NNP I-NP B-LOC",   // 14
            "",
            "Bob NNP I-NP B-PER",     // 16
        ]);
        using var predictor = EntityPredictor.Load(tiny.ConstantTagger(Tags, "B-PER"));
        var strict = new EntityEvaluationOptions { Scheme = TagScheme.IOB2 };
        var e = Assert.Throws<DataException>(() => predictor.Evaluate(file, strict));
        Assert.Equal($"{file}:7: the line has 3 columns, but the file's first word line has 4", e.Message);

        var result = predictor.Evaluate(file, strict with { SkipInvalidRows = true });
        Assert.Equal(4, result.Skipped.Count);
        Assert.Equal(4, result.Skipped.FirstReasons.Count);
        Assert.StartsWith($"{file}:1: word 1 ('EU') has tag 'B-ORG', which the model's labels don't include", result.Skipped.FirstReasons[0]);
        Assert.Equal($"{file}:7: the line has 3 columns, but the file's first word line has 4", result.Skipped.FirstReasons[1]);
        Assert.StartsWith($"{file}:10: column '4': tag 'PERSON' fits no tag scheme", result.Skipped.FirstReasons[2]);
        Assert.StartsWith($"{file}:12: word 1 ('Zed') of the sentence: tag 'S-PER' is not allowed in IOB2", result.Skipped.FirstReasons[3]);
        Assert.Equal([["Peter", "visits"], ["Paris"], ["Bob"]], result.Examples.Select(x => x.Words));
        // Gold Peter/PER, Paris/LOC, Bob/PER; four one-word PER predictions, Peter and Bob right.
        Assert.Equal(0.5, result.Metrics["precision"], 12);
        Assert.Equal(2.0 / 3, result.Metrics["recall"], 12);
        Assert.Equal(0.5, result.Metrics["accuracy"], 12);

        var two = predictor.Evaluate(file, strict with { SkipInvalidRows = true, ReportedInvalidRows = 2 });
        Assert.Equal(4, two.Skipped.Count);
        Assert.Equal(result.Skipped.FirstReasons.Take(2), two.Skipped.FirstReasons);
    }

    [Fact]
    public void TrainingSkipsInvalidSentencesInEveryFileWhenAsked()
    {
        using var dir = new TestSupport.TempDir();
        var train = dir.File("train.conll");
        File.WriteAllText(train, "Peter B-PER\nvisits O\n\nAnna B-PER x\n\nParis B-LOC\n");
        var test = dir.File("test.conll");
        File.WriteAllText(test, "Bob B-PER\n\nEU B-ORG\n\nRome B-LOC\n");
        var files = new DatasetFiles(train, null, test);
        var e = Assert.Throws<DataException>(() => TokenClassificationData.Load(files, null, null));
        Assert.Equal($"{train}:4: the line has 3 columns, but the file's first word line has 2", e.Message);

        var data = TokenClassificationData.Load(files, null, null, skipInvalidRows: true);
        Assert.Equal(2, data.Train.Count);
        Assert.Equal(["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], data.Labels.Labels);
        Assert.Equal([["Bob"], ["Rome"]], data.Test.Select(x => x.Words));
        Assert.Equal([1, 1], data.Skipped.Select(s => s.Count));
        Assert.StartsWith($"{test}:3: word 1 ('EU') has tag 'B-ORG', which the model's labels don't include", data.Skipped[1].FirstReasons[0]);
    }
}
