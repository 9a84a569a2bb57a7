using FineTune.Modeling;
using static TorchSharp.torch;
using DataType = FineTune.Checkpoints.Onnx.TensorProto.Types.DataType;

namespace FineTune.Export;

/// <summary>
/// What the graph of one model is built from: the model's config and its weights by checkpoint key (the module tree's
/// state dict), the graph inputs, and the operations the encoders and heads share (a linear layer, LayerNorm, the
/// activations, the attention bias, the sentence vector). Every weight a graph uses is taken by its key, and the
/// export fails when the model has one the graph did not use.
/// </summary>
internal sealed class GraphContext
{
    private readonly IReadOnlyDictionary<string, Tensor> _weights;
    private readonly HashSet<string> _unused;
    private string? _attentionBias;
    private string? _maskFloat;
    private readonly HashSet<string> _initialized = new(StringComparer.Ordinal);

    public GraphContext(OnnxGraphBuilder graph, EncoderConfig config, IReadOnlyDictionary<string, Tensor> weights, string inputIds, string attentionMask,
        string? tokenTypeIds)
    {
        G = graph;
        Config = config;
        _weights = weights;
        _unused = weights.Keys.ToHashSet(StringComparer.Ordinal);
        InputIds = inputIds;
        AttentionMask = attentionMask;
        TokenTypeIds = tokenTypeIds;
    }

    public OnnxGraphBuilder G { get; }
    public EncoderConfig Config { get; }

    /// <summary>input_ids [B, T], int64.</summary>
    public string InputIds { get; }

    /// <summary>attention_mask [B, T], int64 (1 = token, 0 = padding).</summary>
    public string AttentionMask { get; }

    /// <summary>token_type_ids [B, T], int64, when the family takes them.</summary>
    public string? TokenTypeIds { get; }

    /// <summary>The weights the graph has not used, by key.</summary>
    public IReadOnlyCollection<string> Unused => _unused;

    /// <summary>Marks weights the graph deliberately leaves out (an unused pooler).</summary>
    public void Skip(string prefix) => _unused.RemoveWhere(k => k.StartsWith(prefix, StringComparison.Ordinal));

    public bool Has(string key) => _weights.ContainsKey(key);

    /// <summary>The weight <paramref name="key"/> as fp32 values in row-major order, and its shape.</summary>
    public (float[] Data, long[] Shape) Values(string key, bool transpose = false)
    {
        if (!_weights.TryGetValue(key, out var t))
            throw new FineTuneException($"the model has no weight '{key}' to export");
        _unused.Remove(key);
        using var f = t.detach().to(ScalarType.Float32).cpu();
        using var ordered = transpose ? f.t().contiguous() : f.contiguous();
        return (ordered.data<float>().ToArray(), ordered.shape);
    }

    /// <summary>The weight <paramref name="key"/> as an initializer under its checkpoint name (one initializer however often it is used: a tied table).</summary>
    public string Weight(string key)
    {
        if (_initialized.Contains(key)) return key;
        var (data, shape) = Values(key);
        _initialized.Add(key);
        return G.Weight(key, data, shape);
    }

    /// <summary>
    /// A linear layer <paramref name="module"/> over the last axis: x · Wᵀ + b, with Wᵀ stored as an [in, out]
    /// initializer named after the weight (the layout MatMul takes).
    /// </summary>
    public string Linear(string x, string module)
    {
        var (data, shape) = Values(module + ".weight", transpose: true);
        var w = G.Weight(module + ".weight", data, shape);
        var b = Weight(module + ".bias");
        var product = G.Node("MatMul", [x, w]);
        return G.Node("Add", [product, b]);
    }

    /// <summary>LayerNormalization over the last axis with the module's weight and bias.</summary>
    public string LayerNorm(string x, string module, double eps) =>
        G.Node("LayerNormalization", [x, Weight(module + ".weight"), Weight(module + ".bias")], ("axis", -1L), ("epsilon", (float)eps));

    /// <summary>A config's hidden_act, as Hugging Face's ACT2FN computes it.</summary>
    public string Activation(string x, string name)
    {
        switch (name)
        {
            case "gelu":
            {
                // 0.5 · x · (1 + erf(x / √2))
                var erf = G.Node("Erf", [G.Node("Div", [x, G.Float(MathF.Sqrt(2f))])]);
                return G.Node("Mul", [G.Node("Mul", [x, G.Node("Add", [erf, G.Float(1f)])]), G.Float(0.5f)]);
            }
            case "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast":
            {
                // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
                var cube = G.Node("Mul", [G.Node("Mul", [x, x]), x]);
                var inner = G.Node("Mul", [G.Node("Add", [x, G.Node("Mul", [cube, G.Float(0.044715f)])]), G.Float(MathF.Sqrt(2f / MathF.PI))]);
                return G.Node("Mul", [G.Node("Mul", [x, G.Node("Add", [G.Node("Tanh", [inner]), G.Float(1f)])]), G.Float(0.5f)]);
            }
            case "relu": return G.Node("Relu", [x]);
            case "silu" or "swish": return G.Node("Mul", [x, G.Node("Sigmoid", [x])]);
            case "tanh": return G.Node("Tanh", [x]);
            default: throw new FineTuneException($"the activation '{name}' has no ONNX export");
        }
    }

