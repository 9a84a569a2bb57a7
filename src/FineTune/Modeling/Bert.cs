using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Modeling;

// The BERT encoder as Hugging Face's modeling_bert.py defines it, in data-flow order:
// embeddings -> N x (self-attention -> output -> intermediate -> output) -> pooler.
// Field names are the checkpoint keys. RoBERTa / XLM-R (positions offset by padding_idx + 1) and the ELECTRA
// discriminator (embedding_size with a projection, no pooler) share these classes; DistilBERT has its own file.

/// <summary>Word + position + token-type embeddings, then LayerNorm and dropout.</summary>
internal sealed class BertEmbeddings : Module<ModelInput, Tensor>
{
    private readonly Embedding word_embeddings;
    private readonly Embedding position_embeddings;
    private readonly Embedding? token_type_embeddings;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm layerNorm;
    private readonly FastDropout dropout;
    private readonly EncoderConfig _config;
    private readonly int _positionOffset;
    private readonly bool _takesTokenTypeIds;
    private readonly KernelSwitch _kernels;

    internal BertEmbeddings(EncoderConfig config, int positionOffset, KernelSwitch kernels, bool takesTokenTypeIds = true) : base(nameof(BertEmbeddings))
    {
        _config = config;
        _positionOffset = positionOffset;
        _takesTokenTypeIds = takesTokenTypeIds;
        _kernels = kernels;
        int width = config.EmbeddingWidth;
        word_embeddings = Embedding(config.VocabSize, width, padding_idx: config.PadTokenId);
        position_embeddings = positionOffset > 0
            ? Embedding(config.MaxPositionEmbeddings, width, padding_idx: config.PadTokenId)
            : Embedding(config.MaxPositionEmbeddings, width);
        if (config.TypeVocabSize > 0)
            token_type_embeddings = Embedding(config.TypeVocabSize, width);
        layerNorm = LayerNorm(width, eps: config.LayerNormEps);
        dropout = new FastDropout(config.HiddenDropoutProb, kernels);
        RegisterComponents();
    }

    /// <summary>The word embedding table [V, E].</summary>
    internal Tensor WordEmbeddings => word_embeddings.weight!;

    public override Tensor forward(ModelInput input)
    {
        var ids = input.InputIds;                                   // [B, T]
        long seqLength = ids.shape[1];
        long past = input.PastLength;                               // tokens a decoder's cache already holds
        if (past + seqLength > _config.MaxPositionEmbeddings - _positionOffset)
            throw new ArgumentException($"sequence length {past + seqLength} exceeds the model's {_config.MaxPositionEmbeddings} positions");
        Tensor positionIds;
        if (_positionOffset > 0)
        {
            // RoBERTa: padding tokens keep position padding_idx; real tokens count from padding_idx + 1.
            var notPad = ids.ne(_config.PadTokenId).to(ScalarType.Int64);                          // [B, T]
            positionIds = notPad.cumsum(1).add(past).mul(notPad).add(_config.PadTokenId);        // [B, T]
        }
        else
        {
            positionIds = arange(past, past + seqLength, dtype: ScalarType.Int64, device: ids.device).unsqueeze(0); // [1, T]
        }
        using var words = input.WordEmbeddings?.alias() ?? Words.Lookup(word_embeddings, ids, _config.PadTokenId, _kernels.Options); // [B, T, E]
        using var positions = position_embeddings.call(positionIds);
        using var sum = words + positions;
        // RoBERTa and XLM-R take no token type ids (Hugging Face's model_input_names): every position gets type 0.
        using var types = token_type_embeddings?.call((_takesTokenTypeIds ? input.TokenTypeIds : null) ?? zeros_like(ids));
        using var embeddings = types is null ? sum.alias() : sum + types;
        using var normalized = layerNorm.call(embeddings);
        return dropout.call(normalized).alias();
    }

    /// <summary>The word embeddings of <paramref name="ids"/> [B, T] -> [B, T, E], without positions, types or LayerNorm.</summary>
    internal Tensor LookUpWords(Tensor ids) => word_embeddings.call(ids);
}

