using System.Text.Json.Nodes;

namespace FineTune.Modeling;

/// <summary>
/// One encoder family, everything the rest of the library needs to know about it: the model_type that names it in
/// config.json, how its config.json names BERT's settings, the state-dict prefix of its encoder inside a task model
/// (Hugging Face's base_model_prefix), the prefix of its Hugging Face class names, how to build its encoder and its
/// sequence-classification head, which checkpoint keys a fine-tuning model may leave unused, and which tokenizer
/// model its checkpoints come with. Adding a family is one entry in <see cref="ModelFamilies"/>.
/// </summary>
internal sealed record ModelFamily
{
    /// <summary>config.json's model_type.</summary>
    public required string ModelType { get; init; }

    /// <summary>The state-dict prefix of the encoder inside a task model (bert, roberta, distilbert, electra).</summary>
    public required string BaseModelPrefix { get; init; }

    /// <summary>The prefix of the Hugging Face class names (Bert → BertForTokenClassification, BertModel).</summary>
    public required string ArchitecturePrefix { get; init; }

    /// <summary>The tokenizer model its checkpoints come with (tokenizer.json's model.type).</summary>
    public required string Tokenizer { get; init; }

    /// <summary>How config.json differs from BERT's names; null when it uses them.</summary>
    public ConfigDialect? Dialect { get; init; }

    /// <summary>Whether position ids start after the padding index (RoBERTa and XLM-R: padding_idx + 1).</summary>
    public bool OffsetsPositionsByPadding { get; init; }

    /// <summary>
    /// Whether the model takes token type ids (Hugging Face's model_input_names). RoBERTa and XLM-R do not: their one
    /// type embedding is used for every token, whatever type ids the tokenizer's template gives.
    /// </summary>
    public bool TakesTokenTypeIds { get; init; } = true;

    /// <summary>Whether the encoder can have a pooler (BERT's dense + tanh over the first token).</summary>
    public bool HasPooler { get; init; }

    /// <summary>The encoder: config, kernel choices, and whether to add the pooler (where the family has one).</summary>
    public required Func<EncoderConfig, KernelOptions, bool, TransformerEncoder> CreateEncoder { get; init; }

    /// <summary>The family's own sequence-classification head with the given number of outputs.</summary>
    public required Func<EncoderConfig, long, KernelOptions, TaskModel> CreateSequenceClassifier { get; init; }

    /// <summary>The dropout before the question-answering head's projection, or null for none (only DistilBERT has one).</summary>
    public Func<EncoderConfig, double?> QuestionAnsweringDropout { get; init; } = _ => null;

    /// <summary>Checkpoint key prefixes (below the encoder prefix) of pre-training and other heads that a fine-tuning model may leave unused.</summary>
    public IReadOnlyList<string> DroppablePrefixes { get; init; } = [];

    /// <summary>The tokens a model of this config takes at most: its positions, less the ones before the first position id.</summary>
    public int MaxSequenceLength(EncoderConfig config) =>
        config.MaxPositionEmbeddings - (OffsetsPositionsByPadding ? config.PadTokenId + 1 : 0);

    /// <summary>The offset of the first position id (padding_idx + 1 for RoBERTa-style positions, else 0).</summary>
    public int PositionOffset(EncoderConfig config) => OffsetsPositionsByPadding ? config.PadTokenId + 1 : 0;
}

/// <summary>The model families this library builds, one entry each, looked up by config.json's model_type.</summary>
internal static class ModelFamilies
{
    // Heads of other tasks that a checkpoint may carry (a fine-tuned model loaded for another task).
    private static readonly string[] TaskHeads = ["classifier.", "pre_classifier.", "qa_outputs."];

    public static ModelFamily Bert { get; } = new()
    {
        ModelType = "bert",
        BaseModelPrefix = "bert",
        ArchitecturePrefix = "Bert",
        Tokenizer = "WordPiece",
        HasPooler = true,
        CreateEncoder = (config, kernels, pooler) => new BertModel(config, pooler, positionOffset: 0, kernels),
        CreateSequenceClassifier = (config, outputs, kernels) => new BertForSequenceClassification(config, outputs, kernels),
        DroppablePrefixes = ["pooler.", "cls.", .. TaskHeads],
    };

