using System.Text;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Tests.Checkpoints;

[Collection(SeededTestsCollection.Name)]
public class ModelFolderTests
{
    private static TaskModel SavedTinyModel(string folder, string modelType = "bert", string task = "classification")
    {
        random.manual_seed(11);
        var config = TestSupport.Tiny(modelType).WithLabels(["neg", "pos"], TestSupport.ProblemType(task));
        var model = TestSupport.Create(config, task);
        ModelFolder.Save(model, folder);
        return model;
    }

    [Theory]
    [InlineData("bert", "classification")]
    [InlineData("roberta", "multi-label")]
    [InlineData("distilbert", "regression")]
    [InlineData("electra", "token-classification")]
    [InlineData("bert", "question-answering")]
    public void SaveThenLoadGivesBitIdenticalOutputs(string modelType, string task)
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using var original = SavedTinyModel(folder, modelType, task);
        var (loaded, report) = TestSupport.Load(folder, task);
        using var _ = loaded;
        Assert.Empty(report.NewlyInitialized);
        Assert.Empty(report.Unused);
        Assert.Equal(original.state_dict().Count, report.LoadedCount);
        original.eval();
        loaded.eval();
        var (ids, mask) = TestSupport.Batch(100, [4, 7], pad: original.Config.PadTokenId);
        using var __ = inference_mode();
        var a = original.call(new ModelInput(ids, mask)).Logits;
        var b = loaded.call(new ModelInput(ids, mask)).Logits;
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());
        Assert.Equal(new[] { "neg", "pos" }, loaded.Config.LabelsInOrder());
    }

    [Fact]
    public void SavedFolderIsInHuggingFaceLayout()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using var _ = SavedTinyModel(folder);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        Assert.Equal("BertForSequenceClassification", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal("single_label_classification", config["problem_type"]!.GetValue<string>());
        Assert.Equal("pos", config["id2label"]!["1"]!.GetValue<string>());
        Assert.Equal(1, config["label2id"]!["pos"]!.GetValue<int>());
        var header = SafeTensors.ReadHeader(Path.Combine(folder, "model.safetensors"));
        Assert.Equal("pt", header.Metadata["format"]);
        Assert.Contains(header.Entries, e => e.Name == "bert.embeddings.word_embeddings.weight" && e.DType == "F32");
        Assert.Empty(Directory.GetDirectories(dir.Path, ".*"));
    }

    [Fact]
    public void EncoderCheckpointUnderANewHeadReportsTheNewHead()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("encoder");
        // A bare encoder checkpoint (keys without prefix, with a pooler), as a base model is published.
        random.manual_seed(2);
        var config = TestSupport.Tiny();
        using (var encoder = TaskModels.CreateEncoder(config))
        {
            Directory.CreateDirectory(folder);
            ModelFamilies.SaveConfig(config, folder);
            SafeTensors.Save(Path.Combine(folder, "model.safetensors"), encoder.state_dict());
        }
        var (model, report) = TestSupport.Load(folder, "classification", ["a", "b", "c"]);
        using var _ = model;
        Assert.Equal(new[] { "classifier.weight", "classifier.bias" }, report.NewlyInitialized);
        Assert.Contains("Newly initialised", report.Describe());
        // Loaded as token classification, the pooler is unused and reported, not an error.
        var (tokenModel, tokenReport) = TestSupport.Load(folder, "token-classification", ["O", "B-X"]);
        using var __ = tokenModel;
        Assert.Contains("pooler.dense.weight", tokenReport.Unused);
    }

    [Fact]
    public void FolderWithoutWeightsNamesTheFolderAndListsItsFiles()
    {
        using var dir = new TestSupport.TempDir();
        ModelFamilies.SaveConfig(TestSupport.Tiny(), dir.Path);
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(dir.Path, "classification"));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void PickleNeedsExplicitPermission()
    {
        using var dir = new TestSupport.TempDir();
        ModelFamilies.SaveConfig(TestSupport.Tiny(), dir.Path);
        File.WriteAllBytes(dir.File("pytorch_model.bin"), [0x80, 0x02]);
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(dir.Path, "classification"));
        Assert.Contains("pickle", e.Message);
        Assert.Contains("ModelLoadOptions.AllowPickle", e.Message);
    }

    [Fact]
    public void UnknownModelTypeNamesTheFileAndKey()
    {
        using var dir = new TestSupport.TempDir();
        File.WriteAllText(dir.File("config.json"), """{"model_type": "gpt2", "hidden_size": 32}""");
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(dir.Path, "classification"));
        Assert.Contains(dir.File("config.json"), e.Message);
        Assert.Contains("model_type", e.Message);
        Assert.Contains("gpt2", e.Message);
        Assert.Equal("model_type", e.Key);
    }

    [Fact]
    public void MissingEncoderKeyIsAnErrorNamingTheKeyAndShape()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using (SavedTinyModel(folder)) { }
        var path = Path.Combine(folder, "model.safetensors");
        var tensors = SafeTensors.Load(path);
        tensors.Remove("bert.encoder.layer.1.output.dense.weight");
        SafeTensors.Save(path, tensors);
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification"));
        Assert.Contains("missing", e.Message);
        Assert.Contains("bert.encoder.layer.1.output.dense.weight [32, 64]", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void MisShapedKeyIsAnErrorNamingBothShapes()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using (SavedTinyModel(folder)) { }
        var path = Path.Combine(folder, "model.safetensors");
        var tensors = SafeTensors.Load(path);
        tensors["bert.encoder.layer.0.attention.self.query.weight"] = zeros(32, 16);
        SafeTensors.Save(path, tensors);
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification"));
        Assert.Contains("bert.encoder.layer.0.attention.self.query.weight is [32, 16] but the model needs [32, 32]", e.Message);
    }

    [Fact]
    public void UnexpectedKeyIsAnError()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using (SavedTinyModel(folder)) { }
        var path = Path.Combine(folder, "model.safetensors");
        var tensors = SafeTensors.Load(path);
        tensors["bert.encoder.layer.2.output.dense.weight"] = zeros(32, 64);
        SafeTensors.Save(path, tensors);
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification"));
        Assert.Contains("not part of this model", e.Message);
        Assert.Contains("bert.encoder.layer.2.output.dense.weight [32, 64]", e.Message);
    }

    [Fact]
    public void HeadWithAnotherLabelCountNeedsIgnoreMismatchedSizes()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using (SavedTinyModel(folder)) { }
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification", ["a", "b", "c"]));
        Assert.Contains("ModelLoadOptions.IgnoreMismatchedSizes", e.Message);
        var (model, report) = TestSupport.Load(folder, "classification", ["a", "b", "c"],
            new ModelLoadOptions { IgnoreMismatchedSizes = true });
        using var _ = model;
        Assert.Equal(new[] { "bert.classifier.weight", "bert.classifier.bias" }.Select(k => k[5..]).Order(StringComparer.Ordinal), report.ResizedAndReinitialized.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void TruncatedSafetensorsNamesTheFileAndTheKey()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using (SavedTinyModel(folder)) { }
        var path = Path.Combine(folder, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 1000)]);
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification"));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.NotNull(e.Key);
        File.WriteAllBytes(path, bytes[..4]);
        e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification"));
        Assert.Contains("too short", e.Message);
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("this is not a weight file at all"));
        e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification"));
        Assert.Contains("not a safetensors file", e.Message);
    }

    [Fact]
    public void VocabularyLargerThanTheEmbeddingsIsAnError()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using (SavedTinyModel(folder)) { }
        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), Enumerable.Range(0, 150).Select(i => "tok" + i));
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification"));
        Assert.Contains("vocab.txt", e.Message);
        Assert.Contains("150 tokens", e.Message);
        Assert.Contains("100 rows", e.Message);
    }

    [Fact]
    public void ShardedCheckpointLoads()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("model");
        using var original = SavedTinyModel(folder);
        var path = Path.Combine(folder, "model.safetensors");
        var tensors = SafeTensors.Load(path);
        File.Delete(path);
        var keys = tensors.Keys.ToList();
        var first = keys.Take(keys.Count / 2).ToList();
        SafeTensors.Save(Path.Combine(folder, "model-00001-of-00002.safetensors"), first.Select(k => KeyValuePair.Create(k, tensors[k])));
        SafeTensors.Save(Path.Combine(folder, "model-00002-of-00002.safetensors"), keys.Skip(first.Count).Select(k => KeyValuePair.Create(k, tensors[k])));
        var map = new System.Text.Json.Nodes.JsonObject();
        foreach (var k in keys) map[k] = first.Contains(k) ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), new System.Text.Json.Nodes.JsonObject { ["metadata"] = new System.Text.Json.Nodes.JsonObject(), ["weight_map"] = map }.ToJsonString());
        var (loaded, report) = TestSupport.Load(folder, "classification");
        using var _ = loaded;
        Assert.Equal(keys.Count, report.LoadedCount);
        // A shard missing from the folder is named.
        File.Delete(Path.Combine(folder, "model-00002-of-00002.safetensors"));
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification"));
        Assert.Contains("model-00002-of-00002.safetensors", e.Message);
    }

    [Fact]
    public void RepeatedTensorNamesAreAbbreviatedByModuleAndLayer()
    {
        var names = Enumerable.Range(0, 6).SelectMany(i => new[] { "weight", "bias" }.Select(t => $"decoder.bert.encoder.layer.{i}.crossattention.self.query.{t}"))
            .Concat(["decoder.cls.predictions.bias", "classifier.weight", "classifier.bias", "encoder.layer.0.x.weight", "encoder.layer.2.x.weight", "pooler"]);
        Assert.Equal("decoder.bert.encoder.layer.{0-5}.crossattention.self.query.{weight,bias}, decoder.cls.predictions.bias, classifier.{weight,bias}, encoder.layer.{0,2}.x.weight, pooler",
            FineTune.Checkpoints.LoadReport.Abbreviate(names));
    }
}
