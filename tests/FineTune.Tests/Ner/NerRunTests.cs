using System.Text.Json;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;
using FineTune.Tasks;
using FineTune.Training;
using static TorchSharp.torch;

namespace FineTune.Tests.Ner;

/// <summary>Token classification end to end on real CoNLL-2003 slices with a tiny model: seconds, not minutes.</summary>
public class NerRunTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    private static readonly string[] Tags = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"];

    private FineTuneRequest Request(string train, string? validation, string? test, string output) => new()
    {
        Model = tiny.Path,
        Data = new DatasetFiles(train, validation, test),
        Task = "token-classification",
        Dataset = new DatasetOptions { Columns = new ColumnMapping { Text = "tokens" } },
        Training = new TrainingOptions { Epochs = 1, BatchSize = 16, LearningRate = 1e-3, SaveStrategy = IntervalKind.No },
        OutputDirectory = output,
        Threads = 2,
    };

    [Fact]
    public void TrainsEvaluatesAndWritesTheRunFolder()
    {
        using var dir = new TestSupport.TempDir();
        var train = Slices.Conll(DataFiles.ConllTrain, 300, dir.File("train.conll"));
        var validation = Slices.Conll(DataFiles.ConllTestA, 100, dir.File("testa.conll"));
        var test = Slices.Conll(DataFiles.ConllTestB, 100, dir.File("testb.conll"));
        var output = dir.File("run");
        var messages = new List<string>();
        var result = FineTuner.Train(Request(train, validation, test, output) with { Info = messages.Add });

        foreach (var file in new[] { "model/config.json", "model/model.safetensors", "model/vocab.txt", "metrics.json", "predictions-test.csv", "log.jsonl", "run.json" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        Assert.Contains(messages, m => m.StartsWith("tag scheme: IOB1 (detected), trained as IOB2; 9 labels", StringComparison.Ordinal));

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        foreach (var split in new[] { "validation", "test" })
        {
            var m = metrics.RootElement.GetProperty(split);
            foreach (var key in new[] { "precision", "recall", "f1", "accuracy", "loss", "LOC_f1", "LOC_precision", "LOC_recall", "LOC_support", "PER_f1", "ORG_f1", "MISC_f1" })
                Assert.True(m.TryGetProperty(key, out var v) && v.GetDouble() is >= 0 and var d && (key.EndsWith("support") || key == "loss" || d <= 1), $"{split}.{key}");
        }
        Assert.Equal("f1", metrics.RootElement.GetProperty("metric_for_best").GetString());
        // Supports are the gold entity counts of the slice.
        var testExamples = ConllReader.Load(test).Examples;
        var gold = testExamples.SelectMany(e => EntityChunker.Extract(e.Tags)).GroupBy(x => x.Type).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(gold["PER"], metrics.RootElement.GetProperty("test").GetProperty("PER_support").GetDouble());
        Assert.Equal(result.Test!["f1"], metrics.RootElement.GetProperty("test").GetProperty("f1").GetDouble());

        // One prediction row per test word, with the gold tag in IOB2.
        var rows = File.ReadAllLines(Path.Combine(output, "predictions-test.csv"));
        Assert.Equal("sentence,line,word,gold,predicted,score", rows[0]);
        Assert.Equal(testExamples.Sum(e => e.Words.Count), rows.Length - 1);
        var first = rows[1].Split(',');
        Assert.Equal((testExamples[0].Words[0], testExamples[0].Tags[0]), (first[2], first[3]));
        Assert.All(rows.Skip(1), r => Assert.Contains(r.Split(',')[4], Tags));

        // The model is a BertForTokenClassification with the tags as id2label, and loads for prediction.
        var config = ModelFamilies.LoadConfig(Path.Combine(output, "model", "config.json"));
        Assert.Equal(["BertForTokenClassification"], config.Architectures);
        Assert.Equal(Tags, config.LabelsInOrder());
        Assert.Equal("token-classification", FineTuner.DetectTask(result.ModelDirectory));
        using var predictor = EntityPredictor.Load(result.ModelDirectory);
        Assert.Equal(["LOC", "MISC", "ORG", "PER"], predictor.EntityTypes);
        var text = "EU rejects German call to boycott British lamb .";
        Assert.All(predictor.Predict(text), e => Assert.Equal(text[e.Start..e.End], e.Text));

        var record = RunFiles.ReadRecord(output);
        Assert.Equal("token-classification", record.Task);
        Assert.Equal(4, record.Splits["test"].PerClass!.Count);
        Assert.Equal(300, record.Data.Splits[0].Examples);
    }

    [Fact]
    public void EvaluationAccumulatesOverTheWholeSet()
    {
        using var dir = new TestSupport.TempDir();
        var examples = ConllReader.Load(Slices.Conll(DataFiles.ConllTestA, 60, dir.File("a.conll"))).Examples;
        var labels = new TokenLabelMap(Tags);
        var (features, _) = TokenClassificationFeatures.Build(examples, tiny.Tokenizer, labels, 64);
        var (model, _) = TestSupport.Load(tiny.Path, "token-classification", Tags);
        using var _m = model;
        var small = new TokenClassificationEvaluator(examples, labels, 7, 0).Run(model, features, CPU, keepPredictions: true);
        var whole = new TokenClassificationEvaluator(examples, labels, 64, 0).Run(model, features, CPU, keepPredictions: true);
        foreach (var (k, v) in whole.Metrics) Assert.Equal(v, small.Metrics[k], 5);
        Assert.Equal(examples.Sum(e => e.Words.Count), small.Entities.Tokens);
        Assert.Equal(examples.Count, small.Predictions!.Count);
        Assert.All(small.Predictions, p => Assert.Equal(examples[p.ExampleIndex].Words.Count, p.Tags.Count));
    }

    [Fact]
    public void ALineWithTheWrongNumberOfColumnsStopsTheRunNamingFileAndLine()
    {
        using var dir = new TestSupport.TempDir();
        var train = dir.File("bad.conll");
        File.WriteAllText(train, "EU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-MISC\n\nPeter NNP I-NP I-PER\n");
        var e = Assert.Throws<DataException>(() => FineTuner.Train(Request(train, null, null, dir.File("run"))));
        Assert.Equal($"{train}:3: the line has 3 columns, but the file's first word line has 4", e.Message);
        Assert.False(Directory.Exists(dir.File("run")), "a run that stops on its data leaves no run folder");
    }

    [Fact]
    public void AnUnknownTagSchemeIsAClearError()
    {
        using var dir = new TestSupport.TempDir();
        var train = Slices.Conll(DataFiles.ConllTrain, 20, dir.File("train.conll"));
        var request = Request(train, null, null, dir.File("run")) with { TaskOptions = new TokenClassificationOptions { TagScheme = "BILOU" } };
        var e = Assert.Throws<OptionException>(() => FineTuner.Train(request));
        Assert.Equal("TokenClassificationOptions.TagScheme: Unknown tag scheme 'BILOU'. Known schemes: IO, IOB1, IOB2 (BIO), BIOES (IOBES).", e.Message);
    }

    [Fact]
    public void ATagThatFitsNoSchemeOrTheGivenOneNamesFileAndLine()
    {
        using var dir = new TestSupport.TempDir();
        var train = dir.File("train.conll");
        File.WriteAllText(train, "EU B-ORG\nrejects O\n\nPeter PERSON\n");
        var e = Assert.Throws<DataException>(() => FineTuner.Train(Request(train, null, null, dir.File("run"))));
        Assert.StartsWith($"{train}:4: column '2': tag 'PERSON' fits no tag scheme", e.Message);

        File.WriteAllText(train, "EU B-ORG\nrejects O\n\nPeter S-PER\n");
        var request = Request(train, null, null, dir.File("run")) with { TaskOptions = new TokenClassificationOptions { TagScheme = "iob2" } };
        e = Assert.Throws<DataException>(() => FineTuner.Train(request));
        Assert.StartsWith($"{train}:4: word 1 ('Peter') of the sentence: tag 'S-PER' is not allowed in IOB2", e.Message);
    }

    [Fact]
    public void JsonlAndATagColumnAreRead()
    {
        using var dir = new TestSupport.TempDir();
        var train = dir.File("train.jsonl");
        File.WriteAllLines(train, Enumerable.Repeat("""{"tokens": ["Peter", "Blackburn", "visits", "Paris"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]}""", 20));
        var result = FineTuner.Train(Request(train, null, null, dir.File("run")));
        Assert.Equal(["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], ModelFamilies.LoadConfig(Path.Combine(result.ModelDirectory, "config.json")).LabelsInOrder());

        // CoNLL-2003's chunk column (0-based 2) read as the tag instead of the NER column.
        var conll = Slices.Conll(DataFiles.ConllTrain, 30, dir.File("train.conll"));
        var request = Request(conll, null, null, dir.File("run2")) with
        {
            TaskOptions = new TokenClassificationOptions { TagColumn = 2 },
            Task = "token-classification",
            Dataset = new DatasetOptions { Columns = new ColumnMapping { Text = "tokens" }, ValidationFraction = 0.2 },
        };
        var chunks = FineTuner.Train(request);
        Assert.Contains("B-NP", ModelFamilies.LoadConfig(Path.Combine(chunks.ModelDirectory, "config.json")).LabelsInOrder()!);
        Assert.Equal(6, chunks.Summary["validation"]!.Count);
    }
}