/// <summary>Multi-head scaled dot-product self-attention (query, key, value projections).</summary>
internal sealed class BertSelfAttention : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear value;
    private readonly int _heads;
    private readonly int _headSize;
    private readonly double _dropout;
    private readonly KernelSwitch _kernels;

    internal BertSelfAttention(EncoderConfig config, KernelSwitch kernels) : base(nameof(BertSelfAttention))
    {
        _kernels = kernels;
        _heads = config.NumAttentionHeads;
        _headSize = config.HiddenSize / config.NumAttentionHeads;
        _dropout = config.AttentionProbsDropoutProb;
        query = Linear(config.HiddenSize, config.HiddenSize);
        key = Linear(config.HiddenSize, config.HiddenSize);
        value = Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    /// <param name="hidden">[B, T, H]</param>
    /// <param name="attentionBias">[B, 1, 1, T], 0 for tokens and a large negative number for padding.</param>
    public override Tensor forward(Tensor hidden, Tensor attentionBias)
    {
        return Attention.SelfAttention(hidden, query, key, value, _heads, _headSize, attentionBias, training ? _dropout : 0.0, _kernels.Options);
    }

    /// <summary>
    /// A decoder's causal self-attention: the new tokens <paramref name="hidden"/> [B, T, H] attend to the keys and
    /// values of the tokens before them in <paramref name="cache"/> (which then holds theirs too) and to their own,
    /// under <paramref name="causalBias"/> [1, 1, T, P + T]. Without a cache the T tokens are the whole sequence.
    /// </summary>
    internal Tensor DecoderSelfAttention(Tensor hidden, Tensor causalBias, LayerCache? cache)
    {
        long b = hidden.shape[0], t = hidden.shape[1];
        var (q, k, v) = Projections.QueryKeyValue(hidden, query, key, value, _heads, _headSize, _kernels.Options);  // 3 x [B, N, T, D]
        using var _q = q;
        if (cache is not null)
        {
            var (allKeys, allValues) = cache.AppendSelf(k, v);                                  // [B, N, P + T, D], owned by the cache
            k.Dispose();
            v.Dispose();
            k = allKeys;
            v = allValues;
        }
        return Attend(q, k, v, causalBias, b, t, releaseKeysValues: cache is null);
    }

    /// <summary>
    /// Cross-attention: the decoder's tokens <paramref name="hidden"/> [B, T, H] attend to the encoder's states
    /// <paramref name="encoderHidden"/> [B, S, H] under <paramref name="encoderBias"/> [B, 1, 1, S]. The encoder's keys
    /// and values are computed once per sequence and kept in <paramref name="cache"/> when there is one.
    /// </summary>
    internal Tensor CrossAttention(Tensor hidden, Tensor encoderHidden, Tensor encoderBias, LayerCache? cache)
    {
        long b = hidden.shape[0], t = hidden.shape[1];
        Tensor Split(Tensor x) => x.view(x.shape[0], x.shape[1], _heads, _headSize).transpose(1, 2);  // [B, T, H] -> [B, N, T, D]
        using var projected = Dense.Apply(query, hidden, _kernels.Options);                     // [B, T, H]
        using var q = Split(projected);
        Tensor k, v;
        bool owned = cache?.CrossKey is null;
        if (cache?.CrossKey is { } cachedKey)
        {
            (k, v) = (cachedKey, cache.CrossValue!);
        }
        else
        {
            using var keys = Dense.Apply(key, encoderHidden, _kernels.Options);                 // [B, S, H]
            using var values = Dense.Apply(value, encoderHidden, _kernels.Options);
            (k, v) = (Split(keys), Split(values));                                              // [B, N, S, D]
            if (cache is not null)
            {
                cache.SetCross(k, v);
                owned = false;
            }
        }
        return Attend(q, k, v, encoderBias, b, t, releaseKeysValues: owned);
    }

    /// <summary>Attention of q [B, N, T, D] over k and v, heads merged into [B, T, H]; k and v are released after unless a cache owns them.</summary>
    private Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor bias, long b, long t, bool releaseKeysValues)
    {
        try
        {
            using var context = Attention.Compute(q, k, v, bias, training ? _dropout : 0.0, _kernels.Options);  // [B, N, T, D]
            using var merged = context.transpose(1, 2);
            return merged.reshape(b, t, _heads * _headSize);                                  // [B, N, T, D] -> [B, T, H]
        }
        finally
        {
            if (releaseKeysValues)
            {
                k.Dispose();
                v.Dispose();
            }
        }
    }
}