    public static ModelFamily DistilBert { get; } = new()
    {
        ModelType = "distilbert",
        BaseModelPrefix = "distilbert",
        ArchitecturePrefix = "DistilBert",
        Tokenizer = "WordPiece",
        Dialect = new ConfigDialect(
            [("dim", "hidden_size"), ("n_layers", "num_hidden_layers"), ("n_heads", "num_attention_heads"), ("hidden_dim", "intermediate_size"),
             ("activation", "hidden_act"), ("dropout", "hidden_dropout_prob"), ("attention_dropout", "attention_probs_dropout_prob")],
            [("type_vocab_size", JsonValue.Create(0)), ("layer_norm_eps", JsonValue.Create(1e-12))],
            ["type_vocab_size"]),
        CreateEncoder = (config, kernels, _) => new DistilBertModel(config, kernels),
        CreateSequenceClassifier = (config, outputs, kernels) => new DistilBertForSequenceClassification(config, outputs, kernels),
        QuestionAnsweringDropout = config => config.QaDropout ?? 0.1,
        DroppablePrefixes = ["vocab_transform.", "vocab_layer_norm.", "vocab_projector.", .. TaskHeads],
    };

    public static ModelFamily Roberta { get; } = new()
    {
        ModelType = "roberta",
        BaseModelPrefix = "roberta",
        ArchitecturePrefix = "Roberta",
        Tokenizer = "BPE",
        OffsetsPositionsByPadding = true,
        TakesTokenTypeIds = false,
        CreateEncoder = (config, kernels, _) => new BertModel(config, addPoolingLayer: false, config.PadTokenId + 1, kernels, takesTokenTypeIds: false),
        CreateSequenceClassifier = (config, outputs, kernels) => new RobertaForSequenceClassification(config, outputs, kernels, "RobertaForSequenceClassification"),
        DroppablePrefixes = ["pooler.", "lm_head.", .. TaskHeads],
    };

    public static ModelFamily XlmRoberta { get; } = Roberta with
    {
        ModelType = "xlm-roberta",
        ArchitecturePrefix = "XLMRoberta",
        Tokenizer = "Unigram",
        CreateSequenceClassifier = (config, outputs, kernels) => new RobertaForSequenceClassification(config, outputs, kernels, "XLMRobertaForSequenceClassification"),
    };

    public static ModelFamily Electra { get; } = new()
    {
        ModelType = "electra",
        BaseModelPrefix = "electra",
        ArchitecturePrefix = "Electra",
        Tokenizer = "WordPiece",
        CreateEncoder = (config, kernels, _) => new BertModel(config, addPoolingLayer: false, positionOffset: 0, kernels),
        CreateSequenceClassifier = (config, outputs, kernels) => new ElectraForSequenceClassification(config, outputs, kernels),
        DroppablePrefixes = ["pooler.", "generator_predictions.", "generator_lm_head.", "discriminator_predictions.", .. TaskHeads],
    };

    /// <summary>Every family, in the order error messages list them.</summary>
    public static IReadOnlyList<ModelFamily> All { get; } = [Bert, DistilBert, Roberta, XlmRoberta, Electra];

    /// <summary>The model types this library builds.</summary>
    public static IReadOnlyList<string> ModelTypes { get; } = All.Select(f => f.ModelType).ToArray();

    /// <summary>The family of a model_type, or null.</summary>
    public static ModelFamily? Find(string? modelType) => All.FirstOrDefault(f => f.ModelType == modelType);

    /// <summary>The family of a config; an unsupported model_type is a <see cref="ModelLoadException"/>.</summary>
    public static ModelFamily Of(EncoderConfig config) => Find(config.ModelType)
        ?? throw new ModelLoadException($"unsupported model_type '{config.ModelType}'; supported: {string.Join(", ", ModelTypes)}", "config.json", "model_type");

    /// <summary>Reads and validates a config.json of a supported family (with the family's own key names mapped).</summary>
    public static EncoderConfig LoadConfig(string path)
    {
        var text = EncoderConfig.ReadText(path);
        return ParseConfig(text, path);
    }

    /// <summary>Parses config.json text of a supported family; <paramref name="source"/> names it in errors.</summary>
    public static EncoderConfig ParseConfig(string json, string source = "config.json")
    {
        var modelType = EncoderConfig.ReadModelType(json, source)
            ?? throw new ModelLoadException("has no \"model_type\"; expected one of: " + string.Join(", ", ModelTypes), source, "model_type");
        var family = Find(modelType)
            ?? throw new ModelLoadException($"unsupported model_type '{modelType}'; supported: {string.Join(", ", ModelTypes)}", source, "model_type");
        return EncoderConfig.Parse(json, source, family.Dialect);
    }

    /// <summary>config.json text of a config, with its family's own key names.</summary>
    public static string ConfigJson(EncoderConfig config) => config.ToJson(Of(config).Dialect);

    /// <summary>Writes config.json into <paramref name="folder"/>, with its family's own key names.</summary>
    public static void SaveConfig(EncoderConfig config, string folder) =>
        File.WriteAllText(Path.Combine(folder, "config.json"), ConfigJson(config) + "\n");
}
