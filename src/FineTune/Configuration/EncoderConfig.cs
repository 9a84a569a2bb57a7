using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace FineTune.Configuration;

/// <summary>
/// A Hugging Face config.json of a Transformer encoder, as an immutable, validated record. Properties carry the JSON
/// names of BERT's config; a family with other names for the same settings (DistilBERT's dim, n_layers, …) maps them
/// on read and back on write through the normalisers its registry entry passes to <see cref="Parse"/> and
/// <see cref="ToJson"/>. Keys this record does not model are kept in <see cref="Extra"/> and written back unchanged.
/// Which model types are supported is the model-family registry's business, not this record's.
/// </summary>
public sealed record EncoderConfig
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

    /// <summary>Pooling values config.json's classifier_pooling may hold.</summary>
    public static IReadOnlyList<string> SupportedPoolings { get; } = ["cls", "mean"];

    /// <summary>Whether sequence heads read the mean of the token states instead of the first token's.</summary>
    [JsonIgnore] public bool MeanPooling => ClassifierPooling == "mean";

    /// <summary>The number of labels the head has: id2label's size, or 2 when there is none (HF's default).</summary>
    [JsonIgnore] public int NumLabels => Id2Label?.Count ?? 2;

    /// <summary>The width of the embedding output before any projection to hidden_size.</summary>
    [JsonIgnore] public int EmbeddingWidth => EmbeddingSize ?? HiddenSize;

    /// <summary>Activations config.json may name, as Hugging Face's ACT2FN does.</summary>
    public static IReadOnlyList<string> SupportedActivations { get; } = ["gelu", "relu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "silu", "swish", "tanh"];

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    /// <summary>Reads the model_type of a config.json text (null when it has none); <paramref name="source"/> names it in errors.</summary>
    internal static string? ReadModelType(string json, string source = "config.json")
    {
        var obj = ParseObject(json, source);
        return obj["model_type"]?.GetValueKind() == JsonValueKind.String ? obj["model_type"]!.GetValue<string>() : null;
    }

    /// <summary>Reads a config.json's text, naming the file when it is missing or unreadable.</summary>
    internal static string ReadText(string path)
    {
        if (!File.Exists(path))
            throw new ModelLoadException("config.json not found", path);
        try { return File.ReadAllText(path); }
        catch (IOException e) { throw new ModelLoadException($"cannot read: {e.Message}", path, inner: e); }
    }

    /// <summary>
    /// Parses and validates config.json text written in <paramref name="dialect"/> (BERT's names by default);
    /// <paramref name="source"/> names it in errors.
    /// </summary>
    internal static EncoderConfig Parse(string json, string source = "config.json", ConfigDialect? dialect = null)
    {
        var obj = ParseObject(json, source);
        if (obj["model_type"]?.GetValueKind() != JsonValueKind.String)
            throw new ModelLoadException("has no \"model_type\" (the model family: bert, roberta, ...)", source, "model_type");
        if (dialect is not null)
        {
            foreach (var (theirs, ours) in dialect.Names)
                if (obj[theirs] is { } v && obj[ours] is null)
                {
                    obj.Remove(theirs);
                    obj[ours] = v;
                }
            foreach (var (key, value) in dialect.Defaults)
                obj[key] ??= value.DeepClone();
        }
        // num_labels without id2label: HF creates LABEL_0..LABEL_{n-1}.
        if (obj["id2label"] is null && obj["num_labels"] is JsonValue nl && nl.TryGetValue<int>(out var n) && n > 0)
        {
            var map = new JsonObject();
            for (int i = 0; i < n; i++) map[i.ToString()] = $"LABEL_{i}";
            obj["id2label"] = map;
        }
        obj.Remove("num_labels");

        EncoderConfig config;
        try { config = obj.Deserialize<EncoderConfig>(s_json)!; }
        catch (JsonException e)
        {
            throw new ModelLoadException($"a value has the wrong type: {e.Message}", source, e.Path?.TrimStart('$', '.'), e);
        }
        config.Validate(source);
        return config;
    }

    private static JsonObject ParseObject(string json, string source)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw new ModelLoadException("config.json must hold a JSON object", source);
        }
        catch (JsonException e) { throw new ModelLoadException($"not valid JSON: {e.Message}", source, inner: e); }
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
        if (string.IsNullOrEmpty(ModelType))
            throw new ModelLoadException("model_type is empty", source, "model_type");
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
    public EncoderConfig WithLabels(IReadOnlyList<string> labels, string? problemType) => this with
    {
        Id2Label = labels.Select((l, i) => (l, i)).ToDictionary(p => p.i.ToString(), p => p.l),
        Label2Id = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i),
        ProblemType = problemType,
    };

    /// <summary>Serialises in Hugging Face's layout, with the family's own key names (<paramref name="dialect"/>).</summary>
    internal string ToJson(ConfigDialect? dialect = null)
    {
        var obj = JsonSerializer.SerializeToNode(this, s_json)!.AsObject();
        if (dialect is not null)
        {
            foreach (var (theirs, ours) in dialect.Names)
                if (obj[ours] is { } v)
                {
                    obj.Remove(ours);
                    obj[theirs] = v.DeepClone();
                }
            foreach (var key in dialect.NotWritten) obj.Remove(key);
        }
        // Sort keys like transformers does, for stable diffs.
        var sorted = new JsonObject();
        foreach (var kv in obj.OrderBy(k => k.Key, StringComparer.Ordinal))
            sorted[kv.Key] = kv.Value?.DeepClone();
        return sorted.ToJsonString(s_json);
    }
}

/// <summary>
/// How a family's config.json differs from BERT's: its own names for BERT's settings (DistilBERT's dim for
/// hidden_size), values for settings it leaves out, and keys it does not write.
/// </summary>
internal sealed record ConfigDialect(
    IReadOnlyList<(string Theirs, string Ours)> Names,
    IReadOnlyList<(string Key, JsonNode Value)> Defaults,
    IReadOnlyList<string> NotWritten);