/// <summary>The attention output projection, dropout, residual and LayerNorm.</summary>
internal sealed class BertSelfOutput : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm layerNorm;
    private readonly FastDropout dropout;

    internal BertSelfOutput(EncoderConfig config, KernelSwitch kernels) : base(nameof(BertSelfOutput))
    {
        dense = Linear(config.HiddenSize, config.HiddenSize);
        layerNorm = LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = new FastDropout(config.HiddenDropoutProb, kernels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor attended, Tensor residual) => ForwardPair(attended, residual, wantLow: false).Output;

    /// <summary>The block's output, and under bf16 autocast when <paramref name="wantLow"/> also as bf16 for the next linear layer (see <see cref="BlockEnd"/>).</summary>
    internal (Tensor Output, Tensor? Low) ForwardPair(Tensor attended, Tensor residual, bool wantLow)
    {
        using var projected = Dense.Apply(dense, attended, dropout.Kernels);
        return BlockEnd.Apply(projected, residual, layerNorm, dropout, wantLow);
    }
}

/// <summary>Self-attention followed by its output block.</summary>
internal sealed class BertAttention : Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "self")] private readonly BertSelfAttention selfAttention;
    private readonly BertSelfOutput output;

    internal BertAttention(EncoderConfig config, KernelSwitch kernels) : base(nameof(BertAttention))
    {
        selfAttention = new BertSelfAttention(config, kernels);
        output = new BertSelfOutput(config, kernels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor attentionBias) => ForwardPair(hidden, null, attentionBias, wantLow: false).Output;

    /// <param name="hidden">the block's input (the residual)</param>
    /// <param name="hiddenLow">the same rounded to bf16 for the projections under autocast, or null</param>
    internal (Tensor Output, Tensor? Low) ForwardPair(Tensor hidden, Tensor? hiddenLow, Tensor attentionBias, bool wantLow)
    {
        using var attended = selfAttention.call(hiddenLow ?? hidden, attentionBias);
        return output.ForwardPair(attended, hidden, wantLow);
    }

    /// <summary>A decoder's causal self-attention block (see <see cref="BertSelfAttention.DecoderSelfAttention"/>).</summary>
    internal Tensor ForwardDecoderSelf(Tensor hidden, Tensor causalBias, LayerCache? cache)
    {
        using var attended = selfAttention.DecoderSelfAttention(hidden, causalBias, cache);
        return output.call(attended, hidden);
    }

    /// <summary>A decoder's cross-attention block over the encoder's states (see <see cref="BertSelfAttention.CrossAttention"/>).</summary>
    internal Tensor ForwardCross(Tensor hidden, Tensor encoderHidden, Tensor encoderBias, LayerCache? cache)
    {
        using var attended = selfAttention.CrossAttention(hidden, encoderHidden, encoderBias, cache);
        return output.call(attended, hidden);
    }
}

/// <summary>The feed-forward expansion with the configured activation.</summary>
internal sealed class BertIntermediate : Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly Func<Tensor, Tensor> _activation;
    private readonly KernelSwitch _kernels;

    internal BertIntermediate(EncoderConfig config, KernelSwitch kernels) : base(nameof(BertIntermediate))
    {
        _kernels = kernels;
        dense = Linear(config.HiddenSize, config.IntermediateSize);
        _activation = Activations.Get(config.HiddenAct);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var expanded = Dense.Apply(dense, hidden, _kernels.Options);                                     // [B, T, H] -> [B, T, I]
        return _activation(expanded);
    }
}

