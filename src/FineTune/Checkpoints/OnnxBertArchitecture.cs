namespace FineTune.Checkpoints;

/// <summary>
/// BERT hyperparameters read off an ONNX export (its graph and weights), named as in Hugging Face's config.json.
/// </summary>
/// <param name="VocabSize">vocab_size: rows of embeddings.word_embeddings.weight.</param>
/// <param name="HiddenSize">hidden_size: columns of embeddings.word_embeddings.weight.</param>
/// <param name="NumHiddenLayers">num_hidden_layers: the number of encoder.layer.N blocks.</param>
/// <param name="NumAttentionHeads">num_attention_heads: from the attention reshapes, checked against the score scaling.</param>
/// <param name="IntermediateSize">intermediate_size: the output width of intermediate.dense.</param>
/// <param name="MaxPositionEmbeddings">max_position_embeddings: rows of embeddings.position_embeddings.weight.</param>
/// <param name="TypeVocabSize">type_vocab_size: rows of embeddings.token_type_embeddings.weight.</param>
/// <param name="LayerNormEps">layer_norm_eps: the epsilon every LayerNorm of the graph adds to the variance.</param>
/// <param name="HiddenAct">hidden_act: "gelu" (erf), "gelu_new" (tanh approximation), "relu", "silu" or "quick_gelu".</param>
/// <param name="HasPooler">Whether the export carries pooler.dense (and so the state dict does).</param>
/// <param name="InputNames">The graph inputs a caller feeds, in order (e.g. input_ids, attention_mask, token_type_ids).</param>
/// <param name="OutputNames">The graph outputs, in order.</param>
internal sealed record OnnxBertArchitecture(
    int VocabSize,
    int HiddenSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int IntermediateSize,
    int MaxPositionEmbeddings,
    int TypeVocabSize,
    double LayerNormEps,
    string HiddenAct,
    bool HasPooler,
    IReadOnlyList<string> InputNames,
    IReadOnlyList<string> OutputNames);

/// <summary>Where a state-dict entry came from: the ONNX initializer and whether it was transposed ([in, out] to [out, in]).</summary>
internal sealed record OnnxWeightSource(string InitializerName, bool Transposed);

/// <summary>The result of <see cref="OnnxBertImporter.Import(OnnxModel)"/>.</summary>
internal sealed class OnnxBertImport
{
    /// <summary>The hyperparameters inferred from the graph.</summary>
    public required OnnxBertArchitecture Architecture { get; init; }

    /// <summary>
    /// The weights with the keys and layouts of transformers' BertModel.state_dict(), enumerated in that order
    /// (embeddings, encoder.layer.0 … N-1, pooler).
    /// </summary>
    public required IReadOnlyDictionary<string, HostTensor> StateDict { get; init; }

    /// <summary>For every key of <see cref="StateDict"/>, the initializer it was read from.</summary>
    public required IReadOnlyDictionary<string, OnnxWeightSource> Sources { get; init; }

    /// <summary>
    /// Named initializers that are not BertModel parameters and were left out (e.g. the embeddings.position_ids
    /// buffer, or the head of a task model).
    /// </summary>
    public required IReadOnlyList<string> IgnoredInitializers { get; init; }
}
