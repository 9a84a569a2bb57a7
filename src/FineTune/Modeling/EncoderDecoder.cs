using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Modeling;

// A sequence-to-sequence model warm-started from encoder checkpoints, as Hugging Face's modeling_encoder_decoder.py
// (EncoderDecoderModel) and modeling_bert.py (BertLMHeadModel) define it (Rothe, Narayan & Severyn, TACL 2020):
// encoder -> decoder (causal self-attention, cross-attention over the encoder's states, feed-forward) -> LM head tied
// to the decoder's word embeddings. Field names are the checkpoint keys: encoder.*, decoder.bert.*, decoder.cls.*.

/// <summary>
/// config.json of an encoder-decoder model in Hugging Face's layout: model_type "encoder-decoder", the encoder's and
/// the decoder's configs (the decoder's with is_decoder and add_cross_attention), the token that starts decoding,
/// the end-of-sequence and padding tokens, and whether the two halves share their weights (Rothe et al.'s BERTShare).
/// </summary>
internal sealed record EncoderDecoderConfig
{
    public const string ModelType = "encoder-decoder";

    public required EncoderConfig Encoder { get; init; }
    /// <summary>The decoder's config, with is_decoder and add_cross_attention (<see cref="AsDecoder"/>).</summary>
    public required EncoderConfig Decoder { get; init; }
    public required int DecoderStartTokenId { get; init; }
    public required int EosTokenId { get; init; }
    public required int PadTokenId { get; init; }
    public bool TieEncoderDecoder { get; init; }

    /// <summary>
    /// Whether the decoder may copy source tokens (config.json's "copy_from_source", a FineTune extension): a copy
    /// layer mixes the vocabulary distribution with an attention distribution over the source's tokens
    /// (<see cref="CopyLayer"/>). Needs one vocabulary for the source and the output.
    /// </summary>
    public bool CopyFromSource { get; init; }

    /// <summary>config.json's key of <see cref="CopyFromSource"/>.</summary>
    public const string CopyFromSourceKey = "copy_from_source";

    /// <summary>The vocabulary the decoder generates from.</summary>
    public int VocabSize => Decoder.VocabSize;

    /// <summary>
    /// A pretrained encoder's config as a decoder's (Hugging Face's from_encoder_decoder_pretrained): is_decoder and
    /// add_cross_attention set, architectures BertLMHeadModel.
    /// </summary>
    public static EncoderConfig AsDecoder(EncoderConfig config)
    {
        var extra = new Dictionary<string, JsonElement>(config.Extra ?? [], StringComparer.Ordinal)
        {
            ["is_decoder"] = JsonSerializer.SerializeToElement(true),
            ["add_cross_attention"] = JsonSerializer.SerializeToElement(true),
        };
        return config with { Extra = extra, Architectures = [ModelFamilies.Of(config).ArchitecturePrefix + "LMHeadModel"], Id2Label = null, Label2Id = null, ProblemType = null, ClassifierPooling = null };
    }

    /// <summary>Checks what the model needs: a BERT-architecture decoder, the halves' widths, and for shared weights one vocabulary.</summary>
    public void Validate(string source = "config.json")
    {
        if (Decoder.ModelType != "bert")
            throw new ModelLoadException($"the decoder must be a BERT model (BertLMHeadModel), got model_type '{Decoder.ModelType}'", source, "decoder.model_type");
        if (Encoder.HiddenSize != Decoder.HiddenSize)
            throw new ModelLoadException($"the encoder's hidden_size {Encoder.HiddenSize} differs from the decoder's {Decoder.HiddenSize}; cross-attention needs them equal",
                source, "decoder.hidden_size");
        foreach (var (id, key) in new[] { (DecoderStartTokenId, "decoder_start_token_id"), (EosTokenId, "eos_token_id"), (PadTokenId, "pad_token_id") })
            if (id < 0 || id >= Decoder.VocabSize)
                throw new ModelLoadException($"{id} is outside the decoder's vocabulary of {Decoder.VocabSize}", source, key);
        if (TieEncoderDecoder && !SameArchitecture(Encoder, Decoder))
            throw new ModelLoadException("tie_encoder_decoder needs the encoder and the decoder to have the same architecture (model type, vocabulary, sizes)",
                source, "tie_encoder_decoder");
        if (CopyFromSource && Encoder.VocabSize != Decoder.VocabSize)
            throw new ModelLoadException($"copying source tokens needs one vocabulary for the source and the output; the encoder has {Encoder.VocabSize} tokens, the decoder {Decoder.VocabSize}",
                source, CopyFromSourceKey);
    }