/// <summary>The feed-forward contraction, dropout, residual and LayerNorm.</summary>
internal sealed class BertOutput : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm layerNorm;
    private readonly FastDropout dropout;

    internal BertOutput(EncoderConfig config, KernelSwitch kernels) : base(nameof(BertOutput))
    {
        dense = Linear(config.IntermediateSize, config.HiddenSize);
        layerNorm = LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = new FastDropout(config.HiddenDropoutProb, kernels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor intermediate, Tensor residual) => ForwardPair(intermediate, residual, wantLow: false).Output;

    /// <inheritdoc cref="BertSelfOutput.ForwardPair"/>
    internal (Tensor Output, Tensor? Low) ForwardPair(Tensor intermediate, Tensor residual, bool wantLow)
    {
        using var projected = Dense.Apply(dense, intermediate, dropout.Kernels);                              // [B, T, I] -> [B, T, H]
        return BlockEnd.Apply(projected, residual, layerNorm, dropout, wantLow);
    }
}

/// <summary>
/// One Transformer layer: attention, then the feed-forward block. A decoder's layer (add_cross_attention) has
/// cross-attention over the encoder's states between the two.
/// </summary>
internal sealed class BertLayer : Module<Tensor, Tensor, Tensor>
{
    private readonly BertAttention attention;
    private readonly BertAttention? crossattention;
    private readonly BertIntermediate intermediate;
    private readonly BertOutput output;

    internal BertLayer(EncoderConfig config, KernelSwitch kernels, bool addCrossAttention = false) : base(nameof(BertLayer))
    {
        attention = new BertAttention(config, kernels);
        if (addCrossAttention)
            crossattention = new BertAttention(config, kernels);
        intermediate = new BertIntermediate(config, kernels);
        output = new BertOutput(config, kernels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor attentionBias) => ForwardPair(hidden, null, attentionBias, wantLow: false).Output;

    /// <summary>
    /// The layer on <paramref name="hidden"/> (with its bf16 copy for the projections, when the previous layer made
    /// one); returns the output, and its bf16 copy when <paramref name="wantLow"/> and autocast runs in bf16.
    /// </summary>
    internal (Tensor Output, Tensor? Low) ForwardPair(Tensor hidden, Tensor? hiddenLow, Tensor attentionBias, bool wantLow)
    {
        var (attended, attendedLow) = attention.ForwardPair(hidden, hiddenLow, attentionBias, wantLow: true);
        using var _attended = attended;
        using var _attendedLow = attendedLow;
        using var expanded = intermediate.call(attendedLow ?? attended);
        return output.ForwardPair(expanded, attended, wantLow);
    }

    /// <summary>
    /// The layer as a decoder's: causal self-attention (over <paramref name="cache"/>'s earlier tokens when given),
    /// cross-attention over <paramref name="encoderHidden"/>, the feed-forward block.
    /// </summary>
    internal Tensor ForwardDecoder(Tensor hidden, Tensor causalBias, Tensor encoderHidden, Tensor encoderBias, LayerCache? cache)
    {
        if (crossattention is null) throw new InvalidOperationException("the layer has no cross-attention (it is not a decoder's)");
        using var attended = attention.ForwardDecoderSelf(hidden, causalBias, cache);          // [B, T, H]
        using var crossed = crossattention.ForwardCross(attended, encoderHidden, encoderBias, cache);
        using var expanded = intermediate.call(crossed);                                       // [B, T, I]
        return output.call(expanded, crossed);
    }
}

/// <summary>The stack of layers.</summary>
internal sealed class BertEncoder : Module<Tensor, Tensor, Tensor>
{
    private readonly ModuleList<BertLayer> layer;

