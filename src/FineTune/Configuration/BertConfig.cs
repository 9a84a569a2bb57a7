using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace FineTune.Configuration;

/// <summary>The encoder families that share the BERT architecture and differ in names, positions or heads.</summary>
public enum ModelFamily
{
    /// <summary>BERT and its smaller relatives that keep BERT's layout (MiniLM, arctic-embed-xs, BGE small …).</summary>
    Bert,
    /// <summary>DistilBERT: its own key names, no token types, no pooler.</summary>
    DistilBert,
    /// <summary>RoBERTa: BERT's layout, positions offset by padding_idx + 1, its own classification head.</summary>
    Roberta,
    /// <summary>XLM-RoBERTa: RoBERTa's architecture under its own model_type.</summary>
    XlmRoberta,
    /// <summary>ELECTRA discriminator: BERT's layout, optional embedding projection, no pooler.</summary>
    Electra,
}

/// <summary>
/// A Hugging Face config.json of a BERT-family encoder, as an immutable, validated record. Properties carry the
/// JSON names of BertConfig; DistilBERT's own names (dim, n_layers, …) are mapped on read and written back on save.
/// Keys this record does not model are kept in <see cref="Extra"/> and written back unchanged.
/// </summary>
public sealed record BertConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "bert";
    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 30522;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; init; } = 0.1;
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; init; } = 0.1;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-12;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; }
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; init; } = "absolute";
    [JsonPropertyName("classifier_dropout")] public double? ClassifierDropout { get; init; }
    /// <summary>ELECTRA: the width of the embeddings when it differs from hidden_size (then projected).</summary>
    [JsonPropertyName("embedding_size")] public int? EmbeddingSize { get; init; }
    /// <summary>DistilBERT: fixed sinusoidal position embeddings.</summary>
    [JsonPropertyName("sinusoidal_pos_embds")] public bool? SinusoidalPositionEmbeddings { get; init; }
    /// <summary>DistilBERT: dropout of the QA head.</summary>
    [JsonPropertyName("qa_dropout")] public double? QaDropout { get; init; }
    /// <summary>DistilBERT: dropout of the sequence-classification head.</summary>
    [JsonPropertyName("seq_classif_dropout")] public double? SeqClassifDropout { get; init; }
    [JsonPropertyName("problem_type")] public string? ProblemType { get; init; }
    /// <summary>
    /// What a sequence head reads: "cls" (the first token, through the family's own head: Hugging Face's behaviour)
    /// or "mean" (the mean of the last hidden states over real tokens, as sentence-transformers models are trained
    /// to be read). Absent means "cls". Hugging Face's BERT-family classes ignore this key.
    /// </summary>
    [JsonPropertyName("classifier_pooling")] public string? ClassifierPooling { get; init; }
    [JsonPropertyName("id2label")] public IReadOnlyDictionary<string, string>? Id2Label { get; init; }
    [JsonPropertyName("label2id")] public IReadOnlyDictionary<string, int>? Label2Id { get; init; }

    /// <summary>Keys of config.json this record does not model; written back unchanged.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    [JsonIgnore]
    public ModelFamily Family => ModelType switch
    {
        "bert" => ModelFamily.Bert,
        "distilbert" => ModelFamily.DistilBert,
        "roberta" => ModelFamily.Roberta,
        "xlm-roberta" => ModelFamily.XlmRoberta,
        "electra" => ModelFamily.Electra,
        _ => throw new InvalidOperationException($"unsupported model_type '{ModelType}'"),
    };

    /// <summary>The state-dict prefix of the encoder inside a task model (HF's base_model_prefix).</summary>
    [JsonIgnore]
    public string BaseModelPrefix => Family switch
    {
        ModelFamily.DistilBert => "distilbert",
        ModelFamily.Roberta or ModelFamily.XlmRoberta => "roberta",
        ModelFamily.Electra => "electra",
        _ => "bert",
    };

    /// <summary>Pooling values config.json's classifier_pooling may hold.</summary>
    public static IReadOnlyList<string> SupportedPoolings { get; } = ["cls", "mean"];

    /// <summary>Whether sequence heads read the mean of the token states instead of the first token's.</summary>
    [JsonIgnore] public bool MeanPooling => ClassifierPooling == "mean";

    /// <summary>The number of labels the head has: id2label's size, or 2 when there is none (HF's default).</summary>
    [JsonIgnore] public int NumLabels => Id2Label?.Count ?? 2;

    /// <summary>The width of the embedding output before any projection to hidden_size.</summary>
    [JsonIgnore] public int EmbeddingWidth => EmbeddingSize ?? HiddenSize;

    /// <summary>RoBERTa-style position ids start after the padding index.</summary>
    [JsonIgnore] public bool OffsetsPositionsByPadding => Family is ModelFamily.Roberta or ModelFamily.XlmRoberta;

    /// <summary>Model types this library can build.</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["bert", "distilbert", "roberta", "xlm-roberta", "electra"];

    /// <summary>Activations config.json may name, as Hugging Face's ACT2FN does.</summary>
    public static IReadOnlyList<string> SupportedActivations { get; } = ["gelu", "relu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "silu", "swish", "tanh"];

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    // DistilBERT's config.json names -> BERT's.
    private static readonly (string Distil, string Bert)[] s_distilNames =
    [
        ("dim", "hidden_size"), ("n_layers", "num_hidden_layers"), ("n_heads", "num_attention_heads"),
        ("hidden_dim", "intermediate_size"), ("activation", "hidden_act"), ("dropout", "hidden_dropout_prob"),
        ("attention_dropout", "attention_probs_dropout_prob"),
    ];

    /// <summary>Reads and validates a config.json.</summary>
    public static BertConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new ModelLoadException("config.json not found", path);
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException e) { throw new ModelLoadException($"cannot read: {e.Message}", path, inner: e); }
        return Parse(text, path);
    }

    /// <summary>Parses and validates config.json text; <paramref name="source"/> names it in errors.</summary>
    public static BertConfig Parse(string json, string source = "config.json")
    {
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(json) as JsonObject
                  ?? throw new ModelLoadException("config.json must hold a JSON object", source);
        }
        catch (JsonException e) { throw new ModelLoadException($"not valid JSON: {e.Message}", source, inner: e); }

        var modelType = obj["model_type"]?.GetValueKind() == JsonValueKind.String ? obj["model_type"]!.GetValue<string>() : null;
        if (modelType is null)
            throw new ModelLoadException("has no \"model_type\"; expected one of: " + string.Join(", ", SupportedModelTypes), source, "model_type");
        if (!SupportedModelTypes.Contains(modelType))
            throw new ModelLoadException($"unsupported model_type '{modelType}'; supported: {string.Join(", ", SupportedModelTypes)}", source, "model_type");

        if (modelType == "distilbert")
        {
            foreach (var (distil, bert) in s_distilNames)
                if (obj[distil] is { } v && obj[bert] is null)
                {
                    obj.Remove(distil);
                    obj[bert] = v;
                }
            obj["type_vocab_size"] ??= 0;
            obj["layer_norm_eps"] ??= 1e-12;
        }
        // num_labels without id2label: HF creates LABEL_0..LABEL_{n-1}.
        if (obj["id2label"] is null && obj["num_labels"] is JsonValue nl && nl.TryGetValue<int>(out var n) && n > 0)
        {
            var map = new JsonObject();
            for (int i = 0; i < n; i++) map[i.ToString()] = $"LABEL_{i}";
            obj["id2label"] = map;
        }
        obj.Remove("num_labels");

        BertConfig config;
        try { config = obj.Deserialize<BertConfig>(s_json)!; }
        catch (JsonException e)
        {
            throw new ModelLoadException($"a value has the wrong type: {e.Message}", source, e.Path?.TrimStart('$', '.'), e);
        }
        config.Validate(source);
        return config;
    }

    /// <summary>Checks sizes, probabilities, activation and label maps; throws naming the key.</summary>
    public void Validate(string source = "config.json")
    {
        void Positive(int value, string key)
        {
            if (value <= 0) throw new ModelLoadException($"must be positive, got {value}", source, key);
        }
        void Probability(double value, string key)
        {
            if (!(value >= 0 && value < 1)) throw new ModelLoadException($"must be in [0, 1), got {value}", source, key);
        }
        if (!SupportedModelTypes.Contains(ModelType))
            throw new ModelLoadException($"unsupported model_type '{ModelType}'", source, "model_type");
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(IntermediateSize, "intermediate_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (EmbeddingSize is { } es) Positive(es, "embedding_size");
        if (TypeVocabSize < 0) throw new ModelLoadException($"must not be negative, got {TypeVocabSize}", source, "type_vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ModelLoadException($"hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}", source, "num_attention_heads");
        Probability(HiddenDropoutProb, "hidden_dropout_prob");
        Probability(AttentionProbsDropoutProb, "attention_probs_dropout_prob");
        if (ClassifierDropout is { } cd) Probability(cd, "classifier_dropout");
        if (!(LayerNormEps > 0)) throw new ModelLoadException($"must be positive, got {LayerNormEps}", source, "layer_norm_eps");
        if (!SupportedActivations.Contains(HiddenAct))
            throw new ModelLoadException($"unsupported activation '{HiddenAct}'; supported: {string.Join(", ", SupportedActivations)}", source, "hidden_act");
        if (PositionEmbeddingType != "absolute")
            throw new ModelLoadException($"only \"absolute\" position embeddings are supported, got '{PositionEmbeddingType}'", source, "position_embedding_type");
        if (PadTokenId < 0 || PadTokenId >= VocabSize)
            throw new ModelLoadException($"pad_token_id {PadTokenId} is outside the vocabulary of {VocabSize}", source, "pad_token_id");
        if (ClassifierPooling is not null && !SupportedPoolings.Contains(ClassifierPooling))
            throw new ModelLoadException($"unknown classifier_pooling '{ClassifierPooling}'; supported: {string.Join(", ", SupportedPoolings)}", source, "classifier_pooling");
        if (ProblemType is not null and not ("single_label_classification" or "multi_label_classification" or "regression"))
            throw new ModelLoadException($"unknown problem_type '{ProblemType}'", source, "problem_type");
        if (Id2Label is not null)
        {
            for (int i = 0; i < Id2Label.Count; i++)
                if (!Id2Label.ContainsKey(i.ToString()))
                    throw new ModelLoadException($"ids must run from 0 to {Id2Label.Count - 1}; {i} is missing", source, "id2label");
            if (Label2Id is not null)
                foreach (var (id, label) in Id2Label)
                    if (!Label2Id.TryGetValue(label, out var back) || back.ToString() != id)
                        throw new ModelLoadException($"label '{label}' (id {id}) is not mapped back to {id}", source, "label2id");
        }
    }

    /// <summary>The labels in id order, or null when the config has none.</summary>
    public IReadOnlyList<string>? LabelsInOrder() =>
        Id2Label is null ? null : Enumerable.Range(0, Id2Label.Count).Select(i => Id2Label[i.ToString()]).ToList();

    /// <summary>A copy with the given labels (id2label and label2id) and problem type.</summary>
    public BertConfig WithLabels(IReadOnlyList<string> labels, string? problemType) => this with
    {
        Id2Label = labels.Select((l, i) => (l, i)).ToDictionary(p => p.i.ToString(), p => p.l),
        Label2Id = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i),
        ProblemType = problemType,
    };

    /// <summary>Serialises in Hugging Face's layout (DistilBERT with its own key names).</summary>
    public string ToJson()
    {
        var obj = JsonSerializer.SerializeToNode(this, s_json)!.AsObject();
        if (Family == ModelFamily.DistilBert)
        {
            foreach (var (distil, bert) in s_distilNames)
                if (obj[bert] is { } v)
                {
                    obj.Remove(bert);
                    obj[distil] = v.DeepClone();
                }
            obj.Remove("type_vocab_size");
        }
        // Sort keys like transformers does, for stable diffs.
        var sorted = new JsonObject();
        foreach (var kv in obj.OrderBy(k => k.Key, StringComparer.Ordinal))
            sorted[kv.Key] = kv.Value?.DeepClone();
        return sorted.ToJsonString(s_json);
    }

    /// <summary>Writes config.json into <paramref name="folder"/>.</summary>
    public void Save(string folder) => File.WriteAllText(Path.Combine(folder, "config.json"), ToJson() + "\n");
}