    private static bool SameArchitecture(EncoderConfig a, EncoderConfig b) =>
        (a.ModelType, a.VocabSize, a.HiddenSize, a.NumHiddenLayers, a.NumAttentionHeads, a.IntermediateSize, a.MaxPositionEmbeddings, a.TypeVocabSize, a.HiddenAct, a.PadTokenId)
        == (b.ModelType, b.VocabSize, b.HiddenSize, b.NumHiddenLayers, b.NumAttentionHeads, b.IntermediateSize, b.MaxPositionEmbeddings, b.TypeVocabSize, b.HiddenAct, b.PadTokenId);

    /// <summary>config.json text: the sub-configs with their family's key names, keys sorted as transformers writes them.</summary>
    public string ToJson()
    {
        var obj = new JsonObject
        {
            ["architectures"] = new JsonArray("EncoderDecoderModel"),
            ["decoder"] = JsonNode.Parse(ModelFamilies.ConfigJson(Decoder)),
            ["decoder_start_token_id"] = DecoderStartTokenId,
            ["encoder"] = JsonNode.Parse(ModelFamilies.ConfigJson(Encoder with { Architectures = [ModelFamilies.Of(Encoder).ArchitecturePrefix + "Model"] })),
            ["eos_token_id"] = EosTokenId,
            ["is_encoder_decoder"] = true,
            ["model_type"] = ModelType,
            ["pad_token_id"] = PadTokenId,
            ["tie_encoder_decoder"] = TieEncoderDecoder,
        };
        if (CopyFromSource) obj[CopyFromSourceKey] = true;
        return obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Whether config.json text is an encoder-decoder's (model_type "encoder-decoder").</summary>
    public static bool Describes(string json)
    {
        try { return JsonNode.Parse(json) is JsonObject o && o["model_type"]?.GetValueKind() == JsonValueKind.String && o["model_type"]!.GetValue<string>() == ModelType; }
        catch (JsonException) { return false; }
    }

    /// <summary>Parses and validates an encoder-decoder config.json; <paramref name="source"/> names it in errors.</summary>
    public static EncoderDecoderConfig Parse(string json, string source = "config.json")
    {
        JsonObject obj;
        try { obj = JsonNode.Parse(json) as JsonObject ?? throw new ModelLoadException("config.json must hold a JSON object", source); }
        catch (JsonException e) { throw new ModelLoadException($"not valid JSON: {e.Message}", source, inner: e); }
        EncoderConfig Sub(string key) => obj[key] is JsonObject sub
            ? ModelFamilies.ParseConfig(sub.ToJsonString(), $"{source} ({key})")
            : throw new ModelLoadException($"has no \"{key}\" config", source, key);
        int Id(string key, int? fallback = null) => obj[key] is JsonValue v && v.TryGetValue<int>(out var id) ? id
            : fallback ?? throw new ModelLoadException($"has no \"{key}\"", source, key);
        var decoder = Sub("decoder");
        var config = new EncoderDecoderConfig
        {
            Encoder = Sub("encoder"),
            Decoder = decoder,
            DecoderStartTokenId = Id("decoder_start_token_id"),
            EosTokenId = Id("eos_token_id", obj["decoder"]?["eos_token_id"] is JsonValue de && de.TryGetValue<int>(out var eos) ? eos : null),
            PadTokenId = Id("pad_token_id", decoder.PadTokenId),
            TieEncoderDecoder = obj["tie_encoder_decoder"] is JsonValue t && t.TryGetValue<bool>(out var tie) && tie,
            CopyFromSource = obj[CopyFromSourceKey] is JsonValue c && c.TryGetValue<bool>(out var copy) && copy,
        };
        config.Validate(source);
        return config;
    }
}

/// <summary>
/// An encoder and a BERT decoder with cross-attention and an LM head (Hugging Face's EncoderDecoderModel). Trained
/// with teacher forcing: the decoder reads the labels shifted right behind decoder_start_token_id and predicts each
/// label; labels of -100 (padding) are ignored by the loss. With tie_encoder_decoder the encoder is the decoder's
/// own BERT without cross-attention (one set of weights, Rothe et al.'s BERTShare), and only decoder.* is saved.
/// </summary>
internal sealed class EncoderDecoderModel : TaskModel
{
    private readonly TransformerEncoder? encoder;
    private readonly BertLMHeadModel decoder;
    private readonly CopyLayer? copy;