    internal BertEncoder(EncoderConfig config, KernelSwitch kernels, bool addCrossAttention = false) : base(nameof(BertEncoder))
    {
        layer = new ModuleList<BertLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new BertLayer(config, kernels, addCrossAttention)).ToArray());
        RegisterComponents();
    }

    /// <summary>The layers as a decoder's (see <see cref="BertLayer.ForwardDecoder"/>); layer i uses the cache's entry i.</summary>
    internal Tensor ForwardDecoder(Tensor hidden, Tensor causalBias, Tensor encoderHidden, Tensor encoderBias, DecoderCache? cache)
    {
        var current = hidden;
        for (int i = 0; i < layer.Count; i++)
        {
            var next = layer[i].ForwardDecoder(current, causalBias, encoderHidden, encoderBias, cache?.Layers[i]);
            if (!ReferenceEquals(current, hidden)) current.Dispose();
            current = next;
        }
        return current;
    }

    public override Tensor forward(Tensor hidden, Tensor attentionBias)
    {
        // Each layer's input is released as soon as the next layer has run (autograd keeps what backward needs);
        // the dispose scope of the step would otherwise hold every intermediate until the step ends.
        // Under bf16 autocast each layer also hands the next one its output rounded to bf16 (see BlockEnd), which
        // the next layer's projections take instead of casting the fp32 output again.
        var current = hidden;
        Tensor? currentLow = null;
        for (int i = 0; i < layer.Count; i++)
        {
            var (next, nextLow) = layer[i].ForwardPair(current, currentLow, attentionBias, wantLow: i < layer.Count - 1);
            if (!ReferenceEquals(current, hidden)) current.Dispose();
            currentLow?.Dispose();
            current = next;
            currentLow = nextLow;
        }
        currentLow?.Dispose();
        return current;
    }
}

/// <summary>Dense + tanh over the first token ([CLS]).</summary>
internal sealed class BertPooler : Module<Tensor, Tensor>
{
    private readonly Linear dense;

    public BertPooler(EncoderConfig config) : base(nameof(BertPooler))
    {
        dense = Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden) => dense.call(hidden[.., 0]).tanh();   // [B, T, H] -> [B, H]
}

/// <summary>
/// BERT's encoder architecture, which BERT, MiniLM, RoBERTa, XLM-R and ELECTRA share: embeddings (positions counted
/// from the position offset: padding_idx + 1 for RoBERTa and XLM-R; with ELECTRA's projection when
/// embedding_size differs from hidden_size), the layers, and the pooler when asked for.
/// </summary>
internal sealed class BertModel : TransformerEncoder
{
    private readonly BertEmbeddings embeddings;
    private readonly Linear? embeddings_project;
    private readonly BertEncoder encoder;
    private readonly BertPooler? pooler;

    /// <param name="addCrossAttention">A decoder's encoder (Hugging Face's is_decoder with add_cross_attention): every layer
    /// gets cross-attention, used by <see cref="Decode"/>; <see cref="forward"/> still encodes without it.</param>
    internal BertModel(EncoderConfig config, bool addPoolingLayer, int positionOffset, KernelOptions kernels, bool takesTokenTypeIds = true, bool addCrossAttention = false)
        : base(nameof(BertModel), config, kernels)
    {
        embeddings = new BertEmbeddings(config, positionOffset, Switch, takesTokenTypeIds);
        if (config.EmbeddingWidth != config.HiddenSize)
            embeddings_project = Linear(config.EmbeddingWidth, config.HiddenSize);
        encoder = new BertEncoder(config, Switch, addCrossAttention);
        if (addPoolingLayer)
            pooler = new BertPooler(config);
        RegisterComponents();
    }

    public override bool HasPooler => pooler is not null;

    public override Tensor WordEmbeddings(Tensor ids) => embeddings.LookUpWords(ids);

    public override EncoderOutput forward(ModelInput input)
    {
        using var embedded = embeddings.call(input);                                         // [B, T, E]
        using var projected = embeddings_project?.call(embedded);                            // [B, T, E] -> [B, T, H]
        var hidden = projected ?? embedded;
        using var bias = AttentionBias(input.AttentionMask, hidden.dtype);
        var sequence = encoder.call(hidden, bias).alias();
        return new EncoderOutput(sequence, pooler?.call(sequence));
    }

