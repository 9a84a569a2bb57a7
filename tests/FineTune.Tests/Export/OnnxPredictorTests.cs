using System.Reflection;
using System.Text.Json.Nodes;
using FineTune.Tests.Data;
using Onnx = FineTune.Onnx;
using Torch = FineTune.Tasks;

namespace FineTune.Tests.Export;

/// <summary>
/// FineTune.Onnx's predictors on an export give what FineTune's predictors give on the model folder: the same labels,
/// entities and answers, and scores within 1e-4 (the graphs agree within 1e-4 on logits; softmax and sigmoid do not
/// enlarge differences). And the assembly stays free of TorchSharp, with its own public API only.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public sealed class OnnxPredictorTests : IClassFixture<OnnxExportTests.Exports>
{
    private readonly OnnxExportTests.Exports _exports;
    private readonly List<string> _texts;

    public OnnxPredictorTests(OnnxExportTests.Exports exports)
    {
        _exports = exports;
        _texts = File.ReadLines(SharedData.File("sst2", "dev.tsv")).Skip(101).Take(100).Select(l => l.Split('\t')[0].Trim()).ToList();
    }

    [Theory]
    [InlineData("bert", "classification")]
    [InlineData("distilbert", "multi-label")]
    [InlineData("roberta", "regression")]
    [InlineData("electra", "classification")]
    public void TheTextClassifierGivesTheModelFoldersPredictions(string family, string task)
    {
        var (folder, export) = _exports.Get(family, task);
        // Pairs where the family has a second token type (the test tokenizer gives pairs type 1, which RoBERTa does not have).
        var inputs = _texts.Select((t, i) => (t, family != "roberta" && i % 3 == 0 ? _texts[(i + 1) % _texts.Count] : null)).ToList();
        using var torch = Torch.TextClassifier.Load(folder);
        using var onnx = Onnx.TextClassifier.Load(export);
        Assert.Equal(torch.Task, onnx.Task);
        Assert.Equal(torch.MaxLength, onnx.MaxLength);
        var expected = torch.Predict(inputs);
        var actual = onnx.Predict(inputs);
        for (int i = 0; i < inputs.Count; i++)
        {
            Assert.Equal(expected[i].Label, actual[i].Label);
            Assert.Equal(expected[i].Labels, actual[i].Labels);
            if (expected[i].Value is float v) Assert.True(Math.Abs(v - actual[i].Value!.Value) <= 1e-4, $"value {v} vs {actual[i].Value}");
            foreach (var (label, p) in expected[i].Probabilities ?? new Dictionary<string, float>())
                Assert.True(Math.Abs(p - actual[i].Probabilities![label]) <= 1e-4, $"{label}: {p} vs {actual[i].Probabilities![label]}");
        }
    }

    [Fact]
    public void ACalibratedClassifiersTemperatureIsAppliedOnBothSides()
    {
        var (folder, _) = _exports.Get("bert", "classification");
        using var dir = new TestSupport.TempDir();
        var calibrated = dir.File("calibrated");
        Directory.CreateDirectory(calibrated);
        foreach (var file in Directory.GetFiles(folder)) File.Copy(file, Path.Combine(calibrated, Path.GetFileName(file)));
        var metadata = JsonNode.Parse(File.ReadAllText(Path.Combine(calibrated, "finetune.json")))!;
        metadata["temperature"] = 2.5;
        File.WriteAllText(Path.Combine(calibrated, "finetune.json"), metadata.ToJsonString());
        var export = dir.File("calibrated-onnx");
        FineTuner.Export(new ExportRequest { Model = calibrated, Output = export });

        using var uncalibrated = Torch.TextClassifier.Load(folder);
        using var torch = Torch.TextClassifier.Load(calibrated);
        using var onnx = Onnx.TextClassifier.Load(export);
        var inputs = _texts.Select(t => (t, (string?)null)).ToList();
        var plain = uncalibrated.Predict(inputs);
        var expected = torch.Predict(inputs);
        var actual = onnx.Predict(inputs);
        for (int i = 0; i < inputs.Count; i++)
        {
            // Dividing the logits by 2.5 keeps the arg-max and moves every probability towards 1/3.
            Assert.Equal(plain[i].Label, expected[i].Label);
            Assert.True(expected[i].Probabilities![expected[i].Label!] <= plain[i].Probabilities![plain[i].Label!] + 1e-6);
            Assert.Equal(expected[i].Label, actual[i].Label);
            foreach (var (label, p) in expected[i].Probabilities!)
                Assert.True(Math.Abs(p - actual[i].Probabilities![label]) <= 1e-4, $"{label}: {p} vs {actual[i].Probabilities![label]}");
        }
        Assert.Contains(Enumerable.Range(0, inputs.Count), i => plain[i].Probabilities![plain[i].Label!] - expected[i].Probabilities![expected[i].Label!] > 0.01);
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("roberta")]
    public void TheEntityPredictorFindsTheSameEntities(string family)
    {
        var (folder, export) = _exports.Get(family, "token-classification");
        using var torch = Torch.EntityPredictor.Load(folder);
        using var onnx = Onnx.EntityPredictor.Load(export);
        var expected = torch.Predict(_texts);
        var actual = onnx.Predict(_texts);
        Assert.True(expected.Sum(e => e.Count) > 50, "the tiny tagger finds entities to compare");
        for (int i = 0; i < _texts.Count; i++)
        {
            Assert.Equal(expected[i].Select(e => (e.Type, e.Text, e.Start, e.End)), actual[i].Select(e => (e.Type, e.Text, e.Start, e.End)));
            foreach (var (e, a) in expected[i].Zip(actual[i]))
            {
                Assert.True(Math.Abs(e.Score - a.Score) <= 1e-4);
                Assert.Equal(_texts[i][a.Start..a.End], a.Text);
                Assert.True(a.FirstWord <= a.LastWord);
            }
        }
    }

    [Fact]
    public void TheAnswerPredictorGivesTheSameAnswers()
    {
        var (folder, export) = _exports.Get("distilbert", "question-answering");
        var squad = JsonNode.Parse(File.ReadAllText(SharedData.File("squad_v1.1", "dev-v1.1.json")))!["data"]![0]!["paragraphs"]!.AsArray();
        var questions = squad.SelectMany(p => p!["qas"]!.AsArray().Select(q => ((string)q!["question"]!, (string)p["context"]!))).Take(40).ToList();
        using var torch = Torch.AnswerPredictor.Load(folder, new Torch.AnswerPredictorOptions { MaxLength = 64, DocStride = 16 });
        using var onnx = Onnx.AnswerPredictor.Load(export, new Onnx.OnnxPredictorOptions { MaxLength = 64 }, docStride: 16);
        var expected = torch.Predict(questions);
        var actual = onnx.Predict(questions);
        for (int i = 0; i < questions.Count; i++)
        {
            Assert.Equal((expected[i].Text, expected[i].Start, expected[i].End), (actual[i].Text, actual[i].Start, actual[i].End));
            Assert.True(Math.Abs(expected[i].Score - actual[i].Score) <= 1e-4);
        }
    }

    [Fact]
    public void TheSentenceEmbedderGivesTheSameVectors()
    {
        var (folder, export) = _exports.Get("bert", "similarity");
        using var torch = FineTune.Inference.SentenceEmbedder.Load(folder);
        using var onnx = Onnx.SentenceEmbedder.Load(export);
        Assert.Equal(torch.Dimension, onnx.Dimension);
        var expected = torch.Embed(_texts, normalize: true);
        var actual = onnx.Embed(_texts, normalize: true);
        for (int i = 0; i < _texts.Count; i++)
            Assert.True(expected[i].Zip(actual[i]).Max(p => Math.Abs(p.First - p.Second)) <= 1e-4);
    }

    [Fact]
    public void AnExportMissingItsTokenizerIsOneError()
    {
        var export = Copy(_exports.Get("bert", "classification").Export, "no-tokenizer");
        File.Delete(Path.Combine(export, "tokenizer.json"));
        var e = Assert.ThrowsAny<Exception>(() => Onnx.TextClassifier.Load(export));
        Assert.Contains("tokenizer.json not found", e.Message);
        Assert.Contains(Path.Combine(export, "tokenizer.json"), e.Message);
    }

    [Fact]
    public void AnExportWhoseGraphDoesNotMatchItsConfigIsOneError()
    {
        // The graph of a DistilBERT export (no token_type_ids) under a BERT export's config.json.
        var export = Copy(_exports.Get("bert", "classification").Export, "mismatch");
        File.Copy(Path.Combine(_exports.Get("distilbert", "classification").Export, "onnx", "model.onnx"), Path.Combine(export, "onnx", "model.onnx"), overwrite: true);
        var e = Assert.ThrowsAny<Exception>(() => Onnx.TextClassifier.Load(export));
        Assert.Contains("the graph's inputs (input_ids, attention_mask) do not match config.json's finetune.inputs (input_ids, attention_mask, token_type_ids)", e.Message);
    }

    [Fact]
    public void AnExportWhoseGraphIsNotOnnxIsOneErrorNamingTheFile()
    {
        // A truncated or overwritten graph: ONNX Runtime cannot parse it, and the error names the file (FineTune and FineTune.Onnx).
        var export = Copy(_exports.Get("bert", "classification").Export, "corrupt");
        var graph = Path.Combine(export, "onnx", "model.onnx");
        File.WriteAllBytes(graph, File.ReadAllBytes(graph)[..1000]);
        var e = Assert.ThrowsAny<Exception>(() => Onnx.TextClassifier.Load(export));
        Assert.Equal(nameof(ModelLoadException), e.GetType().Name);
        Assert.StartsWith($"{graph}: ONNX Runtime cannot load it (", e.Message);
        var library = Assert.Throws<ModelLoadException>(() => FineTune.Tasks.TextClassifier.Load(export));
        Assert.Equal(graph, library.FilePath);
    }

    [Fact]
    public void AnExportOfAnotherTaskIsOneError()
    {
        var e = Assert.ThrowsAny<Exception>(() => Onnx.EntityPredictor.Load(_exports.Get("bert", "classification").Export));
        Assert.Contains("holds a classification model, not a token-classification one", e.Message);
    }

    [Fact]
    public void FineTuneOnnxNeedsNeitherTorchSharpNorTheLibrary()
    {
        var assembly = typeof(Onnx.TextClassifier).Assembly;
        var references = assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain(references, r => r!.StartsWith("TorchSharp", StringComparison.Ordinal) || r == "FineTune");
        Assert.Contains("Microsoft.ML.OnnxRuntime", references);
        // Its public API is its own namespace: the library's sources compiled into it stay internal.
        Assert.All(assembly.GetExportedTypes(), t => Assert.Equal("FineTune.Onnx", t.Namespace));
        Assert.Contains(assembly.GetTypes(), t => t.FullName == "FineTune.Text.WordPieceTokenizer" && !t.IsPublic);
    }

    private string Copy(string folder, string name)
    {
        var copy = Path.Combine(Path.GetTempPath(), "finetune-onnx-" + name + "-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var f in Directory.GetFiles(folder, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(folder, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target);
        }
        return copy;
    }
}