    internal EncoderDecoderModel(EncoderDecoderConfig config, KernelOptions kernels)
        : base(nameof(EncoderDecoderModel), config.Encoder)
    {
        config.Validate();
        Seq2SeqConfig = config;
        NumOutputs = config.VocabSize;
        if (!config.TieEncoderDecoder)
            encoder = TaskModels.CreateEncoder(config.Encoder, addPoolingLayer: false, kernels);
        decoder = new BertLMHeadModel(config.Decoder, kernels);
        if (config.CopyFromSource)
            copy = new CopyLayer(config.Decoder.HiddenSize);
        RegisterComponents();
        // New modules start as Hugging Face initialises them; loading pretrained weights then overwrites what it has.
        WeightInit.Apply(this, config.Decoder.InitializerRange, config.Decoder.PadTokenId);
    }

    public EncoderDecoderConfig Seq2SeqConfig { get; }

    public override TransformerEncoder Encoder => encoder ?? decoder.Bert;

    /// <summary>The decoder (BertLMHeadModel).</summary>
    internal BertLMHeadModel Decoder => decoder;

    public override string ArchitectureName => "EncoderDecoderModel";

    /// <summary>What an encoder checkpoint does not have: the decoder's LM head (and its cross-attention), the copy layer.</summary>
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["decoder.cls.", CopyLayer.Prefix];

    internal override string? OwnConfigJson => Seq2SeqConfig.ToJson();

    /// <summary>
    /// Training: the loss of predicting <see cref="ModelInput.Labels"/> [B, T] from the source; logits [B, T, V] (with
    /// the copy layer, log-probabilities: the logits of the mixed distribution).
    /// </summary>
    public override ModelOutput forward(ModelInput input)
    {
        var labels = input.Labels ?? throw new ArgumentException("an encoder-decoder is trained on labels (the target ids)", nameof(input));
        using var encoded = Encode(input);                                                    // [B, S, H]
        using var decoderIds = ShiftRight(labels);                                            // [B, T]
        using var hidden = decoder.Bert.Decode(new ModelInput(decoderIds, ones_like(decoderIds)), encoded, input.AttentionMask, null);
        var logits = Predict(hidden, encoded, input.AttentionMask, input.InputIds);           // [B, T, H] -> [B, T, V]
        using var fp32 = logits.to(ScalarType.Float32);
        return Output(fp32, labels) with { Logits = logits };
    }

    /// <summary>The next-token logits [B, T, V] of the decoder's states [B, T, H]: the LM head's, mixed with copies of the source's tokens where the model copies.</summary>
    private Tensor Predict(Tensor hidden, Tensor encoded, Tensor encoderMask, Tensor sourceIds)
    {
        var logits = decoder.Logits(hidden);                                                  // [B, T, V]
        if (copy is null) return logits;
        using var _ = logits;
        return copy.Mix(hidden, logits, encoded, encoderMask, sourceIds);
    }

    /// <summary>The encoder's last hidden states [B, S, H] of a source batch.</summary>
    internal Tensor Encode(ModelInput source) => Encoder.call(source with { Labels = null }).LastHiddenState;

    /// <summary>
    /// One decoding step: the logits [B, T, V] of the tokens <paramref name="ids"/> [B, T] at positions from
    /// <paramref name="pastLength"/>, over the encoder's states of the source <paramref name="sourceIds"/> [B, S];
    /// <paramref name="cache"/> holds the earlier tokens' keys and values (and the encoder's) and receives these tokens'.
    /// </summary>
    internal Tensor DecodeStep(Tensor ids, int pastLength, Tensor encoderHidden, Tensor encoderMask, Tensor sourceIds, DecoderCache? cache)
    {
        using var hidden = decoder.Bert.Decode(new ModelInput(ids, ones_like(ids)) { PastLength = pastLength }, encoderHidden, encoderMask, cache);
        return Predict(hidden, encoderHidden, encoderMask, sourceIds);
    }