    /// <summary>The word embeddings [V, E] (a decoder's LM head is tied to them).</summary>
    internal Tensor WordEmbeddingTable => embeddings.WordEmbeddings;

    /// <summary>
    /// The model as a decoder: the new tokens of <paramref name="input"/> (at positions from its
    /// <see cref="ModelInput.PastLength"/>) attend causally to themselves and the tokens in <paramref name="cache"/>, and
    /// through cross-attention to <paramref name="encoderHidden"/> [B, S, H] where <paramref name="encoderMask"/> [B, S]
    /// is 1. Returns the last hidden states [B, T, H].
    /// </summary>
    internal Tensor Decode(ModelInput input, Tensor encoderHidden, Tensor encoderMask, DecoderCache? cache)
    {
        using var embedded = embeddings.call(input);                                         // [B, T, E]
        using var projected = embeddings_project?.call(embedded);                            // [B, T, E] -> [B, T, H]
        var hidden = projected ?? embedded;
        long t = input.InputIds.shape[1], past = input.PastLength;
        using var causal = CausalBias(t, past, hidden.dtype, hidden.device);                  // [1, 1, T, P + T]
        using var crossBias = AttentionBias(encoderMask, hidden.dtype);                       // [B, 1, 1, S]
        return encoder.ForwardDecoder(hidden, causal, encoderHidden, crossBias, cache);
    }

    /// <summary>The additive causal bias [1, 1, T, P + T]: 0 where query P + i may see key j (j ≤ P + i), the dtype's minimum elsewhere.</summary>
    internal static Tensor CausalBias(long t, long past, ScalarType dtype, Device device)
    {
        using var queries = arange(past, past + t, dtype: ScalarType.Int64, device: device).unsqueeze(1);   // [T, 1]
        using var keys = arange(past + t, dtype: ScalarType.Int64, device: device).unsqueeze(0);             // [1, P + T]
        using var hidden = keys.gt(queries);                                                                 // [T, P + T]
        using var zeros = torch.zeros(t, past + t, dtype: dtype, device: device);
        return zeros.masked_fill(hidden, finfo(dtype).min).view(1, 1, t, past + t);
    }
}

/// <summary>The base of every encoder: it maps a batch to hidden states and knows its config and kernel choices.</summary>
internal abstract class TransformerEncoder : Module<ModelInput, EncoderOutput>
{
    private protected TransformerEncoder(string name, EncoderConfig config, KernelOptions kernels) : base(name)
    {
        Config = config;
        Switch = new KernelSwitch(kernels);
    }

    public EncoderConfig Config { get; }

    /// <summary>The kernel choices every module of this encoder reads (shared with them).</summary>
    private protected KernelSwitch Switch { get; }

    /// <summary>The encoder's kernel choices; a change applies from its next forward pass.</summary>
    internal KernelOptions Kernels
    {
        get => Switch.Options;
        set => Switch.Options = value;
    }

    /// <summary>Whether the encoder has a pooler (BERT with add_pooling_layer).</summary>
    public abstract bool HasPooler { get; }

    /// <summary>
    /// The rows of the word-embedding table for <paramref name="ids"/> [B, T] -> [B, T, E]: what
    /// <see cref="ModelInput.WordEmbeddings"/> replaces.
    /// </summary>
    public abstract Tensor WordEmbeddings(Tensor ids);

    /// <summary>The additive attention bias: [B, T] mask -> [B, 1, 1, T], 0 for tokens and the dtype's minimum for padding.</summary>
    public static Tensor AttentionBias(Tensor attentionMask, ScalarType dtype)
    {
        var inverted = 1.0 - attentionMask.to(dtype);
        return inverted.mul(finfo(dtype).min).unsqueeze(1).unsqueeze(2);                     // [B, T] -> [B, 1, 1, T]
    }
}
