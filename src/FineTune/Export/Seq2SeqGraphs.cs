using FineTune.Checkpoints.Onnx;
using FineTune.Modeling;
using static FineTune.Export.Seq2SeqGraphNames;
using static TorchSharp.torch;
using DataType = FineTune.Checkpoints.Onnx.TensorProto.Types.DataType;

namespace FineTune.Export;

/// <summary>
/// The ONNX form of an encoder-decoder (<see cref="EncoderDecoderModel"/>) in Optimum's layout for sequence-to-sequence
/// models: the encoder (source ids to its last hidden state), the decoder's first step (the tokens so far, the
/// encoder's states and mask to the logits and every layer's keys and values), and the decoder with past keys and
/// values (the new tokens, the encoder's mask and the cached keys and values to the logits and the grown self-attention
/// keys and values). Built node by node from the modules' weights, as the encoder graphs are.
/// </summary>
internal static class Seq2SeqGraphs
{
    /// <summary>The encoder graph: input_ids, attention_mask (and token_type_ids where the family takes them) to last_hidden_state [B, S, H].</summary>
    public static ModelProto Encoder(EncoderDecoderModel model, int opset)
    {
        var config = model.Seq2SeqConfig;
        var tied = config.TieEncoderDecoder;
        var encoderConfig = tied ? config.Decoder : config.Encoder;
        var family = EncoderGraphs.For(ModelFamilies.Of(encoderConfig));
        var prefix = tied ? "decoder.bert." : "encoder.";
        var builder = new OnnxGraphBuilder();
        var ids = builder.Input(InputIds, DataType.Int64, "batch_size", "encoder_sequence_length");
        var mask = builder.Input(AttentionMask, DataType.Int64, "batch_size", "encoder_sequence_length");
        var types = family.TakesTokenTypeIds(encoderConfig) ? builder.Input(TokenTypeIds, DataType.Int64, "batch_size", "encoder_sequence_length") : null;
        var g = new GraphContext(builder, encoderConfig, Weights(model, prefix), ids, mask, types);
        var hidden = family.Encode(g, prefix);
        builder.Output(hidden, LastHiddenState, DataType.Float, "batch_size", "encoder_sequence_length", encoderConfig.HiddenSize);
        // Shared weights: the encoder is the decoder's BERT without its cross-attention.
        if (tied)
            for (int i = 0; i < config.Decoder.NumHiddenLayers; i++) g.Skip($"{prefix}encoder.layer.{i}.crossattention.");
        return Finish(model, g, builder, opset, "encoder");
    }