    /// <summary>The copy layer (null unless <see cref="EncoderDecoderConfig.CopyFromSource"/>).</summary>
    internal CopyLayer? Copy => copy;

    /// <summary>An empty key/value cache for this model's decoder.</summary>
    internal DecoderCache NewCache() => new(Seq2SeqConfig.Decoder.NumHiddenLayers);

    /// <summary>Hugging Face's shift_tokens_right: [start, y1 … y(T-1)], with ignored labels (-100) read as padding.</summary>
    internal Tensor ShiftRight(Tensor labels)
    {
        long b = labels.shape[0];
        using var start = full(b, 1, Seq2SeqConfig.DecoderStartTokenId, dtype: ScalarType.Int64, device: labels.device);   // [B, 1]
        using var head = labels[.., ..^1];                                                  // [B, T-1]
        using var shifted = cat([start, head], 1);                                          // [B, T]
        return shifted.masked_fill(shifted.eq(CrossEntropyLoss.IgnoreIndex), Seq2SeqConfig.PadTokenId);
    }
}

/// <summary>
/// Copying from the source (a pointer-generator, See, Liu &amp; Manning, ACL 2017, over a Transformer's states): an
/// attention of the decoder's states over the encoder's gives a distribution over the source's positions, and so over
/// the tokens there; a gate p = sigmoid(w·[state; context] + b) mixes the LM head's distribution with it:
/// P(w) = p·softmax(logits)(w) + (1 − p)·Σ attention(i : source token i is w). The output is log P, which serves as
/// logits (its softmax is P), so losses and decoding read it unchanged. The distributions are fp32. Keys: copy.query.*,
/// copy.key.*, copy.gate.* (new weights, initialised as Hugging Face initialises Linear layers).
/// </summary>
internal sealed class CopyLayer : Module<Tensor, Tensor>
{
    /// <summary>The state-dict prefix of the layer in an <see cref="EncoderDecoderModel"/>.</summary>
    public const string Prefix = "copy.";

    // The least probability, so that log P stays finite where softmax underflows (exp(−69) is below fp32's resolution
    // next to any probability that counts).
    internal const float Smallest = 1e-30f;

    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear gate;
    private readonly double _scale;

    internal CopyLayer(long hiddenSize) : base(nameof(CopyLayer))
    {
        query = Linear(hiddenSize, hiddenSize);
        key = Linear(hiddenSize, hiddenSize);
        gate = Linear(2 * hiddenSize, 1);
        _scale = 1.0 / Math.Sqrt(hiddenSize);
        RegisterComponents();
    }

    /// <summary>
    /// log P [B, T, V] (fp32) of the decoder's states <paramref name="hidden"/> [B, T, H], the LM head's
    /// <paramref name="logits"/> [B, T, V], the encoder's states [B, S, H] with their mask [B, S], and the source's
    /// token ids [B, S].
    /// </summary>
    internal Tensor Mix(Tensor hidden, Tensor logits, Tensor encoded, Tensor encoderMask, Tensor sourceIds)
    {
        using var scope = NewDisposeScope();
        var state = hidden.to(ScalarType.Float32);                                            // [B, T, H]
        var memory = encoded.to(ScalarType.Float32);                                          // [B, S, H]
        // q·(W·m + b) = (q·W)·m + q·b: the T queries are projected instead of the S source states (a generation step
        // has T = 1). The projections may run in bf16 under autocast; the distributions are fp32.
        var q = query.call(state);                                                            // [B, T, H]
        var scores = q.matmul(key.weight!).matmul(memory.transpose(1, 2))                     // [B, T, S]
            .add(q.matmul(key.bias!).unsqueeze(-1)).to(ScalarType.Float32).mul_(_scale);
        var padding = encoderMask.eq(0).unsqueeze(1);                                         // [B, 1, S]
        var attention = scores.masked_fill(padding, float.NegativeInfinity).softmax(-1);      // [B, T, S]
        var context = attention.matmul(memory);                                               // [B, T, H]
        var switchLogit = gate.call(cat([state, context.to(ScalarType.Float32)], -1)).to(ScalarType.Float32);   // [B, T, 1]
        var shape = logits.shape;
        var index = sourceIds.unsqueeze(1).expand(shape[0], shape[1], sourceIds.shape[1]);     // [B, T, S]
        // p·softmax(logits), plus (1 − p)·attention added at the source's ids: few passes over the vocabulary.
        var mixed = logits.softmax(-1, ScalarType.Float32).mul(functional.sigmoid(switchLogit));          // [B, T, V]
        mixed.scatter_add_(2, index, attention.mul(functional.sigmoid(switchLogit.neg())));
        return mixed.clamp_min(Smallest).log().MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor hidden) => throw new NotSupportedException("call Mix");
}

/// <summary>
/// BERT as a decoder with its language-modelling head (Hugging Face's BertLMHeadModel): bert (embeddings, layers with
/// cross-attention, no pooler) and cls.predictions, whose output projection is the word embeddings (tied, so it is no
/// parameter of its own and no key in the checkpoint).
/// </summary>
internal sealed class BertLMHeadModel : Module<Tensor, Tensor>
{
    private readonly BertModel bert;
    private readonly BertOnlyMLMHead cls;

