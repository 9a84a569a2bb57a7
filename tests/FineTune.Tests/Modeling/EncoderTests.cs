using FineTune.Configuration;
using FineTune.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Tests.Modeling;

[Collection(SeededTestsCollection.Name)]
public class EncoderTests
{
    [Fact]
    public void BertBaseStateDictHasExactlyHuggingFaceKeysAndShapes()
    {
        var expected = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Modeling", "Golden", "bert-base-uncased.state_dict.txt"))
            .Where(l => !l.StartsWith('#') && l.Length > 0)
            .Select(l => l.Split(' '))
            .Select(p => (Key: p[0], Shape: p[1]))
            .ToList();
        using var model = TaskModels.CreateEncoder(new EncoderConfig()); // EncoderConfig's defaults are bert-base-uncased's
        var actual = model.state_dict().Select(kv => (Key: kv.Key, Shape: string.Join(",", kv.Value.shape))).ToList();
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData("bert", "BertForSequenceClassification", "bert.", new[] { "classifier.weight", "classifier.bias" })]
    [InlineData("roberta", "RobertaForSequenceClassification", "roberta.", new[] { "classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias" })]
    [InlineData("xlm-roberta", "XLMRobertaForSequenceClassification", "roberta.", new[] { "classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias" })]
    [InlineData("distilbert", "DistilBertForSequenceClassification", "distilbert.", new[] { "pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias" })]
    [InlineData("electra", "ElectraForSequenceClassification", "electra.", new[] { "classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias" })]
    public void SequenceClassifiersUseTheirFamilysPrefixAndHeadKeys(string modelType, string architecture, string prefix, string[] headKeys)
    {
        var config = TestSupport.Tiny(modelType).WithLabels(["a", "b", "c"], "single_label_classification");
        using var model = TestSupport.Create(config, "classification");
        Assert.Equal(architecture, model.ArchitectureName);
        var keys = model.state_dict().Keys.ToList();
        Assert.Equal(headKeys.Order(), keys.Where(k => !k.StartsWith(prefix)).Order(), StringComparer.Ordinal);
        // Only BERT's classifier uses the pooler; the other families classify from the first token.
        Assert.Equal(modelType == "bert", keys.Contains("bert.pooler.dense.weight"));
        Assert.DoesNotContain(keys, k => k.Contains("pooler") && modelType != "bert");
        Assert.Equal(3, model.state_dict()[headKeys[^2]].shape[0]);
    }

    [Fact]
    public void DistilBertUsesItsOwnKeyNames()
    {
        using var model = TaskModels.CreateEncoder(TestSupport.Tiny("distilbert"));
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Contains("embeddings.word_embeddings.weight", keys);
        Assert.Contains("transformer.layer.1.attention.q_lin.weight", keys);
        Assert.Contains("transformer.layer.1.attention.out_lin.bias", keys);
        Assert.Contains("transformer.layer.0.sa_layer_norm.weight", keys);
        Assert.Contains("transformer.layer.0.ffn.lin1.weight", keys);
        Assert.Contains("transformer.layer.0.output_layer_norm.bias", keys);
        Assert.DoesNotContain(keys, k => k.Contains("token_type"));
        Assert.Equal(5 - 1 + 2 * 16, keys.Count);
    }

    [Fact]
    public void ElectraProjectsSmallerEmbeddings()
    {
        using var model = TaskModels.CreateEncoder(TestSupport.Tiny("electra"), addPoolingLayer: false);
        var sd = model.state_dict();
        Assert.Equal(new long[] { 100, 16 }, sd["embeddings.word_embeddings.weight"].shape);
        Assert.Equal(new long[] { 32, 16 }, sd["embeddings_project.weight"].shape);
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("roberta")]
    [InlineData("distilbert")]
    [InlineData("electra")]
    public void PaddingDoesNotChangeTheHiddenStatesOfRealTokens(string modelType)
    {
        var config = TestSupport.Tiny(modelType);
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        using var model = TaskModels.CreateEncoder(config);
        model.eval();
        var (ids, mask) = TestSupport.Batch(config.VocabSize, [5, 9], pad: config.PadTokenId);
        using var _ = inference_mode();
        var batched = model.call(new ModelInput(ids, mask)).LastHiddenState;            // [2, 9, 32]
        var alone = model.call(new ModelInput(ids[..1, ..5], mask[..1, ..5])).LastHiddenState;
        var diff = (batched[..1, ..5] - alone).abs().max().item<float>();
        // The same values, their sums blocked differently (the padded keys add exact zeros): a few ulps of states up
        // to 3; 1e-5 is 58·u of 3, the sums have up to 64 terms (typically √64·u off each); seen 3.2·u at most.
        Assert.True(diff < 1e-5, $"max abs difference {diff}");
    }

    [Fact]
    public void RobertaPositionsStartAfterThePaddingIndex()
    {
        // With RoBERTa's offset, a left-padded sequence gives its real tokens the same positions as unpadded ones.
        var config = TestSupport.Tiny("roberta");
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        using var model = TaskModels.CreateEncoder(config);
        model.eval();
        using var _ = inference_mode();
        var ids = tensor(new long[] { 7, 8, 9 }).view(1, 3);
        var leftPadded = tensor(new long[] { 1, 7, 8, 9 }).view(1, 4);
        var a = model.call(new ModelInput(ids, ones_like(ids))).LastHiddenState;
        var b = model.call(new ModelInput(leftPadded, tensor(new long[] { 0, 1, 1, 1 }).view(1, 4))).LastHiddenState;
        Assert.True((a - b[.., 1..]).abs().max().item<float>() < 1e-5); // as above: a few ulps of the states
    }
}