    /// <summary>
    /// The decoder graph: input_ids [B, T], encoder_attention_mask [B, S] and, without <paramref name="withPast"/>,
    /// encoder_hidden_states [B, S, H]; with it, every layer's past keys and values. Outputs the logits [B, T, V] and
    /// every layer's present keys and values (the encoder's only in the first-step graph, as Optimum's). A model that
    /// copies from its source also takes encoder_input_ids [B, S] and, in both graphs, encoder_hidden_states, and its
    /// logits are the log-probabilities of the mixed distribution (<see cref="CopyLayer"/>).
    /// </summary>
    public static ModelProto Decoder(EncoderDecoderModel model, bool withPast, int opset)
    {
        var config = model.Seq2SeqConfig.Decoder;
        int layers = config.NumHiddenLayers, heads = config.NumAttentionHeads, size = config.HiddenSize / heads;
        var builder = new OnnxGraphBuilder();
        var ids = builder.Input(InputIds, DataType.Int64, "batch_size", "decoder_sequence_length");
        var encoderMask = builder.Input(EncoderAttentionMask, DataType.Int64, "batch_size", "encoder_sequence_length");
        bool copies = model.Copy is not null;
        string? encoderHidden = withPast && !copies ? null
            : builder.Input(EncoderHiddenStates, DataType.Float, "batch_size", "encoder_sequence_length", model.Seq2SeqConfig.Encoder.HiddenSize);
        string? sourceIds = copies ? builder.Input(EncoderInputIds, DataType.Int64, "batch_size", "encoder_sequence_length") : null;
        var past = new (string Key, string Value, string CrossKey, string CrossValue)[withPast ? layers : 0];
        for (int i = 0; i < past.Length; i++)
        {
            object[] self = ["batch_size", heads, "past_decoder_sequence_length", size], cross = ["batch_size", heads, "encoder_sequence_length", size];
            past[i] = (builder.Input(Past(i, false, false), DataType.Float, self), builder.Input(Past(i, false, true), DataType.Float, self),
                builder.Input(Past(i, true, false), DataType.Float, cross), builder.Input(Past(i, true, true), DataType.Float, cross));
        }
        var g = new GraphContext(builder, config, Weights(model, "decoder.", CopyLayer.Prefix), ids, encoderMask, tokenTypeIds: null);
        const string bert = "decoder.bert.";
        var presentLength = withPast ? "past_decoder_sequence_length + decoder_sequence_length" : "decoder_sequence_length";

        // Positions continue after the cached tokens: P = the past keys' length (0 in the first-step graph).
        builder.Scope = bert + "embeddings";
        var length = builder.Node("Gather", [builder.Node("Shape", [ids]), builder.Int64s([1], scalar: true)]);               // T
        var start = withPast
            ? builder.Node("Gather", [builder.Node("Shape", [past[0].Key]), builder.Int64s([2], scalar: true)])               // P
            : builder.Int64s([0], scalar: true);
        var end = builder.Node("Add", [start, length]);                                                                        // P + T
        var e = bert + "embeddings.";
        var words = builder.Node("Gather", [g.Weight(e + "word_embeddings.weight"), ids]);                                    // [B, T, H]
        var positions = builder.Node("Slice", [g.Weight(e + "position_embeddings.weight"), builder.Node("Unsqueeze", [start, builder.Int64s([0])]),
            builder.Node("Unsqueeze", [end, builder.Int64s([0])]), builder.Int64s([0])]);                                      // [T, H]
        var sum = builder.Node("Add", [words, positions]);
        if (config.TypeVocabSize > 0)
            sum = builder.Node("Add", [sum, builder.Node("Gather", [g.Weight(e + "token_type_embeddings.weight"), builder.Int64s([0], scalar: true)])]);
        var hidden = g.LayerNorm(sum, e + "LayerNorm", config.LayerNormEps);

        // Causal bias [1, 1, T, P + T]: query P + i sees key j when j ≤ P + i.
        builder.Scope = "causal_bias";
        var one = builder.Int64s([1], scalar: true);
        var queries = builder.Node("Unsqueeze", [builder.Node("Range", [start, end, one]), builder.Int64s([1])]);              // [T, 1]
        var keys = builder.Node("Unsqueeze", [builder.Node("Range", [builder.Int64s([0], scalar: true), end, one]), builder.Int64s([0])]); // [1, P + T]
        var future = builder.Node("Greater", [keys, queries]);                                                               // [T, P + T]
        var causal = builder.Node("Unsqueeze", [builder.Node("Where", [future, builder.Float(float.MinValue), builder.Float(0f)]), builder.Int64s([0, 1])]);
        var crossBias = g.AttentionBias();                                                                                     // [B, 1, 1, S]

        for (int i = 0; i < layers; i++)
        {
            var l = $"{bert}encoder.layer.{i}.";
            builder.Scope = l + "attention";
            var q = g.Heads(g.Linear(hidden, l + "attention.self.query"));
            var k = g.Heads(g.Linear(hidden, l + "attention.self.key"));                                                      // [B, N, T, D]
            var v = g.Heads(g.Linear(hidden, l + "attention.self.value"));
            if (withPast)
            {
                k = builder.Node("Concat", [past[i].Key, k], ("axis", 2L));                                                   // [B, N, P + T, D]
                v = builder.Node("Concat", [past[i].Value, v], ("axis", 2L));
            }
            builder.Output(k, Present(i, false, false), DataType.Float, "batch_size", heads, presentLength, size);
            builder.Output(v, Present(i, false, true), DataType.Float, "batch_size", heads, presentLength, size);
            var attended = g.Linear(g.Attend(q, k, v, causal), l + "attention.output.dense");
            hidden = g.LayerNorm(builder.Node("Add", [attended, hidden]), l + "attention.output.LayerNorm", config.LayerNormEps);

            builder.Scope = l + "crossattention";
            var cq = g.Heads(g.Linear(hidden, l + "crossattention.self.query"));
            string ck, cv;
            if (withPast)
            {
                // The encoder's keys and values come cached: this graph has no use for their projections.
                (ck, cv) = (past[i].CrossKey, past[i].CrossValue);
                g.Skip(l + "crossattention.self.key.");
                g.Skip(l + "crossattention.self.value.");
            }
            else
            {
                ck = g.Heads(g.Linear(encoderHidden!, l + "crossattention.self.key"));                                        // [B, N, S, D]
                cv = g.Heads(g.Linear(encoderHidden!, l + "crossattention.self.value"));
                builder.Output(ck, Present(i, true, false), DataType.Float, "batch_size", heads, "encoder_sequence_length", size);
                builder.Output(cv, Present(i, true, true), DataType.Float, "batch_size", heads, "encoder_sequence_length", size);
            }
            var crossed = g.Linear(g.Attend(cq, ck, cv, crossBias), l + "crossattention.output.dense");
            hidden = g.LayerNorm(builder.Node("Add", [crossed, hidden]), l + "crossattention.output.LayerNorm", config.LayerNormEps);

            builder.Scope = l + "intermediate";
            var expanded = g.Activation(g.Linear(hidden, l + "intermediate.dense"), config.HiddenAct);
            builder.Scope = l + "output";
            var contracted = g.Linear(expanded, l + "output.dense");
            hidden = g.LayerNorm(builder.Node("Add", [contracted, hidden]), l + "output.LayerNorm", config.LayerNormEps);
        }

        // The LM head: transform (dense, activation, LayerNorm), then the product with the tied word embeddings plus a bias.
        builder.Scope = "decoder.cls.predictions";
        const string head = "decoder.cls.predictions.";
        var transformed = g.LayerNorm(g.Activation(g.Linear(hidden, head + "transform.dense"), config.HiddenAct), head + "transform.LayerNorm", config.LayerNormEps);
        var table = builder.Node("Transpose", [g.Weight(e + "word_embeddings.weight")], ("perm", new long[] { 1, 0 }));     // [H, V]
        var logits = builder.Node("Add", [builder.Node("MatMul", [transformed, table]), g.Weight(head + "bias")]);            // [B, T, V]
        if (copies) logits = Copy(g, hidden, logits, encoderHidden!, sourceIds!, crossBias, config.HiddenSize);
        // Outputs in Optimum's order: the logits first.
        builder.Output(logits, Logits, DataType.Float, "batch_size", "decoder_sequence_length", config.VocabSize);
        var outputs = builder.Graph.Output;
        var logitsInfo = outputs[^1];
        outputs.RemoveAt(outputs.Count - 1);
        outputs.Insert(0, logitsInfo);
        return Finish(model, g, builder, opset, withPast ? "decoder with past keys and values" : "decoder");
    }

