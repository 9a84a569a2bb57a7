using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Modeling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Tests.Modeling;

/// <summary>classifier_pooling "mean": sequence heads read the mean of the real tokens' states.</summary>
[Collection(SeededTestsCollection.Name)]
public class PoolingTests
{
    /// <summary>The mean of each row's real-token states, one row at a time (independent of the library's pooling).</summary>
    private static Tensor RowMeans(Tensor hidden, int[] lengths) =>
        stack(lengths.Select((n, b) => hidden[b, TensorIndex.Slice(0, n)].mean([0])).ToArray());

    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    [Theory]
    [InlineData("bert")]
    [InlineData("roberta")]
    [InlineData("distilbert")]
    [InlineData("electra")]
    public void MeanPoolingHeadsReadTheMeanOfTheRealTokens(string modelType)
    {
        random.manual_seed(5);
        var config = TestSupport.Tiny(modelType).WithLabels(["a", "b", "c"], "single_label_classification") with { ClassifierPooling = "mean" };
        using var model = TestSupport.Create(config, "classification");
        model.eval();
        int[] lengths = [3, 9, 6];
        var (ids, mask) = TestSupport.Batch(100, lengths, pad: config.PadTokenId);
        using var _ = inference_mode();
        var logits = model.call(new ModelInput(ids, mask)).Logits;
        var mean = RowMeans(model.Encoder.call(new ModelInput(ids, mask)).LastHiddenState, lengths);   // [B, H]
        var state = model.state_dict();
        Tensor Dense(Tensor x, string prefix) => functional.linear(x, state[prefix + ".weight"], state[prefix + ".bias"]);
        var expected = modelType switch
        {
            "bert" => Dense(mean, "classifier"),
            "distilbert" => Dense(functional.relu(Dense(mean, "pre_classifier")), "classifier"),
            "roberta" => Dense(Dense(mean, "classifier.dense").tanh(), "classifier.out_proj"),
            _ => Dense(functional.gelu(Dense(mean, "classifier.dense")), "classifier.out_proj"),
        };
        var (a, e) = (Values(logits), Values(expected));
        Assert.Equal(e.Length, a.Length);
        // The same means (sums of up to 9 states below 3.4: 2·9·u·3.4 = 3.6e-6 apart at most) through the same head,
        // whose weights of about 0.02 shrink that difference: 1e-5 (equal here).
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - e[i]) < 1e-5, $"{modelType} logit {i}: {a[i]} vs {e[i]}");

        // The same weights read through the first token give other logits: the setting is what changes the head.
        using var cls = TestSupport.Create(config with { ClassifierPooling = "cls" }, "classification");
        cls.load_state_dict(model.state_dict());
        cls.eval();
        Assert.NotEqual(a, Values(cls.call(new ModelInput(ids, mask)).Logits));
    }

    [Fact]
    public void TheUnusedPoolerIsFrozenUnderMeanPooling()
    {
        var config = TestSupport.Tiny().WithLabels(["a", "b"], "single_label_classification");
        using var mean = TestSupport.Create(config with { ClassifierPooling = "mean" }, "classification");
        using var cls = TestSupport.Create(config, "classification");
        var frozen = mean.named_parameters().Where(p => !p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.Equal(new[] { "bert.pooler.dense.weight", "bert.pooler.dense.bias" }, frozen);
        Assert.All(cls.parameters(), p => Assert.True(p.requires_grad));
    }

    /// <summary>A bare encoder folder (keys without prefix, with a pooler), as a pretrained model is published.</summary>
    private static string EncoderFolder(TestSupport.TempDir dir, string? sentencePooling)
    {
        var folder = dir.File("encoder-" + (sentencePooling ?? "plain"));
        random.manual_seed(2);
        var config = TestSupport.Tiny();
        using var encoder = TaskModels.CreateEncoder(config);
        Directory.CreateDirectory(folder);
        ModelFamilies.SaveConfig(config, folder);
        SafeTensors.Save(Path.Combine(folder, "model.safetensors"), encoder.state_dict());
        if (sentencePooling is not null)
            SentenceTransformersFolder.Write(folder, sentencePooling, config.HiddenSize, normalize: true);
        return folder;
    }

    private static string? PoolingOf(string folder, string task, string? requested = null)
    {
        var (model, _) = TestSupport.Load(folder, task, task == "regression" ? null : ["x", "y"],
            new ModelLoadOptions { ClassifierPooling = requested });
        using (model) return model.Config.ClassifierPooling;
    }

    [Fact]
    public void AutoPoolingFollowsTheSentenceTransformersFiles()
    {
        using var dir = new TestSupport.TempDir();
        var mean = EncoderFolder(dir, "mean");
        var cls = EncoderFolder(dir, "cls");
        var plain = EncoderFolder(dir, null);
        Assert.Equal("mean", SentenceTransformersFolder.PoolingMode(mean));
        Assert.Equal("cls", SentenceTransformersFolder.PoolingMode(cls));
        Assert.Null(SentenceTransformersFolder.PoolingMode(plain));

        Assert.Equal("mean", PoolingOf(mean, "classification"));
        Assert.Equal("mean", PoolingOf(mean, "multi-label"));
        Assert.Equal("mean", PoolingOf(mean, "regression"));
        Assert.Equal("cls", PoolingOf(cls, "classification"));
        Assert.Equal("cls", PoolingOf(plain, "classification"));
        // Asked for, either way.
        Assert.Equal("cls", PoolingOf(mean, "classification", "cls"));
        Assert.Equal("mean", PoolingOf(plain, "classification", "mean"));
        // Token tasks have no sequence head.
        Assert.Null(PoolingOf(mean, "token-classification"));

        // modules.json names the Pooling module's folder.
        Directory.Move(Path.Combine(mean, "1_Pooling"), Path.Combine(mean, "pool"));
        File.WriteAllText(Path.Combine(mean, "modules.json"),
            """[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"pool","type":"sentence_transformers.models.Pooling"}]""");
        Assert.Equal("mean", SentenceTransformersFolder.PoolingMode(mean));
    }

    [Fact]
    public void TheSavedModelKeepsItsPoolingAndReloadsIdentically()
    {
        using var dir = new TestSupport.TempDir();
        var encoder = EncoderFolder(dir, "mean");
        var (model, encoderReport) = TestSupport.Load(encoder, "classification", ["x", "y"]);
        using var _m = model;
        Assert.Equal("the model is a sentence-transformers model trained with mean pooling", encoderReport.PoolingReason);
        var saved = dir.File("saved");
        ModelFolder.Save(model, saved);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "config.json")))!;
        Assert.Equal("mean", json["classifier_pooling"]!.GetValue<string>());
        Assert.False(File.Exists(Path.Combine(saved, "modules.json")));   // the config alone carries it

        var (loaded, report) = TestSupport.Load(saved, "classification");
        using var _l = loaded;
        Assert.Empty(report.NewlyInitialized);
        Assert.Equal("mean", loaded.Config.ClassifierPooling);
        Assert.Equal("config.json's classifier_pooling", report.PoolingReason);
        model.eval();
        loaded.eval();
        var (ids, mask) = TestSupport.Batch(100, [4, 7]);
        using var __ = inference_mode();
        Assert.Equal(Values(model.call(new ModelInput(ids, mask)).Logits), Values(loaded.call(new ModelInput(ids, mask)).Logits));
    }

    [Fact]
    public void BadPoolingSettingsAreErrorsNamingTheFileAndKey()
    {
        using var dir = new TestSupport.TempDir();
        var folder = EncoderFolder(dir, null);
        var config = File.ReadAllText(Path.Combine(folder, "config.json"));
        File.WriteAllText(Path.Combine(folder, "config.json"), config.Replace("{", "{\"classifier_pooling\": \"max\",", StringComparison.Ordinal));
        var e = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification", ["x", "y"]));
        Assert.Contains("classifier_pooling", e.Message);
        Assert.Contains("unknown classifier_pooling 'max'", e.Message);
        Assert.Contains(Path.Combine(folder, "config.json"), e.Message);

        File.WriteAllText(Path.Combine(folder, "config.json"), config);
        File.WriteAllText(Path.Combine(folder, "modules.json"), "[{\"type\": ");
        var broken = Assert.Throws<ModelLoadException>(() => TestSupport.Load(folder, "classification", ["x", "y"]));
        Assert.Contains(Path.Combine(folder, "modules.json"), broken.Message);
        Assert.Contains("not valid JSON", broken.Message);

        var asked = Assert.Throws<OptionException>(() => ModelFolder.ResolvePooling(folder, TestSupport.Tiny(), "first"));
        Assert.Contains("ModelLoadOptions.ClassifierPooling", asked.Message);
    }
}