    internal BertLMHeadModel(EncoderConfig config, KernelOptions kernels) : base(nameof(BertLMHeadModel))
    {
        bert = new BertModel(config, addPoolingLayer: false, positionOffset: 0, kernels, addCrossAttention: true);
        cls = new BertOnlyMLMHead(config, kernels);
        RegisterComponents();
    }

    internal BertModel Bert => bert;

    /// <summary>The logits over the vocabulary of hidden states: [B, T, H] -> [B, T, V].</summary>
    internal Tensor Logits(Tensor hidden) => cls.Logits(hidden, bert.WordEmbeddingTable);

    public override Tensor forward(Tensor hidden) => Logits(hidden);
}

/// <summary>The MLM head of BERT (cls), of which only the predictions exist.</summary>
internal sealed class BertOnlyMLMHead : Module<Tensor, Tensor, Tensor>
{
    private readonly BertLMPredictionHead predictions;

    internal BertOnlyMLMHead(EncoderConfig config, KernelOptions kernels) : base(nameof(BertOnlyMLMHead))
    {
        predictions = new BertLMPredictionHead(config, kernels);
        RegisterComponents();
    }

    internal Tensor Logits(Tensor hidden, Tensor wordEmbeddings) => predictions.call(hidden, wordEmbeddings);

    public override Tensor forward(Tensor hidden, Tensor wordEmbeddings) => Logits(hidden, wordEmbeddings);
}

/// <summary>transform (dense, activation, LayerNorm), then the product with the tied word embeddings plus a bias per token.</summary>
internal sealed class BertLMPredictionHead : Module<Tensor, Tensor, Tensor>
{
    private readonly BertPredictionHeadTransform transform;
    private readonly Parameter bias;
    private readonly KernelOptions _kernels;

    internal BertLMPredictionHead(EncoderConfig config, KernelOptions kernels) : base(nameof(BertLMPredictionHead))
    {
        _kernels = kernels;
        transform = new BertPredictionHeadTransform(config, kernels);
        bias = new Parameter(zeros(config.VocabSize));
        RegisterComponents();
    }

    /// <param name="hidden">[B, T, H]</param>
    /// <param name="wordEmbeddings">the decoder's word embeddings [V, H]</param>
    public override Tensor forward(Tensor hidden, Tensor wordEmbeddings)
    {
        using var transformed = transform.call(hidden);                                       // [B, T, H]
        return Dense.Apply(transformed, wordEmbeddings, bias, _kernels) ?? functional.linear(transformed, wordEmbeddings, bias);  // [B, T, V]
    }
}

/// <summary>dense -> activation (hidden_act) -> LayerNorm.</summary>
internal sealed class BertPredictionHeadTransform : Module<Tensor, Tensor>
{
    private readonly Linear dense;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm layerNorm;
    private readonly Func<Tensor, Tensor> _activation;
    private readonly KernelOptions _kernels;