/// <summary>
/// The tokenizer.json of an export whose model folder had only vocab.txt is Hugging Face's format: npm `tokenizers`
/// (Hugging Face's Rust code) loads it and encodes the golden sentences, single and paired, exactly as our tokenizer
/// does (ids, type ids, offsets). The test fails saying what to install when node or the package is missing.
/// </summary>
public sealed class ExportedTokenizerJsonTests
{
    [Fact]
    public async Task HuggingFacesTokenizersEncodesAsOurTokenizer()
    {
        var tools = Path.Combine(TestSupport.RepoRoot, "tools", "tokenizer-json");
        Assert.True(Directory.Exists(Path.Combine(tools, "node_modules", "tokenizers")),
            $"npm tokenizers is not installed: npm ci --prefix {tools} (.ci/run installs it)");
        using var dir = new TestSupport.TempDir();
        // A model folder with vocab.txt only: the export writes tokenizer.json itself.
        using var tiny = new TinyModelFolder();
        var folder = tiny.ConstantTagger(["O", "B-PER", "I-PER"], "O");
        File.Delete(Path.Combine(folder, "tokenizer.json"));
        var export = dir.File("export");
        FineTuner.Export(new ExportRequest { Model = folder, Output = export });
        var ours = FineTune.Text.Tokenizers.FromFolder(folder);
        var golden = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Text", "Golden", "bert-wordpiece.json")))!["cases"]!.AsArray()
            .Where(c => (string?)c!["v"] == "uncased" && c["text"] is not null && c["words"] is null && c["max"] is null)
            .Select(c => ((string)c!["text"]!, (string?)c["pair"])).Distinct().ToList();
        Assert.True(golden.Count >= 200, $"{golden.Count} golden inputs");
        var input = dir.File("inputs.json");
        File.WriteAllText(input, new JsonArray(golden.Select(g => (JsonNode)new JsonArray(g.Item1, g.Item2)).ToArray()).ToJsonString());
        var start = new System.Diagnostics.ProcessStartInfo("node", [Path.Combine(tools, "encode.js"), Path.Combine(export, "tokenizer.json"), input])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var node = System.Diagnostics.Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = await node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync();
        Assert.True(node.ExitCode == 0, stderr);
        var theirs = JsonNode.Parse(await stdout)!.AsArray();
        for (int i = 0; i < golden.Count; i++)
        {
            var e = ours.Encode(golden[i].Item1, golden[i].Item2);
            var t = theirs[i]!;
            Assert.Equal(e.Ids, t["ids"]!.AsArray().Select(x => (int)x!));
            Assert.Equal(e.TypeIds, t["types"]!.AsArray().Select(x => (int)x!));
            Assert.Equal(e.Offsets.Select(o => (o.Start, o.End)), t["offsets"]!.AsArray().Select(o => ((int)o![0]!, (int)o[1]!)));
        }
    }
}
