using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Modeling;

/// <summary>
/// An encoder with a task head. Subclasses mirror Hugging Face's classes (BertForSequenceClassification …): the
/// encoder is registered under its family's base-model prefix (bert, roberta, distilbert, electra), so state-dict
/// keys equal the checkpoint's. The task that builds the model sets its <see cref="Loss"/>.
/// </summary>
internal abstract class TaskModel : nn.Module<ModelInput, ModelOutput>, IForwardModel
{
    ModelOutput IForwardModel.Forward(ModelInput input) => call(input);

    IDisposable IForwardModel.EvaluationMode()
    {
        bool wasTraining = training;
        eval();
        return new ModeRestorer(this, wasTraining);
    }

    private sealed class ModeRestorer(TaskModel model, bool training) : IDisposable
    {
        public void Dispose() => model.train(training);
    }

    // The encoder is held by each subclass in a field named after the base-model prefix (TorchSharp registers
    // every Module field of the class hierarchy under its field name, so the base class must not hold one).
    private protected TaskModel(string name, EncoderConfig config) : base(name)
    {
        Config = config;
        Family = ModelFamilies.Of(config);
    }

    public EncoderConfig Config { get; }

    /// <summary>The encoder family (its registry entry).</summary>
    internal ModelFamily Family { get; }

    /// <summary>The encoder under the head.</summary>
    public abstract TransformerEncoder Encoder { get; }

    /// <summary>The loss applied when a batch carries labels (cross-entropy unless the task sets another).</summary>
    public ILossFunction Loss { get; set; } = new CrossEntropyLoss();

    /// <summary>The Hugging Face class name written to config.json's "architectures".</summary>
    public abstract string ArchitectureName { get; }

    /// <summary>State-dict key prefixes of the head, which a pretrained encoder checkpoint does not have.</summary>
    public abstract IReadOnlyList<string> HeadPrefixes { get; }

    /// <summary>The number of outputs of the head.</summary>
    public long NumOutputs { get; protected init; }

    /// <summary>Whether the model is saved as its bare encoder (a bi-encoder has no head of its own).</summary>
    public virtual bool SavesAsEncoder => false;

    /// <summary>config.json of a model whose config is not its encoder's (an encoder-decoder); null: the encoder's config with the head's.</summary>
    internal virtual string? OwnConfigJson => null;

    /// <summary>The kernel choices of the encoder; a change applies from the next forward pass.</summary>
    internal KernelOptions Kernels
    {
        get => Encoder.Kernels;
        set => Encoder.Kernels = value;
    }

    /// <summary>Wraps logits and, when labels are given, the loss.</summary>
    protected ModelOutput Output(Tensor logits, Tensor? labels)
    {
        if (labels is null) return new ModelOutput(logits);
        var (sum, denominator) = Loss.Compute(logits, labels);
        return new ModelOutput(logits, sum / Math.Max(denominator, 1e-12), sum, denominator);
    }

    /// <summary>Initialises a new head's Linear layers as Hugging Face does: normal(0, initializer_range), zero bias.</summary>
    protected void InitializeHead()
    {
        using var _ = no_grad();
        foreach (var prefix in HeadPrefixes)
            foreach (var (name, p) in named_parameters())
                if (name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
                    else p.normal_(0, Config.InitializerRange);
                }
    }

    /// <summary>
    /// The vector a sequence head reads from the last hidden states [B, T, H]: the first token's ([CLS]), or with
    /// classifier_pooling "mean" the mean over real tokens. [B, T, H] -> [B, H].
    /// </summary>
    protected Tensor SentenceVector(Tensor hidden, Tensor attentionMask) =>
        Config.MeanPooling ? ForSentenceEmbedding.MeanPool(hidden, attentionMask) : hidden[.., 0];

    /// <summary>The dropout before a classifier: classifier_dropout when set, else hidden_dropout_prob.</summary>
    protected double ClassifierDropout => Config.ClassifierDropout ?? Config.HiddenDropoutProb;
}

/// <summary>
/// Builds encoders and the task models of every family: the family's own sequence-classification head, and the
/// heads over every token, for question answering and for sentence embeddings that all families share. Weights are
/// freshly initialised (pretrained ones are loaded afterwards).
/// </summary>
internal static class TaskModels
{
    /// <summary>The encoder alone (with its pooler where the family has one and <paramref name="addPoolingLayer"/>).</summary>
    public static TransformerEncoder CreateEncoder(EncoderConfig config, bool addPoolingLayer = true) =>
        CreateEncoder(config, addPoolingLayer, KernelOptions.Default);

    internal static TransformerEncoder CreateEncoder(EncoderConfig config, bool addPoolingLayer, KernelOptions kernels) =>
        ModelFamilies.Of(config).CreateEncoder(config, kernels, addPoolingLayer);

    /// <summary>The family's sequence-classification head with <paramref name="outputs"/> outputs (labels, or 1 for a value).</summary>
    public static TaskModel SequenceClassifier(EncoderConfig config, long outputs) => SequenceClassifier(config, outputs, KernelOptions.Default);

    internal static TaskModel SequenceClassifier(EncoderConfig config, long outputs, KernelOptions kernels) =>
        ModelFamilies.Of(config).CreateSequenceClassifier(config, outputs, kernels);

    /// <summary>A classifier over every token with one output per label of the config (…ForTokenClassification).</summary>
    public static TaskModel TokenClassifier(EncoderConfig config) => TokenClassifier(config, KernelOptions.Default);

    internal static TaskModel TokenClassifier(EncoderConfig config, KernelOptions kernels) => new ForTokenClassification(config, kernels);

    /// <summary>Start and end logits over every token (…ForQuestionAnswering).</summary>
    public static TaskModel QuestionAnswering(EncoderConfig config) => QuestionAnswering(config, KernelOptions.Default);

    internal static TaskModel QuestionAnswering(EncoderConfig config, KernelOptions kernels) => new ForQuestionAnswering(config, kernels);

    /// <summary>Mean-pooled sentence embeddings with no head of their own (a bi-encoder; saved as …Model).</summary>
    public static TaskModel SentenceEmbedding(EncoderConfig config) => SentenceEmbedding(config, KernelOptions.Default);

    internal static TaskModel SentenceEmbedding(EncoderConfig config, KernelOptions kernels) => new ForSentenceEmbedding(config, kernels);
}