    /// <summary>
    /// The copy layer's log P [B, T, V] (<see cref="CopyLayer.Mix"/>): an attention of the decoder's states [B, T, H]
    /// over the encoder's [B, S, H] (padding masked by <paramref name="crossBias"/> [B, 1, 1, S]) scattered onto the
    /// source's token ids, mixed with softmax(<paramref name="logits"/>) by the gate: log(max(p·softmax + (1 − p)·copied, ε)).
    /// </summary>
    private static string Copy(GraphContext g, string hidden, string logits, string encoderHidden, string sourceIds, string crossBias, int hiddenSize)
    {
        var builder = g.G;
        builder.Scope = CopyLayer.Prefix.TrimEnd('.');
        const string copy = "copy.";
        // q·(W·m + b) = (q·W)·m + q·b, as the model computes it (the queries projected, not the source's states).
        var query = g.Linear(hidden, copy + "query");                                                                       // [B, T, H]
        var projected = builder.Node("MatMul", [query, g.Weight(copy + "key.weight")]);                                   // [B, T, H]
        var memory = builder.Node("Transpose", [encoderHidden], ("perm", new long[] { 0, 2, 1 }));                        // [B, H, S]
        var offset = builder.Node("Unsqueeze", [builder.Node("MatMul", [query, g.Weight(copy + "key.bias")]), builder.Int64s([-1])]);   // [B, T, 1]
        var scores = builder.Node("Mul", [builder.Node("Add", [builder.Node("MatMul", [projected, memory]), offset]),
            builder.Float((float)(1.0 / Math.Sqrt(hiddenSize)))]);                                                          // [B, T, S]
        var attention = builder.Node("Softmax", [builder.Node("Add", [scores, builder.Node("Squeeze", [crossBias, builder.Int64s([1])])])], ("axis", -1L));
        var context = builder.Node("MatMul", [attention, encoderHidden]);                                                  // [B, T, H]
        var gate = g.Linear(builder.Node("Concat", [hidden, context], ("axis", -1L)), copy + "gate");                      // [B, T, 1]
        var index = builder.Node("Expand", [builder.Node("Unsqueeze", [sourceIds, builder.Int64s([1])]), builder.Node("Shape", [attention])]);   // [B, T, S]
        var generated = builder.Node("Mul", [builder.Node("Softmax", [logits], ("axis", -1L)), builder.Node("Sigmoid", [gate])]);          // [B, T, V]
        var copied = builder.Node("Mul", [attention, builder.Node("Sigmoid", [builder.Node("Neg", [gate])])]);                           // [B, T, S]
        var mixed = builder.Node("ScatterElements", [generated, index, copied], ("axis", 2L), ("reduction", "add"));                    // [B, T, V]
        return builder.Node("Log", [builder.Node("Max", [mixed, builder.Float(CopyLayer.Smallest)])]);
    }

    /// <summary>The model's weights under <paramref name="prefixes"/>, by checkpoint key.</summary>
    private static Dictionary<string, Tensor> Weights(EncoderDecoderModel model, params string[] prefixes) =>
        model.state_dict().Where(kv => prefixes.Any(p => kv.Key.StartsWith(p, StringComparison.Ordinal))).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    private static ModelProto Finish(EncoderDecoderModel model, GraphContext g, OnnxGraphBuilder builder, int opset, string part)
    {
        if (g.Unused.Count > 0)
            throw new FineTuneException($"the {model.ArchitectureName} {part} export left weights out: {string.Join(", ", g.Unused.Order(StringComparer.Ordinal))}");
        var config = model.Seq2SeqConfig;
        return OnnxExporter.Wrap(builder.Graph, opset,
            $"{model.ArchitectureName} {part} ({config.Encoder.ModelType} encoder, {config.Decoder.ModelType} decoder, {config.Decoder.NumHiddenLayers} layers, hidden {config.Decoder.HiddenSize})");
    }
}