    internal BertPredictionHeadTransform(EncoderConfig config, KernelOptions kernels) : base(nameof(BertPredictionHeadTransform))
    {
        _kernels = kernels;
        dense = Linear(config.HiddenSize, config.HiddenSize);
        _activation = Activations.Get(config.HiddenAct);
        layerNorm = LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var projected = Dense.Apply(dense, hidden, _kernels);                           // [B, T, H]
        using var activated = _activation(projected);
        return layerNorm.call(activated);
    }
}

/// <summary>
/// Hugging Face's _init_weights for BERT modules, by parameter name: LayerNorm weights 1, every bias 0 (the LM head's
/// too), every other weight (Linear, Embedding) from normal(0, initializer_range), and the padding row of the word
/// embeddings 0.
/// </summary>
internal static class WeightInit
{
    public static void Apply(nn.Module model, double initializerRange, int padTokenId)
    {
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("LayerNorm.weight", StringComparison.Ordinal)) p.fill_(1.0);
            else if (name.EndsWith("bias", StringComparison.Ordinal)) p.zero_();
            else
            {
                p.normal_(0, initializerRange);
                if (name.EndsWith("word_embeddings.weight", StringComparison.Ordinal)) p[padTokenId].zero_();
            }
        }
    }
}

/// <summary>
/// The keys and values a decoder keeps between generation steps, one entry per layer: its self-attention's (growing
/// by the new tokens each step) and its cross-attention's over the encoder's states (computed at the first step).
/// The tensors live outside any dispose scope until the cache is disposed or reordered.
/// </summary>
internal sealed class DecoderCache(int layers) : IDisposable
{
    public LayerCache[] Layers { get; } = Enumerable.Range(0, layers).Select(_ => new LayerCache()).ToArray();

    /// <summary>The number of tokens whose keys and values are held.</summary>
    public int Length => (int)(Layers[0].SelfKey?.shape[2] ?? 0);

    /// <summary>
    /// Keeps the rows of <paramref name="rows"/> [B'] (beam search: the beams that continue). The encoder's keys and
    /// values are the same for every beam of an input, so only the self-attention entries are reordered.
    /// </summary>
    public void Reorder(Tensor rows)
    {
        foreach (var layer in Layers) layer.ReorderSelf(rows);
    }

    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
    }
}

/// <summary>One layer's cached keys and values [B, N, T, D] (self-attention) and [B, N, S, D] (cross-attention).</summary>
internal sealed class LayerCache : IDisposable
{
    public Tensor? SelfKey { get; private set; }
    public Tensor? SelfValue { get; private set; }
    public Tensor? CrossKey { get; private set; }
    public Tensor? CrossValue { get; private set; }

    /// <summary>Appends the new tokens' keys and values [B, N, T, D] along the sequence; returns all of them (owned by the cache).</summary>
    public (Tensor Keys, Tensor Values) AppendSelf(Tensor keys, Tensor values)
    {
        var k = (SelfKey is null ? keys.contiguous() : cat([SelfKey, keys], 2)).DetachFromDisposeScope();
        var v = (SelfValue is null ? values.contiguous() : cat([SelfValue, values], 2)).DetachFromDisposeScope();
        SelfKey?.Dispose();
        SelfValue?.Dispose();
        (SelfKey, SelfValue) = (k, v);
        return (k, v);
    }

    /// <summary>Keeps the encoder's keys and values (owned by the cache from now on).</summary>
    public void SetCross(Tensor keys, Tensor values)
    {
        CrossKey = keys.DetachFromDisposeScope();
        CrossValue = values.DetachFromDisposeScope();
    }

    public void ReorderSelf(Tensor rows)
    {
        if (SelfKey is null) return;
        var k = SelfKey.index_select(0, rows).DetachFromDisposeScope();
        var v = SelfValue!.index_select(0, rows).DetachFromDisposeScope();
        SelfKey.Dispose();
        SelfValue.Dispose();
        (SelfKey, SelfValue) = (k, v);
    }

    public void Dispose()
    {
        SelfKey?.Dispose();
        SelfValue?.Dispose();
        CrossKey?.Dispose();
        CrossValue?.Dispose();
        SelfKey = SelfValue = CrossKey = CrossValue = null;
    }
}
