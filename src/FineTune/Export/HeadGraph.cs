using FineTune.Modeling;
using DataType = FineTune.Checkpoints.Onnx.TensorProto.Types.DataType;

namespace FineTune.Export;

/// <summary>
/// The outputs of an exported task model and how its head maps the encoder's last hidden state to them. A task
/// says which one it has (<c>FineTuneTask.ExportHead</c>); the sequence head is the family's own.
/// </summary>
internal abstract class HeadGraph
{
    private protected HeadGraph(params string[] outputs) => Outputs = outputs;

    /// <summary>The graph's outputs, in order (Optimum's names).</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>Adds the head over <paramref name="hidden"/> [B, T, H] and declares the graph outputs.</summary>
    public abstract void Build(GraphContext g, EncoderGraph family, string prefix, string hidden, long outputs);

    /// <summary>Sequence classification, multi-label classification and regression: the family's head, logits [B, C].</summary>
    public static HeadGraph SequenceClassification { get; } = new Sequence();

    /// <summary>Token classification: a classifier over every token, logits [B, T, C].</summary>
    public static HeadGraph TokenClassification { get; } = new Tokens();

    /// <summary>Extractive question answering: start and end logits [B, T].</summary>
    public static HeadGraph QuestionAnswering { get; } = new Spans();

    /// <summary>Sentence embeddings and feature extraction: the last hidden state [B, T, H] and its mean over real tokens [B, H].</summary>
    public static HeadGraph SentenceEmbedding { get; } = new Embedding();

    private sealed class Sequence() : HeadGraph("logits")
    {
        public override void Build(GraphContext g, EncoderGraph family, string prefix, string hidden, long outputs) =>
            g.G.Output(family.SequenceClassifier(g, prefix, hidden), "logits", DataType.Float, "batch_size", outputs);
    }

    private sealed class Tokens() : HeadGraph("logits")
    {
        public override void Build(GraphContext g, EncoderGraph family, string prefix, string hidden, long outputs)
        {
            g.G.Scope = "classifier";
            g.G.Output(g.Linear(hidden, "classifier"), "logits", DataType.Float, "batch_size", "sequence_length", outputs);
        }
    }

    private sealed class Spans() : HeadGraph("start_logits", "end_logits")
    {
        public override void Build(GraphContext g, EncoderGraph family, string prefix, string hidden, long outputs)
        {
            g.G.Scope = "qa_outputs";
            var logits = g.Linear(hidden, "qa_outputs");                                                     // [B, T, 2]
            var halves = g.G.Node("Split", [logits, g.G.Int64s([1, 1])], 2, ("axis", -1L));
            var axis = g.G.Int64s([-1]);
            g.G.Output(g.G.Node("Squeeze", [halves[0], axis]), "start_logits", DataType.Float, "batch_size", "sequence_length");
            g.G.Output(g.G.Node("Squeeze", [halves[1], axis]), "end_logits", DataType.Float, "batch_size", "sequence_length");
        }
    }

    private sealed class Embedding() : HeadGraph("last_hidden_state", "sentence_embedding")
    {
        public override void Build(GraphContext g, EncoderGraph family, string prefix, string hidden, long outputs)
        {
            g.G.Scope = "pooling";
            var pooled = g.MeanPool(hidden);
            g.G.Output(hidden, "last_hidden_state", DataType.Float, "batch_size", "sequence_length", g.Config.HiddenSize);
            g.G.Output(pooled, "sentence_embedding", DataType.Float, "batch_size", g.Config.HiddenSize);
        }
    }
}
