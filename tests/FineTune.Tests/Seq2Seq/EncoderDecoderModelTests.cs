using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Tests.Seq2Seq;

/// <summary>
/// The encoder-decoder on tiny configs (hidden 32, 2 layers): Hugging Face's EncoderDecoderModel key layout, causal
/// decoding, generation with and without the key/value cache and batched over sources of different lengths, the
/// folder saved and loaded back bit for bit, and warm starting from an encoder checkpoint.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public class EncoderDecoderModelTests
{
    internal static EncoderDecoderConfig Config(bool tie = false, int vocab = 100, bool copy = false) => new()
    {
        Encoder = TestSupport.Tiny(vocab: vocab),
        Decoder = EncoderDecoderConfig.AsDecoder(TestSupport.Tiny(vocab: vocab)),
        DecoderStartTokenId = 1,
        EosTokenId = 2,
        PadTokenId = 0,
        TieEncoderDecoder = tie,
        CopyFromSource = copy,
    };

    internal static EncoderDecoderModel Model(bool tie = false, int seed = 7, bool copy = false)
    {
        random.manual_seed(seed);
        var model = new EncoderDecoderModel(Config(tie, copy: copy), KernelOptions.Default);
        model.eval();
        return model;
    }

    /// <summary>The same shape and the same values, bit for bit.</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static IEnumerable<string> LayerKeys(string prefix, bool cross)
    {
        foreach (var block in cross ? new[] { "attention", "crossattention" } : ["attention"])
        {
            foreach (var p in new[] { "query", "key", "value" })
                foreach (var t in new[] { "weight", "bias" }) yield return $"{prefix}.{block}.self.{p}.{t}";
            foreach (var t in new[] { "dense.weight", "dense.bias", "LayerNorm.weight", "LayerNorm.bias" }) yield return $"{prefix}.{block}.output.{t}";
        }
        foreach (var t in new[] { "intermediate.dense.weight", "intermediate.dense.bias", "output.dense.weight", "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias" })
            yield return $"{prefix}.{t}";
    }

    private static IEnumerable<string> BertKeys(string prefix, bool cross) =>
        new[] { "word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias" }
            .Select(k => $"{prefix}.embeddings.{k}")
            .Concat(Enumerable.Range(0, 2).SelectMany(i => LayerKeys($"{prefix}.encoder.layer.{i}", cross)));

    private static readonly string[] HeadKeys =
        ["decoder.cls.predictions.bias", "decoder.cls.predictions.transform.dense.weight", "decoder.cls.predictions.transform.dense.bias",
         "decoder.cls.predictions.transform.LayerNorm.weight", "decoder.cls.predictions.transform.LayerNorm.bias"];

    [Fact]
    public void StateDictKeysAreHuggingFacesEncoderDecoderModels()
    {
        using var model = Model();
        var expected = BertKeys("encoder", cross: false).Concat(BertKeys("decoder.bert", cross: true)).Concat(HeadKeys).Order(StringComparer.Ordinal);
        Assert.Equal(expected, model.state_dict().Keys.Order(StringComparer.Ordinal));

        // Shared weights: the encoder is the decoder's BERT, so only decoder.* exists (as Hugging Face saves a tied model).
        using var tied = Model(tie: true);
        Assert.Equal(BertKeys("decoder.bert", cross: true).Concat(HeadKeys).Order(StringComparer.Ordinal), tied.state_dict().Keys.Order(StringComparer.Ordinal));
        Assert.Same(tied.Encoder, tied.Decoder.Bert);

        // The copy layer's weights are keys of their own (copy.*).
        using var copying = Model(tie: true, copy: true);
        string[] copyKeys = ["copy.gate.bias", "copy.gate.weight", "copy.key.bias", "copy.key.weight", "copy.query.bias", "copy.query.weight"];
        Assert.Equal(tied.state_dict().Keys.Concat(copyKeys).Order(StringComparer.Ordinal), copying.state_dict().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void NewWeightsStartAsHuggingFaceInitialisesThem()
    {
        using var model = Model();
        var state = model.state_dict();
        var query = state["decoder.bert.encoder.layer.0.crossattention.self.query.weight"];
        // normal(0, 0.02) over 32 x 32 values: the sample deviation is within 15% of 0.02 (its own deviation is about 0.02 / sqrt(2 * 1024)).
        Assert.InRange(query.std().item<float>(), 0.017, 0.023);
        Assert.Equal(0f, state["decoder.bert.encoder.layer.0.crossattention.self.query.bias"].abs().max().item<float>());
        Assert.Equal(1f, state["decoder.bert.encoder.layer.0.crossattention.output.LayerNorm.weight"].min().item<float>());
        Assert.Equal(0f, state["decoder.cls.predictions.bias"].abs().max().item<float>());
        Assert.Equal(0f, state["decoder.bert.embeddings.word_embeddings.weight"][0].abs().max().item<float>());   // the padding row
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LaterDecoderTokensDoNotChangeEarlierLogits(bool copy)
    {
        using var model = Model(copy: copy);
        using var _ = no_grad();
        var (src, mask) = TestSupport.Batch(100, [9, 5], seed: 3);
        using var encoded = model.Encode(new ModelInput(src, mask));
        using var full = model.DecodeStep(tensor(new long[] { 1, 5, 6, 7, 1, 8, 9, 10 }).view(2, 4), 0, encoded, mask, src, null);   // [2, 4, V]
        using var changed = model.DecodeStep(tensor(new long[] { 1, 5, 60, 70, 1, 8, 90, 11 }).view(2, 4), 0, encoded, mask, src, null);
        // Positions 0 and 1 see the same tokens in both: the same logits (the same sums, in the same order).
        Assert.True(Same(full[.., ..2], changed[.., ..2]));
        Assert.False(Same(full[.., 2], changed[.., 2]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CachedStepsGiveTheLogitsOfTheWholePrefix(bool copy)
    {
        using var model = Model(copy: copy);
        using var _ = no_grad();
        var (src, mask) = TestSupport.Batch(100, [9, 5], seed: 3);
        using var encoded = model.Encode(new ModelInput(src, mask));
        var tokens = new long[] { 1, 5, 6, 7, 1, 8, 9, 10 };
        using var full = model.DecodeStep(tensor(tokens).view(2, 4), 0, encoded, mask, src, null);                      // [2, 4, V]
        using var cache = model.NewCache();
        for (int t = 0; t < 4; t++)
        {
            using var step = model.DecodeStep(tensor(new[] { tokens[t], tokens[4 + t] }).view(2, 1), t, encoded, mask, src, cache);   // [2, 1, V]
            // The same values up to the order of the sums (shapes differ, so the products block differently): within
            // 2·n·u of the largest logit, n = 96 the longest sum (the fused Q/K/V projection's 3H). With the copy
            // layer the outputs are log-probabilities, sums over the vocabulary of 100 (the log-softmax) and over 2H
            // (the gate): n = 100 + 96 bounds the error relative to the largest of them.
            double error = (step[.., 0] - full[.., t]).abs().max().item<float>();
            double scale = full[.., t].abs().max().item<float>();
            Assert.True(error <= TestSupport.SumOrderBound(copy ? 100 + 3 * 32 : 3 * 32) * scale, $"step {t}: {error} vs scale {scale}");
        }
        Assert.Equal(4, cache.Length);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(1, true)]
    [InlineData(3, true)]
    public void GenerationWithAndWithoutTheCacheGivesTheSameTokens(int beams, bool copy)
    {
        using var model = Model(copy: copy);
        var (src, mask) = TestSupport.Batch(100, [9, 5, 12], seed: 4);
        var settings = new GenerationSettings(beams, MaxNewTokens: 8, NoRepeatNgramSize: 2);
        List<int[]> cached, uncached;
        using (inference_mode())
        {
            cached = SequenceGenerator.Generate(model, src, mask, settings);
            uncached = SequenceGenerator.Generate(model, src, mask, settings with { UseCache = false });
        }
        Assert.Equal(cached, uncached);
        Assert.All(cached, c => Assert.InRange(c.Length, 1, 8));
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(1, true)]
    [InlineData(3, true)]
    public void BatchedGenerationEqualsOneSourceAtATime(int beams, bool copy)
    {
        using var model = Model(copy: copy);
        var (src, mask) = TestSupport.Batch(100, [9, 5, 12], seed: 4);
        var settings = new GenerationSettings(beams, MaxNewTokens: 8);
        using var _ = inference_mode();
        var batched = SequenceGenerator.Generate(model, src, mask, settings);
        for (int i = 0; i < 3; i++)
        {
            int length = (int)mask[i].sum().item<long>();
            var alone = SequenceGenerator.Generate(model, src[i..(i + 1), ..length], mask[i..(i + 1), ..length], settings);
            Assert.Equal(batched[i], alone[0]);
        }
    }

    [Fact]
    public void NoRepeatNgramBansTheTokensThatWouldRepeatAnNgram()
    {
        Assert.Equal([6], Decoding.BannedTokens([1, 5, 6, 7, 5], 2).Order());
        Assert.Equal([7], Decoding.BannedTokens([1, 5, 6, 7, 5, 6], 3).Order());
        Assert.Empty(Decoding.BannedTokens([1, 5, 6, 7], 2));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void SavedFolderLoadsBackBitIdentical(bool tie, bool copy)
    {
        using var dir = new TestSupport.TempDir();
        using var model = Model(tie, copy: copy);
        ModelFolder.Save(model, dir.File("model"));
        using var loaded = EncoderDecoderFolder.Load(dir.File("model"), KernelOptions.Default, new ModelLoadOptions());
        var saved = model.state_dict();
        var back = loaded.state_dict();
        Assert.Equal(saved.Keys.Order(StringComparer.Ordinal), back.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, value) in saved)
            Assert.True(Same(value, back[key]), key);
        Assert.Equal(model.Seq2SeqConfig.ToJson(), loaded.Seq2SeqConfig.ToJson());
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir.File("model/config.json")))!;
        Assert.Equal("encoder-decoder", (string?)json["model_type"]);
        Assert.Equal(1, (int)json["decoder_start_token_id"]!);
        Assert.Equal(0, (int)json["pad_token_id"]!);
        Assert.Equal(tie, (bool)json["tie_encoder_decoder"]!);
        Assert.True((bool)json["decoder"]!["is_decoder"]!);
        Assert.True((bool)json["decoder"]!["add_cross_attention"]!);
        Assert.Equal(copy, json["copy_from_source"] is { } c && (bool)c);
        Assert.Equal(copy, loaded.Copy is not null);
    }

    [Fact]
    public void TheCopyLayerMixesTheVocabularyWithTheSourcesTokensAsThePointerGeneratorFormulaSays()
    {
        random.manual_seed(11);
        using var layer = new CopyLayer(8);
        using var _ = no_grad();
        // Two sources of 5 positions (the second padded after 3) over a vocabulary of 12; token 7 repeats in the first
        // source, and token 9 appears only in the second's padding, so it must never be copied.
        long[] ids = [3, 7, 4, 7, 5, 6, 3, 8, 9, 9];
        long[] maskValues = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        using var sourceIds = tensor(ids).view(2, 5);
        using var mask = tensor(maskValues).view(2, 5);
        using var hidden = randn(2, 4, 8);
        using var encoded = randn(2, 5, 8);
        using var logits = randn(2, 4, 12) * 3;
        using var mixed = layer.Mix(hidden, logits, encoded, mask, sourceIds);                // [2, 4, 12]
        Assert.Equal(ScalarType.Float32, mixed.dtype);

        // The formula in fp64 from the layer's own weights, one position at a time.
        var weights = layer.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64));
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 4; t++)
            {
                var h = hidden[b, t].to(ScalarType.Float64);
                var q = weights["query.weight"].matmul(h) + weights["query.bias"];
                var e = encoded[b].to(ScalarType.Float64);                                     // [5, 8]
                var k = e.matmul(weights["key.weight"].t()) + weights["key.bias"];             // [5, 8]
                var scores = k.matmul(q).div(Math.Sqrt(8)).data<double>().ToArray();
                var real = Enumerable.Range(0, 5).Where(i => maskValues[b * 5 + i] == 1).ToArray();
                double top = real.Max(i => scores[i]);
                double total = real.Sum(i => Math.Exp(scores[i] - top));
                var attention = new double[5];
                foreach (var i in real) attention[i] = Math.Exp(scores[i] - top) / total;
                var context = e.t().matmul(tensor(attention, ScalarType.Float64));
                double g = (weights["gate.weight"].matmul(cat([h, context])) + weights["gate.bias"]).item<double>();
                double p = 1 / (1 + Math.Exp(-g));
                var vocabulary = logits[b, t].to(ScalarType.Float64).softmax(0).data<double>().ToArray();
                var got = mixed[b, t].to(ScalarType.Float64).exp().data<double>().ToArray();
                for (int w = 0; w < 12; w++)
                {
                    double copied = 0;
                    foreach (var i in real) if (ids[b * 5 + i] == w) copied += attention[i];
                    double expected = p * vocabulary[w] + (1 - p) * copied;
                    // Fewer than 20 fp32 operations on values below 40 in magnitude lie between the inputs and log P:
                    // |log P − log P̂| ≤ 20 · 40 · 2^-24 < 1e-4, so P is within 1e-4 of P̂ relatively.
                    Assert.True(Math.Abs(got[w] - expected) <= 1e-4 * expected, $"[{b}, {t}, {w}]: {got[w]} vs {expected}");
                }
                if (b == 1) Assert.True(Math.Abs(got[9] - p * vocabulary[9]) <= 1e-4 * got[9], "a token only in the padding is never copied");
                Assert.Equal(1.0, got.Sum(), 1e-5);
            }
    }

    [Fact]
    public void TheCopyLayerIsTrainedWithTheModel()
    {
        using var model = Model(copy: true);
        model.train();
        var (src, mask) = TestSupport.Batch(100, [9, 5], seed: 3);
        using var labels = tensor(new long[] { 5, 6, 7, 2, 8, 9, CrossEntropyLoss.IgnoreIndex, CrossEntropyLoss.IgnoreIndex }).view(2, 4);
        var output = model.call(new ModelInput(src, mask) { Labels = labels });
        output.Loss!.backward();
        // Every copy weight learns but the key's bias: q·b is the same for every source position, which softmax ignores
        // (as with any attention's key bias), so its gradient is zero up to rounding.
        var copyWeights = model.named_parameters().Where(p => p.name.StartsWith(CopyLayer.Prefix, StringComparison.Ordinal)).ToList();
        Assert.Equal(6, copyWeights.Count);
        foreach (var (name, p) in copyWeights.Where(p => p.name != "copy.key.bias"))
            Assert.True(p.grad is { } grad && grad.abs().max().item<float>() > 0, $"{name} has no gradient");
        // The outputs are log-probabilities: each position's probabilities sum to 1.
        using var sums = output.Logits.detach().exp().sum(-1);
        Assert.True((sums - 1).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void WarmStartLoadsTheEncoderCheckpointIntoBothHalves()
    {
        var folder = TinyModelFolder.Shared;
        var encoderConfig = ModelFolder.LoadConfig(folder);
        var config = new EncoderDecoderConfig
        {
            Encoder = encoderConfig, Decoder = EncoderDecoderConfig.AsDecoder(encoderConfig), DecoderStartTokenId = 101, EosTokenId = 102, PadTokenId = 0,
        };
        random.manual_seed(1);
        var (model, report) = EncoderDecoderFolder.WarmStart(folder, folder, config, KernelOptions.Default, new ModelLoadOptions(), fromScratch: false);
        using var _ = model;
        var checkpoint = WeightFiles.Load(folder);
        var state = model.state_dict();
        foreach (var (key, value) in checkpoint)
        {
            Assert.True(Same(state["encoder." + key], value), "encoder." + key);
            Assert.True(Same(state["decoder.bert." + key], value), "decoder.bert." + key);
        }
        var fresh = state.Keys.Where(k => k.Contains(".crossattention.") || k.StartsWith("decoder.cls.", StringComparison.Ordinal)).Order(StringComparer.Ordinal);
        Assert.Equal(fresh, report.NewlyInitialized.Order(StringComparer.Ordinal));
        Assert.Equal(2 * checkpoint.Count, report.LoadedCount);
    }
}

/// <summary>The array operations of greedy decoding and beam search (Modeling.Decoding) against libtorch's: top-k, log-softmax, argmax.</summary>
public class DecodingTests
{
    [Fact]
    public void TopKLogSoftmaxAndArgMaxAreLibtorchs()
    {
        var random = new Random(5);
        for (int trial = 0; trial < 20; trial++)
        {
            var values = Enumerable.Range(0, 3000).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
            using var t = tensor(values);
            var (topValues, topIndices) = t.topk(8);
            var scores = new float[8];
            var indices = new long[8];
            Decoding.TopK(values, scores, indices);
            Assert.Equal(topValues.data<float>().ToArray(), scores);
            Assert.Equal(topIndices.data<long>().ToArray(), indices);   // 3,000 random doubles as floats: no ties
            Assert.Equal(t.argmax().item<long>(), Decoding.ArgMax(values));

            var row = values.ToArray();
            Decoding.LogSoftmax(row);
            var expected = t.log_softmax(0).data<float>().ToArray();
            // Values in [-10, 10] over 3,000 entries: the log-sum-exp is about 10 + log(3000 / 20) ≈ 15, and fp32
            // rounding of each difference is below 2 ulps of 25 (4e-6).
            for (int j = 0; j < row.Length; j++) Assert.True(Math.Abs(row[j] - expected[j]) < 1e-5, $"{j}: {row[j]} vs {expected[j]}");
        }
        // Equal values keep index order, as the first of equal maxima is argmax's.
        var ties = new float[] { 1, 3, 3, 2, 3 };
        var s = new float[3];
        var i = new long[3];
        Decoding.TopK(ties, s, i);
        Assert.Equal([1L, 2L, 4L], i);
        Assert.Equal(1, Decoding.ArgMax(ties));
    }

    /// <summary>
    /// A decoder whose next token is always end-of-sequence (logit 5) unless it is banned; then token 3 (logit 4),
    /// then the others (0). Vocabulary 6, end-of-sequence 2.
    /// </summary>
    private sealed class EndAtOnce : IDecoderSteps
    {
        public int Steps { get; private set; }

        public float[] NextLogits(IReadOnlyList<List<int>> sequences)
        {
            Steps++;
            var logits = new float[sequences.Count * 6];
            for (int r = 0; r < sequences.Count; r++)
            {
                logits[r * 6 + 2] = 5;
                logits[r * 6 + 3] = 4;
            }
            return logits;
        }

        public void Reorder(long[] rows) { }

        public void Dispose() { }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(1, 3)]
    [InlineData(3, 0)]
    [InlineData(3, 3)]
    [InlineData(3, 8)]
    public void NoOutputEndsBeforeTheMinimumOfNewTokens(int beams, int minimum)
    {
        using var steps = new EndAtOnce();
        var settings = new GenerationSettings(beams, MaxNewTokens: 8, MinNewTokens: minimum);
        var outputs = Decoding.Run(steps, 2, new SpecialTokens(Start: 1, Eos: 2, Pad: 0), settings);
        // The end comes as soon as it is allowed: after exactly `minimum` tokens (token 3, the best of the others),
        // or at the most new tokens when the minimum is all of them.
        Assert.All(outputs, o => Assert.Equal(Enumerable.Repeat(3, minimum), o));
        // Greedy decoding stops with the end; beam search once its three beams have each finished (one step more).
        Assert.Equal(Math.Min(minimum + (beams == 1 ? 1 : 2), 8), steps.Steps);
        Assert.Null(settings.Problem());
        Assert.Equal(("MinNewTokens", "must be between 0 and the most new tokens (8), got 9"), (settings with { MinNewTokens = 9 }).Problem());
    }
}
