using System.Text.Json.Nodes;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Tasks;
using FineTune.Modeling;
using FineTune.Tests.Text;
using FineTune.Text;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace FineTune.Tests.EndToEnd;

/// <summary>
/// RoBERTa and XLM-R end to end. No pretrained RoBERTa or XLM-R weights exist here, so the model path is proven on
/// all-MiniLM-L6-v2 laid out as RoBERTa (its weights, positions moved by padding_idx + 1, type_vocab_size 1, the same
/// tokenizer): the same hidden states as the BERT path. Training, evaluation, prediction, saving and loading run on
/// small random-weight models in RoBERTa's and XLM-R's folder layout with the byte-level BPE and Unigram tokenizers
/// trained for the goldens.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public class RobertaFamiliesTests(ITestOutputHelper output)
{
    private static string SmsTrain => Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv");
    private static string SmsTest => Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "test.csv");

    /// <summary>
    /// A RoBERTa-layout folder from the packaged all-MiniLM-L6-v2: model_type roberta, position embeddings moved down by
    /// padding_idx + 1 (row 0, the padding position, zero), the first token type row only, no pooler, the same WordPiece files.
    /// </summary>
    internal static string MiniLmAsRoberta(string folder)
    {
        var bert = ModelCatalog.Resolve("all-MiniLM-L6-v2");
        Directory.CreateDirectory(folder);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(bert, "config.json")))!.AsObject();
        int pad = config["pad_token_id"]!.GetValue<int>();
        int positions = config["max_position_embeddings"]!.GetValue<int>();
        config["model_type"] = "roberta";
        config["architectures"] = new JsonArray("RobertaModel");
        config["max_position_embeddings"] = positions + pad + 1;
        config["type_vocab_size"] = 1;
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        var weights = WeightFiles.Load(bert);
        var moved = new Dictionary<string, Tensor>();
        foreach (var (key, tensor) in weights)
        {
            if (key.StartsWith("pooler.", StringComparison.Ordinal)) continue;
            moved[key] = key switch
            {
                "embeddings.position_embeddings.weight" => cat([zeros(pad + 1, tensor.shape[1]), tensor], 0),
                "embeddings.token_type_embeddings.weight" => tensor[..1].clone(),
                _ => tensor,
            };
        }
        SafeTensors.Save(Path.Combine(folder, "model.safetensors"), moved, new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var file in new[] { "vocab.txt", "tokenizer_config.json", "special_tokens_map.json" })
            File.Copy(Path.Combine(bert, file), Path.Combine(folder, file));
        return folder;
    }

    [Fact]
    public void MiniLmLaidOutAsRobertaGivesTheSameHiddenStatesAsTheBertPath()
    {
        using var dir = new TestSupport.TempDir();
        var roberta = MiniLmAsRoberta(dir.File("minilm-as-roberta"));
        var bertFolder = ModelCatalog.Resolve("all-MiniLM-L6-v2");
        var tokenizer = Tokenizers.FromFolder(roberta);
        Assert.Equal("WordPiece", tokenizer.Model);
        var texts = new[] { "A man is playing a guitar.", "Zwei junge, weiße Männer sind im Freien.", "short", "The quick brown fox jumps over the lazy dog near the riverbank today." };
        var batch = tokenizer.ToBatch(tokenizer.EncodeBatch(texts));

        using var fromBert = LastHiddenState(bertFolder, batch);
        using var fromRoberta = LastHiddenState(roberta, batch);
        var (encoderFamily, _) = ModelFolder.LoadEncoder(roberta);
        using (encoderFamily) Assert.Equal("roberta", encoderFamily.Config.ModelType);
        // Compare the real tokens (padding positions differ by design: RoBERTa gives them the padding position).
        using var mask3 = tensor(batch.AttentionMask, batch.Shape).to(ScalarType.Bool).unsqueeze(-1).expand_as(fromBert);
        double maxDifference = (fromBert - fromRoberta).abs().masked_select(mask3).max().item<float>();
        double scale = fromBert.abs().masked_select(mask3).max().item<float>();
        output.WriteLine($"MiniLM as RoBERTa: {batch.BatchSize} texts, {batch.AttentionMask.Sum()} tokens, hidden states max |difference| {maxDifference:G3} (largest |value| {scale:G3})");
        Assert.True(maxDifference <= 1e-5, $"max |difference| {maxDifference}");
    }

    /// <summary>A random-weight model folder of a family with a trained golden tokenizer (config sized to its vocabulary).</summary>
    internal static string TinyFolder(string folder, string modelType, string tokenizerModel)
    {
        var tokenizerJson = PipelineGoldenTests.ModelPath(tokenizerModel);
        var tokenizer = PipelineTokenizer.FromTokenizerJson(tokenizerJson);
        var config = TestSupport.Tiny(modelType, vocab: tokenizer.VocabSize) with { MaxPositionEmbeddings = 130, PadTokenId = tokenizer.PaddingTokenId };
        random.manual_seed(11);
        using var encoder = TestSupport.Create(config, "similarity");
        ModelFolder.Save(encoder, folder, f =>
        {
            File.Copy(tokenizerJson, Path.Combine(f, "tokenizer.json"));
            File.WriteAllText(Path.Combine(f, "tokenizer_config.json"),
                """{"model_max_length": 128, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}""");
        });
        return folder;
    }

    [Theory]
    [InlineData("roberta", "roberta-bpe", "BPE", "RobertaForSequenceClassification")]
    [InlineData("xlm-roberta", "xlmr-unigram", "Unigram", "XLMRobertaForSequenceClassification")]
    public void TrainEvaluatePredictSaveAndLoadOnTheFamilysLayout(string modelType, string tokenizerModel, string tokenizerType, string architecture)
    {
        using var dir = new TestSupport.TempDir();
        var folder = TinyFolder(dir.File(modelType), modelType, tokenizerModel);
        var tokenizer = Tokenizers.FromFolder(folder);
        Assert.Equal(tokenizerType, tokenizer.Model);
        Assert.Equal([0, 100, 2], tokenizer.WithSpecialTokens([100]));
        Assert.Equal(1, tokenizer.PaddingTokenId);

        var request = new FineTuneRequest
        {
            Model = folder,
            Data = new DatasetFiles(SmsTrain, null, SmsTest),
            Task = "classification",
            Dataset = new DatasetOptions { Columns = new ColumnMapping { Text = "text", Label = "label" }, ValidationFraction = 0.1, MaxTrainExamples = 200 },
            Training = new TrainingOptions { Epochs = 1, BatchSize = 16, MaxLength = 48, LearningRate = 1e-3 },
            OutputDirectory = dir.File("run"),
        };
        var result = FineTuner.Train(request);
        var saved = result.ModelDirectory;
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(saved, f)), f);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "config.json")))!;
        Assert.Equal(modelType, config["model_type"]!.GetValue<string>());
        Assert.Equal(architecture, config["architectures"]![0]!.GetValue<string>());
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(result.OutputDirectory, "metrics.json")))!;
        output.WriteLine($"{modelType}: test accuracy {metrics["test"]!["accuracy"]}, loss {metrics["test"]!["loss"]}");
        Assert.NotNull(metrics["test"]!["accuracy"]);

        // The saved tokenizer is the one trained with, and the saved model predicts what the run wrote.
        Assert.Equal(tokenizer.Encode("Free entry in 2 a wkly comp").Ids, Tokenizers.FromFolder(saved).Encode("Free entry in 2 a wkly comp").Ids);
        var rows = File.ReadAllLines(Path.Combine(result.OutputDirectory, "predictions-test.csv")).Length - 1;
        Assert.Equal(1000, rows);
        using var classifier = TextClassifier.Load(saved);
        var predicted = classifier.Predict([("WINNER!! You have won a prize, call now", null), ("see you at lunch tomorrow", null)]);
        Assert.Equal(2, predicted.Count);

        var evaluation = FineTuner.Evaluate(new EvaluateRequest { Model = saved, Data = SmsTest, OutputDirectory = dir.File("eval") });
        Assert.Equal(metrics["test"]!["accuracy"]!.GetValue<double>(), evaluation.Metrics["accuracy"], 6);
    }

    /// <summary>Question/context windows of XLM-R's template give the later windows' context type id 1 (as Hugging Face does); the model takes no type ids.</summary>
    [Fact]
    public void XlmRobertaIgnoresTheTypeIdsOfLaterWindows()
    {
        using var dir = new TestSupport.TempDir();
        var folder = TinyFolder(dir.File("xlmr"), "xlm-roberta", "xlmr-unigram");
        var tokenizer = Tokenizers.FromFolder(folder);
        var context = string.Join(" ", Enumerable.Repeat("Super Bowl 50 was an American football game to determine the champion.", 12));
        var windows = tokenizer.EncodeWindows("Which game?", context, maxLength: 64, stride: 16);
        Assert.True(windows.Count > 1);
        Assert.Contains(1, windows[1].TypeIds);
        var batch = tokenizer.ToBatch(windows);
        using var withTypes = LastHiddenState(folder, batch);
        using var withoutTypes = LastHiddenState(folder, batch with { TokenTypeIds = new long[batch.TokenTypeIds.Length] });
        Assert.Equal(0f, (withTypes - withoutTypes).abs().max().item<float>());
    }

    /// <summary>The last hidden states of a folder's encoder on a batch (eval mode, no gradients).</summary>
    private static Tensor LastHiddenState(string folder, TokenBatch batch)
    {
        var (encoder, _) = ModelFolder.LoadEncoder(folder);
        using (encoder)
        using (inference_mode())
        {
            encoder.eval();
            using var ids = tensor(batch.InputIds, batch.Shape);
            using var mask = tensor(batch.AttentionMask, batch.Shape);
            using var types = tensor(batch.TokenTypeIds, batch.Shape);
            return encoder.call(new ModelInput(ids, mask, types)).LastHiddenState.clone();
        }
    }
}
