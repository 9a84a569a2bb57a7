using FineTune.Modeling;
using DataType = FineTune.Checkpoints.Onnx.TensorProto.Types.DataType;

namespace FineTune.Export;

/// <summary>
/// How one model family is exported: whether its graph takes token_type_ids, its encoder (input ids to the last
/// hidden state, node for node as its modules compute it, from their weights by checkpoint key), and its own
/// sequence-classification head. One entry per family in <see cref="EncoderGraphs"/>.
/// </summary>
internal abstract class EncoderGraph
{
    /// <summary>Whether the graph has a token_type_ids input (Optimum's inputs for the family).</summary>
    public abstract bool TakesTokenTypeIds(EncoderConfig config);

    /// <summary>The encoder whose weights are under <paramref name="prefix"/> ("bert."): returns the last hidden state [B, T, H].</summary>
    public abstract string Encode(GraphContext g, string prefix);

    /// <summary>The family's sequence-classification head over the last hidden state: logits [B, C].</summary>
    public abstract string SequenceClassifier(GraphContext g, string prefix, string hidden);
}

/// <summary>The export of every family, keyed by its <see cref="ModelFamily"/> entry.</summary>
internal static class EncoderGraphs
{
    private static readonly Dictionary<ModelFamily, EncoderGraph> s_graphs = new()
    {
        [ModelFamilies.Bert] = new BertGraph(tokenTypes: true, BertGraph.BertHead),
        [ModelFamilies.DistilBert] = new DistilBertGraph(),
        [ModelFamilies.Roberta] = new BertGraph(tokenTypes: false, BertGraph.DenseHead("Tanh")),
        [ModelFamilies.XlmRoberta] = new BertGraph(tokenTypes: false, BertGraph.DenseHead("Tanh")),
        [ModelFamilies.Electra] = new BertGraph(tokenTypes: true, BertGraph.DenseHead("gelu")),
    };

    /// <summary>The export of <paramref name="family"/>; a family without one is an error naming it.</summary>
    public static EncoderGraph For(ModelFamily family) =>
        s_graphs.TryGetValue(family, out var graph) ? graph
            : throw new ModelLoadException($"model_type '{family.ModelType}' has no ONNX export; exported: {string.Join(", ", s_graphs.Keys.Select(f => f.ModelType))}", "config.json", "model_type");

    /// <summary>The families that have an export.</summary>
    public static IEnumerable<ModelFamily> Families => s_graphs.Keys;
}

/// <summary>
/// BERT's architecture (BERT, MiniLM, RoBERTa, XLM-R, ELECTRA): word + position (+ token type) embeddings, LayerNorm,
/// ELECTRA's projection, then per layer self-attention, output, residual and LayerNorm, the feed-forward block,
/// residual and LayerNorm (Modeling/Bert.cs).
/// </summary>
internal sealed class BertGraph(bool tokenTypes, Func<GraphContext, string, string, string> head) : EncoderGraph
{
    public override bool TakesTokenTypeIds(EncoderConfig config) => tokenTypes && config.TypeVocabSize > 0;