    /// <summary>The attention mask as float [B, T, 1].</summary>
    private string MaskFloat() =>
        _maskFloat ??= G.Node("Unsqueeze", [G.Node("Cast", [AttentionMask], ("to", (long)DataType.Float)), G.Int64s([-1])]);

    /// <summary>The additive attention bias [B, 1, 1, T]: 0 for tokens and float32's minimum for padding, as the encoders compute it.</summary>
    public string AttentionBias()
    {
        if (_attentionBias is not null) return _attentionBias;
        var scope = G.Scope;
        G.Scope = "attention_bias";
        var mask = G.Node("Cast", [AttentionMask], ("to", (long)DataType.Float));
        var inverted = G.Node("Sub", [G.Float(1f), mask]);
        var bias = G.Node("Mul", [inverted, G.Float(float.MinValue)]);
        _attentionBias = G.Node("Unsqueeze", [bias, G.Int64s([1, 2])]);                    // [B, T] -> [B, 1, 1, T]
        G.Scope = scope;
        return _attentionBias;
    }

    /// <summary>Multi-head scaled dot-product attention of projected queries, keys and values [B, T, H] into [B, T, H].</summary>
    public string Attention(string q, string k, string v)
    {
        int heads = Config.NumAttentionHeads, size = Config.HiddenSize / heads;
        var split = G.Int64s([0, 0, heads, size]);
        var qh = G.Node("Transpose", [G.Node("Reshape", [q, split])], ("perm", new long[] { 0, 2, 1, 3 }));   // [B, T, H] -> [B, N, T, D]
        var kt = G.Node("Transpose", [G.Node("Reshape", [k, split])], ("perm", new long[] { 0, 2, 3, 1 }));   // [B, T, H] -> [B, N, D, T]
        var vh = G.Node("Transpose", [G.Node("Reshape", [v, split])], ("perm", new long[] { 0, 2, 1, 3 }));   // [B, T, H] -> [B, N, T, D]
        return Merge(qh, kt, vh, AttentionBias());
    }

    /// <summary>Projected states [B, T, H] split into the heads: [B, N, T, D].</summary>
    public string Heads(string x)
    {
        int heads = Config.NumAttentionHeads, size = Config.HiddenSize / heads;
        return G.Node("Transpose", [G.Node("Reshape", [x, G.Int64s([0, 0, heads, size])])], ("perm", new long[] { 0, 2, 1, 3 }));
    }

    /// <summary>
    /// softmax(q·kᵀ/√d + bias)·v over heads: queries [B, N, T, D], keys and values [B, N, S, D], an additive bias that
    /// broadcasts to [B, N, T, S]; the heads merged back into [B, T, H].
    /// </summary>
    public string Attend(string qh, string kh, string vh, string bias)
    {
        var kt = G.Node("Transpose", [kh], ("perm", new long[] { 0, 1, 3, 2 }));                              // [B, N, S, D] -> [B, N, D, S]
        return Merge(qh, kt, vh, bias);
    }

    /// <summary>softmax(q·kᵀ/√d + bias)·v of queries [B, N, T, D], transposed keys [B, N, D, S], values [B, N, S, D]: [B, T, H].</summary>
    private string Merge(string qh, string kt, string vh, string bias)
    {
        int heads = Config.NumAttentionHeads, size = Config.HiddenSize / heads;
        var scores = G.Node("Div", [G.Node("MatMul", [qh, kt]), G.Float(MathF.Sqrt(size))]);                  // [B, N, T, S]
        var probs = G.Node("Softmax", [G.Node("Add", [scores, bias])], ("axis", -1L));
        var context = G.Node("Transpose", [G.Node("MatMul", [probs, vh])], ("perm", new long[] { 0, 2, 1, 3 })); // [B, N, T, D] -> [B, T, N, D]
        return G.Node("Reshape", [context, G.Int64s([0, 0, heads * size])]);                                   // [B, T, N, D] -> [B, T, H]
    }

    /// <summary>The mean of the hidden states over real tokens: [B, T, H] -> [B, H].</summary>
    public string MeanPool(string hidden)
    {
        var mask = MaskFloat();
        var sum = G.Node("ReduceSum", [G.Node("Mul", [hidden, mask]), G.Int64s([1])], ("keepdims", 0L));           // [B, H]
        var count = G.Node("Max", [G.Node("ReduceSum", [mask, G.Int64s([1])], ("keepdims", 0L)), G.Float(1e-9f)]); // [B, 1]
        return G.Node("Div", [sum, count]);
    }

    /// <summary>The first token's state: [B, T, H] -> [B, H].</summary>
    public string FirstToken(string hidden) => G.Node("Gather", [hidden, G.Int64s([0], scalar: true)], ("axis", 1L));

    /// <summary>What a sequence head reads: the first token, or with classifier_pooling "mean" the mean over real tokens.</summary>
    public string SentenceVector(string hidden) => Config.MeanPooling ? MeanPool(hidden) : FirstToken(hidden);
}
