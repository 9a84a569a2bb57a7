using System.Globalization;
using System.Text.Json.Nodes;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Tasks;
using FineTune.Tests.Cli;
using FineTune.Tests.Data;

namespace FineTune.Tests.Export;

/// <summary>
/// `finetune predict` and `finetune evaluate` (and FineTuner.Predict / Evaluate under them) on an export folder give
/// what they give on the model folder: the same labels, entities and answers, and scores and metrics within 1e-4 (the
/// graphs agree with TorchSharp within 1e-4 on logits; softmax, sigmoid, cosine and the metrics do not enlarge that).
/// The export has no loss, so its metrics leave the loss out.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public sealed class ExportFolderPredictionTests(OnnxExportTests.Exports exports) : IClassFixture<OnnxExportTests.Exports>
{
    private const double Tolerance = 1e-4;

    /// <summary>SST-2 dev sentences (rows 101–160) with a label of the tiny models' labels, a value and a pair.</summary>
    private static string SequenceFile(TestSupport.TempDir dir)
    {
        var path = dir.File("sequence.csv");
        var labels = new[] { "negative", "neutral", "positive" };
        var rows = File.ReadLines(SharedData.File("sst2", "dev.tsv")).Skip(101).Take(60).Select(l => l.Split('\t')[0].Trim()).ToList();
        File.WriteAllLines(path, rows.Select((t, i) => string.Join(",", Quote(t), Quote(rows[(i + 1) % rows.Count]), labels[i % 3],
            labels[i % 3] + (i % 2 == 0 ? "|" + labels[(i + 1) % 3] : ""), (i % 5 * 0.25).ToString(CultureInfo.InvariantCulture)))
            .Prepend("text,pair,label,labels,value"));
        return path;
    }

    private static string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";

    [Theory]
    [InlineData("bert", "classification", "label")]
    [InlineData("distilbert", "multi-label", "labels")]
    [InlineData("roberta", "regression", "value")]
    [InlineData("bert", "similarity", "value")]
    public void SequenceModelsPredictAndEvaluateTheSameOnTheExport(string family, string task, string labelColumn)
    {
        var (folder, export) = exports.Get(family, task);
        using var dir = new TestSupport.TempDir();
        var data = SequenceFile(dir);
        string? pair = task == "similarity" ? "pair" : null;
        var columns = new ColumnMapping { Text = "text", TextPair = pair, Label = labelColumn };
        foreach (var (model, name) in new[] { (folder, "folder"), (export, "export") })
        {
            FineTuner.Predict(new PredictRequest { Model = model, Input = data, Output = dir.File($"{name}.csv"), Columns = columns });
            FineTuner.Evaluate(new EvaluateRequest
            {
                Model = model, Data = data, Dataset = new DatasetOptions { Columns = columns, LabelSeparator = "|" }, OutputDirectory = dir.File($"{name}-evaluation"),
            });
        }
        AssertSameTable(dir.File("folder.csv"), dir.File("export.csv"));
        AssertSameTable(dir.File("folder-evaluation/predictions.csv"), dir.File("export-evaluation/predictions.csv"));
        AssertSameMetrics(dir.File("folder-evaluation/metrics.json"), dir.File("export-evaluation/metrics.json"));
    }

    [Fact]
    public void TheNerModelFindsTheSameEntitiesAndScoresTheSameOnTheExport()
    {
        var (folder, export) = exports.Get("bert", "token-classification");
        using var dir = new TestSupport.TempDir();
        // CoNLL test sentences with the tiny tagger's types (PER, LOC); the other types read as O.
        var conll = dir.File("test.conll");
        File.WriteAllLines(conll, File.ReadLines(SharedData.File("conll2003", "eng.testb")).Take(1200).Select(l =>
        {
            var cells = l.Split(' ');
            return cells.Length < 4 || cells[^1].EndsWith("PER", StringComparison.Ordinal) || cells[^1].EndsWith("LOC", StringComparison.Ordinal)
                ? l
                : string.Join(' ', cells[..^1].Append("O"));
        }));
        var texts = dir.File("texts.txt");
        File.WriteAllLines(texts, File.ReadLines(SharedData.File("sst2", "dev.tsv")).Skip(1).Take(80).Select(l => l.Split('\t')[0].Trim()));
        foreach (var (model, name) in new[] { (folder, "folder"), (export, "export") })
        {
            FineTuner.Predict(new PredictRequest { Model = model, Input = texts, Output = dir.File($"{name}.jsonl") });
            FineTuner.Evaluate(new EvaluateRequest { Model = model, Data = conll, OutputDirectory = dir.File($"{name}-evaluation") });
        }
        var entities = File.ReadLines(dir.File("folder.jsonl")).Sum(l => JsonNode.Parse(l)!["entities"]!.AsArray().Count);
        Assert.True(entities > 20, $"the tiny tagger finds entities to compare ({entities})");
        AssertSameJsonLines(dir.File("folder.jsonl"), dir.File("export.jsonl"));
        AssertSameTable(dir.File("folder-evaluation/predictions.csv"), dir.File("export-evaluation/predictions.csv"));
        AssertSameMetrics(dir.File("folder-evaluation/metrics.json"), dir.File("export-evaluation/metrics.json"));
    }

    [Fact]
    public void TheQaModelGivesTheSameAnswersAndScoresOnTheExport()
    {
        var (folder, export) = exports.Get("distilbert", "question-answering");
        using var dir = new TestSupport.TempDir();
        var squad = JsonNode.Parse(File.ReadAllText(SharedData.File("squad_v1.1", "dev-v1.1.json")))!;
        var article = squad["data"]![0]!.DeepClone();
        article["paragraphs"] = new JsonArray(article["paragraphs"]!.AsArray().Take(6).Select(p => p!.DeepClone()).ToArray());
        var file = dir.File("squad.json");
        File.WriteAllText(file, new JsonObject { ["version"] = "1.1", ["data"] = new JsonArray(article) }.ToJsonString());
        var options = new QuestionAnsweringOptions { DocStride = 16 };
        foreach (var (model, name) in new[] { (folder, "folder"), (export, "export") })
        {
            FineTuner.Predict(new PredictRequest { Model = model, Input = file, Output = dir.File($"{name}.jsonl"), TaskOptions = options });
            FineTuner.Evaluate(new EvaluateRequest { Model = model, Data = file, TaskOptions = options, OutputDirectory = dir.File($"{name}-evaluation") });
        }
        Assert.True(File.ReadLines(dir.File("folder.jsonl")).Count() >= 30);
        AssertSameJsonLines(dir.File("folder.jsonl"), dir.File("export.jsonl"));
        AssertSameTable(dir.File("folder-evaluation/predictions.csv"), dir.File("export-evaluation/predictions.csv"));
        AssertSameMetrics(dir.File("folder-evaluation/metrics.json"), dir.File("export-evaluation/metrics.json"));
    }

    [Fact]
    public void TheEmbedderGivesTheSameVectorsOnTheExport()
    {
        var (folder, export) = exports.Get("bert", "similarity");
        var texts = File.ReadLines(SharedData.File("sst2", "dev.tsv")).Skip(1).Take(40).Select(l => l.Split('\t')[0].Trim()).ToList();
        using var torch = SentenceEmbedder.Load(folder);
        using var onnx = SentenceEmbedder.Load(export);
        Assert.Equal((torch.Dimension, torch.MaxLength), (onnx.Dimension, onnx.MaxLength));
        var expected = torch.Embed(texts, normalize: true);
        var actual = onnx.Embed(texts, normalize: true);
        for (int i = 0; i < texts.Count; i++)
            Assert.True(expected[i].Zip(actual[i]).Max(p => Math.Abs(p.First - p.Second)) <= Tolerance, $"text {i}");
    }

    [Fact]
    public void TheCliPredictsAndEvaluatesAnExportFolderInFp32AndInt8()
    {
        var (folder, export) = exports.Get("bert", "classification");
        using var dir = new TestSupport.TempDir();
        var data = SequenceFile(dir);
        var outputs = new List<string>();
        foreach (var (model, precision, name) in new[] { (folder, "fp32", "folder"), (export, "fp32", "export"), (export, "int8", "int8") })
        {
            var (code, stdout, error) = CliTests.Run("predict", "--model", model, "--input", data, "--output", dir.File($"{name}.csv"), "--precision", precision);
            Assert.True(code == 0, error);
            (code, stdout, error) = CliTests.Run("evaluate", "--model", model, "--data", data, "--precision", precision);
            Assert.True(code == 0, error);
            Assert.Contains("accuracy", stdout);
            outputs.Add(stdout);
        }
        AssertSameTable(dir.File("folder.csv"), dir.File("export.csv"));
        // int8 quantizes the weights: its predictions are its own, and they are read the same way (one row per input).
        Assert.Equal(File.ReadLines(dir.File("folder.csv")).Count(), File.ReadLines(dir.File("int8.csv")).Count());
        var (badCode, _, badError) = CliTests.Run("predict", "--model", folder, "--input", data, "--output", dir.File("bad.csv"), "--precision", "int8");
        Assert.NotEqual(0, badCode);
        Assert.Contains("int8 runs the quantized model of an export folder", badError);
        Assert.Contains("--precision", badError);
    }

    [Fact]
    public void TrainingRefusesInt8()
    {
        var e = Assert.Throws<OptionException>(() => new TrainingOptions { Precision = Precision.Int8 }.Validate());
        Assert.Equal("TrainingOptions.Precision", e.Option);
    }

    /// <summary>Two CSV files with the same header and rows: numbers within the tolerance, every other cell equal.</summary>
    internal static void AssertSameTable(string expected, string actual)
    {
        var a = Csv(expected);
        var b = Csv(actual);
        Assert.Equal(a.Count, b.Count);
        Assert.True(a.Count > 1, $"{expected} has rows");
        for (int r = 0; r < a.Count; r++)
        {
            Assert.Equal(a[r].Length, b[r].Length);
            for (int c = 0; c < a[r].Length; c++) AssertSameCell(a[r][c], b[r][c], $"{Path.GetFileName(actual)} row {r} column {a[0][c]}");
        }
    }

    private static List<string[]> Csv(string path)
    {
        var reader = DataFileReader.Open(path, new DataFileOptions());
        var rows = new List<string[]> { reader.Columns.ToArray() };
        foreach (var row in reader.ReadRows()) rows.Add(reader.Columns.Select(c => row[c].Text ?? "").ToArray());
        return rows;
    }

    private static void AssertSameCell(string expected, string actual, string where)
    {
        if (double.TryParse(expected, NumberStyles.Float, CultureInfo.InvariantCulture, out var x)
            && double.TryParse(actual, NumberStyles.Float, CultureInfo.InvariantCulture, out var y))
            Assert.True(Math.Abs(x - y) <= Tolerance, $"{where}: {expected} vs {actual}");
        else
            Assert.True(expected == actual, $"{where}: '{expected}' vs '{actual}'");
    }

    /// <summary>Two JSON Lines files with the same objects: numbers within the tolerance, everything else equal.</summary>
    private static void AssertSameJsonLines(string expected, string actual)
    {
        var a = File.ReadAllLines(expected);
        var b = File.ReadAllLines(actual);
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) AssertSameJson(JsonNode.Parse(a[i]), JsonNode.Parse(b[i]), $"{Path.GetFileName(actual)} line {i + 1}");
    }

    private static void AssertSameJson(JsonNode? expected, JsonNode? actual, string where)
    {
        switch (expected)
        {
            case JsonObject o:
                var other = Assert.IsType<JsonObject>(actual);
                Assert.Equal(o.Select(p => p.Key), other.Select(p => p.Key));
                foreach (var (key, value) in o) AssertSameJson(value, other[key], $"{where}.{key}");
                break;
            case JsonArray arr:
                var list = Assert.IsType<JsonArray>(actual);
                Assert.True(arr.Count == list.Count, $"{where}: {arr.Count} vs {list.Count} items");
                for (int i = 0; i < arr.Count; i++) AssertSameJson(arr[i], list[i], $"{where}[{i}]");
                break;
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number:
                Assert.True(Math.Abs(v.GetValue<double>() - actual!.GetValue<double>()) <= Tolerance, $"{where}: {v} vs {actual}");
                break;
            default:
                Assert.True(expected?.ToJsonString() == actual?.ToJsonString(), $"{where}: {expected?.ToJsonString()} vs {actual?.ToJsonString()}");
                break;
        }
    }

    /// <summary>metrics.json of an evaluation on the model folder and on the export: the same metrics (the export's without the loss), within the tolerance.</summary>
    private static void AssertSameMetrics(string expected, string actual)
    {
        var a = JsonNode.Parse(File.ReadAllText(expected))!["test"]!.AsObject();
        var b = JsonNode.Parse(File.ReadAllText(actual))!["test"]!.AsObject();
        Assert.Equal(a.Select(p => p.Key).Where(k => k != "loss").Order(), b.Select(p => p.Key).Order());
        foreach (var (key, value) in b)
            Assert.True(Math.Abs(value!.GetValue<double>() - a[key]!.GetValue<double>()) <= Tolerance, $"{key}: {a[key]} vs {value}");
    }
}
