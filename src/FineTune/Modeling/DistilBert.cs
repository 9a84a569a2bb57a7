using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Modeling;

// DistilBERT as Hugging Face's modeling_distilbert.py defines it: BERT's computation under its own key names,
// without token types and without a pooler. Field names are the checkpoint keys.

/// <summary>Word + position embeddings (learned, or fixed sinusoidal), LayerNorm, dropout.</summary>
internal sealed class DistilBertEmbeddings : Module<ModelInput, Tensor>
{
    private readonly Embedding word_embeddings;
    private readonly Embedding position_embeddings;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm layerNorm;
    private readonly FastDropout dropout;
    private readonly int _padTokenId;

    internal DistilBertEmbeddings(EncoderConfig config, KernelSwitch kernels) : base(nameof(DistilBertEmbeddings))
    {
        _padTokenId = config.PadTokenId;
        word_embeddings = Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId);
        position_embeddings = Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        if (config.SinusoidalPositionEmbeddings == true)
            using (no_grad())
            using (var table = Sinusoidal(config.MaxPositionEmbeddings, config.HiddenSize))
            {
                position_embeddings.weight!.copy_(table);
                position_embeddings.weight!.requires_grad = false;
            }
        layerNorm = LayerNorm(config.HiddenSize, eps: 1e-12);
        dropout = new FastDropout(config.HiddenDropoutProb, kernels);
        RegisterComponents();
    }

    private static Tensor Sinusoidal(int positions, int dim)
    {
        var table = new float[positions * dim];
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < dim; j++)
            {
                double angle = p / Math.Pow(10000, 2 * (j / 2) / (double)dim);
                table[p * dim + j] = (float)(j % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle));
            }
        return tensor(table).view(positions, dim);
    }

    public override Tensor forward(ModelInput input)
    {
        var ids = input.InputIds;                                                                           // [B, T]
        var positionIds = arange(ids.shape[1], dtype: ScalarType.Int64, device: ids.device).unsqueeze(0); // [1, T]
        using var words = input.WordEmbeddings?.alias() ?? Words.Lookup(word_embeddings, ids, _padTokenId, dropout.Kernels); // [B, T, H]
        using var positions = position_embeddings.call(positionIds);
        using var sum = words + positions;
        using var normalized = layerNorm.call(sum);
        return dropout.call(normalized).alias();
    }

    /// <summary>The word embeddings of <paramref name="ids"/> [B, T] -> [B, T, H].</summary>
    internal Tensor LookUpWords(Tensor ids) => word_embeddings.call(ids);
}

/// <summary>Multi-head self-attention with q_lin, k_lin, v_lin and out_lin.</summary>
internal sealed class MultiHeadSelfAttention : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear q_lin;
    private readonly Linear k_lin;
    private readonly Linear v_lin;
    private readonly Linear out_lin;
    private readonly int _heads;
    private readonly int _headSize;
    private readonly double _dropout;
    private readonly KernelSwitch _kernels;

    internal MultiHeadSelfAttention(EncoderConfig config, KernelSwitch kernels) : base(nameof(MultiHeadSelfAttention))
    {
        _kernels = kernels;
        _heads = config.NumAttentionHeads;
        _headSize = config.HiddenSize / config.NumAttentionHeads;
        _dropout = config.AttentionProbsDropoutProb;
        q_lin = Linear(config.HiddenSize, config.HiddenSize);
        k_lin = Linear(config.HiddenSize, config.HiddenSize);
        v_lin = Linear(config.HiddenSize, config.HiddenSize);
        out_lin = Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor attentionBias)
    {
        using var merged = Attention.SelfAttention(hidden, q_lin, k_lin, v_lin, _heads, _headSize, attentionBias, training ? _dropout : 0.0, _kernels.Options);
        return Dense.Apply(out_lin, merged, _kernels.Options);                                                                 // [B, T, H]
    }
}

/// <summary>The feed-forward block: lin1, activation, lin2, dropout.</summary>
internal sealed class FFN : Module<Tensor, Tensor>
{
    private readonly Linear lin1;
    private readonly Linear lin2;
    private readonly FastDropout dropout;
    private readonly Func<Tensor, Tensor> _activation;

    internal FFN(EncoderConfig config, KernelSwitch kernels) : base(nameof(FFN))
    {
        lin1 = Linear(config.HiddenSize, config.IntermediateSize);
        lin2 = Linear(config.IntermediateSize, config.HiddenSize);
        dropout = new FastDropout(config.HiddenDropoutProb, kernels);
        _activation = Activations.Get(config.HiddenAct);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var expanded = Dense.Apply(lin1, hidden, dropout.Kernels);
        using var activated = _activation(expanded);
        using var contracted = Dense.Apply(lin2, activated, dropout.Kernels);
        return dropout.call(contracted).alias();
    }
}

/// <summary>One layer: attention + sa_layer_norm, then FFN + output_layer_norm (post-LayerNorm, as BERT).</summary>
internal sealed class TransformerBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly MultiHeadSelfAttention attention;
    private readonly LayerNorm sa_layer_norm;
    private readonly FFN ffn;
    private readonly LayerNorm output_layer_norm;

    internal TransformerBlock(EncoderConfig config, KernelSwitch kernels) : base(nameof(TransformerBlock))
    {
        attention = new MultiHeadSelfAttention(config, kernels);
        sa_layer_norm = LayerNorm(config.HiddenSize, eps: 1e-12);
        ffn = new FFN(config, kernels);
        output_layer_norm = LayerNorm(config.HiddenSize, eps: 1e-12);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor attentionBias)
    {
        using var attention_output = attention.call(hidden, attentionBias);
        using var residual1 = attention_output + hidden;
        using var attended = sa_layer_norm.call(residual1);
        using var ffn_output = ffn.call(attended);
        using var residual2 = ffn_output + attended;
        return output_layer_norm.call(residual2);
    }
}

/// <summary>The stack of DistilBERT layers.</summary>
internal sealed class DistilBertTransformer : Module<Tensor, Tensor, Tensor>
{
    private readonly ModuleList<TransformerBlock> layer;

    internal DistilBertTransformer(EncoderConfig config, KernelSwitch kernels) : base("Transformer")
    {
        layer = new ModuleList<TransformerBlock>(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new TransformerBlock(config, kernels)).ToArray());
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor attentionBias)
    {
        var current = hidden;
        foreach (var l in layer)
        {
            var next = l.call(current, attentionBias);
            if (!ReferenceEquals(current, hidden)) current.Dispose();
            current = next;
        }
        return current;
    }
}

/// <summary>The DistilBERT encoder: embeddings and transformer; no pooler, no token types.</summary>
internal sealed class DistilBertModel : TransformerEncoder
{
    private readonly DistilBertEmbeddings embeddings;
    private readonly DistilBertTransformer transformer;

    internal DistilBertModel(EncoderConfig config, KernelOptions kernels) : base(nameof(DistilBertModel), config, kernels)
    {
        embeddings = new DistilBertEmbeddings(config, Switch);
        transformer = new DistilBertTransformer(config, Switch);
        RegisterComponents();
    }

    public override bool HasPooler => false;

    public override Tensor WordEmbeddings(Tensor ids) => embeddings.LookUpWords(ids);

    public override EncoderOutput forward(ModelInput input)
    {
        using var hidden = embeddings.call(input);                                  // [B, T, H]
        using var bias = AttentionBias(input.AttentionMask, hidden.dtype);
        return new EncoderOutput(transformer.call(hidden, bias).alias(), null);
    }
}
