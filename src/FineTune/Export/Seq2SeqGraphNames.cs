namespace FineTune.Export;

/// <summary>
/// The files and the input and output names of an encoder-decoder's export (Optimum's layout for sequence-to-sequence
/// models), shared by the exporter and by what runs the export (FineTune and FineTune.Onnx).
/// </summary>
internal static class Seq2SeqGraphNames
{
    public const string EncoderFile = "encoder_model.onnx", DecoderFile = "decoder_model.onnx", DecoderWithPastFile = "decoder_with_past_model.onnx";

    /// <summary>The token inputs of every export's encoder (OnnxExporter's names are these).</summary>
    public const string InputIds = "input_ids", AttentionMask = "attention_mask", TokenTypeIds = "token_type_ids";

    public const string EncoderHiddenStates = "encoder_hidden_states", EncoderAttentionMask = "encoder_attention_mask",
        LastHiddenState = "last_hidden_state", Logits = "logits";

    /// <summary>
    /// The source's token ids given to both decoder graphs of a model that copies from its source (with
    /// encoder_hidden_states in the graph with past keys and values too); its logits are then log-probabilities.
    /// </summary>
    public const string EncoderInputIds = "encoder_input_ids";

    /// <summary>The name of a cached tensor given to the decoder: past_key_values.{layer}.{decoder|encoder}.{key|value}.</summary>
    public static string Past(int layer, bool encoder, bool value) => $"past_key_values.{layer}.{(encoder ? "encoder" : "decoder")}.{(value ? "value" : "key")}";

    /// <summary>The name of a tensor the decoder returns for the cache: present.{layer}.{decoder|encoder}.{key|value}.</summary>
    public static string Present(int layer, bool encoder, bool value) => $"present.{layer}.{(encoder ? "encoder" : "decoder")}.{(value ? "value" : "key")}";
}