    public override string Encode(GraphContext g, string prefix)
    {
        var config = g.Config;
        var family = ModelFamilies.Of(config);
        var e = prefix + "embeddings.";
        g.G.Scope = prefix + "embeddings";
        var words = g.G.Node("Gather", [g.Weight(e + "word_embeddings.weight"), g.InputIds]);                 // [B, T, E]
        var positionTable = g.Weight(e + "position_embeddings.weight");
        string positions;
        if (family.OffsetsPositionsByPadding)
        {
            // RoBERTa: padding keeps position padding_idx; real tokens count from padding_idx + 1.
            var notPad = g.G.Node("Cast", [g.G.Node("Not", [g.G.Node("Equal", [g.InputIds, g.G.Int64s([config.PadTokenId], scalar: true)])])], ("to", (long)DataType.Int64));
            var counted = g.G.Node("Mul", [g.G.Node("CumSum", [notPad, g.G.Int64s([1], scalar: true)]), notPad]);
            positions = g.G.Node("Gather", [positionTable, g.G.Node("Add", [counted, g.G.Int64s([config.PadTokenId], scalar: true)])]);  // [B, T, E]
        }
        else
        {
            var length = g.G.Node("Shape", [g.InputIds], ("start", 1L), ("end", 2L));
            positions = g.G.Node("Slice", [positionTable, g.G.Int64s([0]), length, g.G.Int64s([0])]);        // [T, E]
        }
        var sum = g.G.Node("Add", [words, positions]);
        if (config.TypeVocabSize > 0)
        {
            var typeTable = g.Weight(e + "token_type_embeddings.weight");
            // Without a token_type_ids input (RoBERTa's single type) every token has type 0.
            var types = g.G.Node("Gather", [typeTable, g.TokenTypeIds ?? g.G.Int64s([0], scalar: true)]);
            sum = g.G.Node("Add", [sum, types]);
        }
        var hidden = g.LayerNorm(sum, e + "LayerNorm", config.LayerNormEps);
        if (g.Has(prefix + "embeddings_project.weight"))
        {
            g.G.Scope = prefix + "embeddings_project";
            hidden = g.Linear(hidden, prefix + "embeddings_project");                                            // [B, T, E] -> [B, T, H]
        }
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            var l = $"{prefix}encoder.layer.{i}.";
            g.G.Scope = l + "attention";
            var attended = g.Attention(g.Linear(hidden, l + "attention.self.query"), g.Linear(hidden, l + "attention.self.key"),
                g.Linear(hidden, l + "attention.self.value"));
            var projected = g.Linear(attended, l + "attention.output.dense");
            hidden = g.LayerNorm(g.G.Node("Add", [projected, hidden]), l + "attention.output.LayerNorm", config.LayerNormEps);
            g.G.Scope = l + "intermediate";
            var expanded = g.Activation(g.Linear(hidden, l + "intermediate.dense"), config.HiddenAct);         // [B, T, H] -> [B, T, I]
            g.G.Scope = l + "output";
            var contracted = g.Linear(expanded, l + "output.dense");                                           // [B, T, I] -> [B, T, H]
            hidden = g.LayerNorm(g.G.Node("Add", [contracted, hidden]), l + "output.LayerNorm", config.LayerNormEps);
        }
        return hidden;
    }

    public override string SequenceClassifier(GraphContext g, string prefix, string hidden) => head(g, prefix, hidden);

    /// <summary>BERT: the pooler (dense + tanh over [CLS]) or the mean of the token states, then the classifier.</summary>
    public static string BertHead(GraphContext g, string prefix, string hidden)
    {
        g.G.Scope = "classifier";
        string pooled;
        if (g.Config.MeanPooling)
        {
            g.Skip(prefix + "pooler.");
            pooled = g.MeanPool(hidden);
        }
        else
        {
            g.G.Scope = prefix + "pooler";
            pooled = g.G.Node("Tanh", [g.Linear(g.FirstToken(hidden), prefix + "pooler.dense")]);
        }
        g.G.Scope = "classifier";
        return g.Linear(pooled, "classifier");
    }

    /// <summary>RoBERTa (tanh) and ELECTRA (gelu): sentence vector -> dense -> activation -> out_proj.</summary>
    public static Func<GraphContext, string, string, string> DenseHead(string activation) => (g, _, hidden) =>
    {
        g.G.Scope = "classifier";
        var x = g.Linear(g.SentenceVector(hidden), "classifier.dense");
        x = activation == "Tanh" ? g.G.Node("Tanh", [x]) : g.Activation(x, activation);
        return g.Linear(x, "classifier.out_proj");
    };
}

/// <summary>
/// DistilBERT (Modeling/DistilBert.cs): word + position embeddings, LayerNorm, then per layer attention with out_lin,
/// residual and sa_layer_norm, the feed-forward block, residual and output_layer_norm; no token types.
/// </summary>
internal sealed class DistilBertGraph : EncoderGraph
{
    private const double Eps = 1e-12;

    public override bool TakesTokenTypeIds(EncoderConfig config) => false;

    public override string Encode(GraphContext g, string prefix)
    {
        var config = g.Config;
        var e = prefix + "embeddings.";
        g.G.Scope = prefix + "embeddings";
        var words = g.G.Node("Gather", [g.Weight(e + "word_embeddings.weight"), g.InputIds]);                 // [B, T, H]
        var length = g.G.Node("Shape", [g.InputIds], ("start", 1L), ("end", 2L));
        var positions = g.G.Node("Slice", [g.Weight(e + "position_embeddings.weight"), g.G.Int64s([0]), length, g.G.Int64s([0])]);
        var hidden = g.LayerNorm(g.G.Node("Add", [words, positions]), e + "LayerNorm", Eps);
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            var l = $"{prefix}transformer.layer.{i}.";
            g.G.Scope = l + "attention";
            var attended = g.Attention(g.Linear(hidden, l + "attention.q_lin"), g.Linear(hidden, l + "attention.k_lin"), g.Linear(hidden, l + "attention.v_lin"));
            var projected = g.Linear(attended, l + "attention.out_lin");
            hidden = g.LayerNorm(g.G.Node("Add", [projected, hidden]), l + "sa_layer_norm", Eps);
            g.G.Scope = l + "ffn";
            var expanded = g.Activation(g.Linear(hidden, l + "ffn.lin1"), config.HiddenAct);
            var contracted = g.Linear(expanded, l + "ffn.lin2");
            hidden = g.LayerNorm(g.G.Node("Add", [contracted, hidden]), l + "output_layer_norm", Eps);
        }
        return hidden;
    }

    /// <summary>First token (or the mean) -> pre_classifier -> ReLU -> classifier.</summary>
    public override string SequenceClassifier(GraphContext g, string prefix, string hidden)
    {
        g.G.Scope = "classifier";
        var x = g.G.Node("Relu", [g.Linear(g.SentenceVector(hidden), "pre_classifier")]);
        return g.Linear(x, "classifier");
    }
}
