using FineTune.Configuration;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Modeling;

/// <summary>
/// An encoder with a task head. Subclasses mirror Hugging Face's classes (BertForSequenceClassification …): the
/// encoder is registered under the family's base-model prefix (bert, roberta, distilbert, electra), so state-dict
/// keys equal the checkpoint's. The loss is chosen from the task as Hugging Face does and can be replaced.
/// </summary>
public abstract class TaskModel : nn.Module<BertInput, ClassifierOutput>
{
    // The encoder is held by each subclass in a field named after the base-model prefix (TorchSharp registers
    // every Module field of the class hierarchy under its field name, so the base class must not hold one).
    protected TaskModel(string name, BertConfig config, TaskKind task) : base(name)
    {
        Config = config;
        Task = task;
        Loss = DefaultLoss(task);
    }

    public BertConfig Config { get; }
    public TaskKind Task { get; }
    /// <summary>The encoder under the head.</summary>
    public abstract TransformerEncoder Encoder { get; }

    /// <summary>The loss applied when a batch carries labels.</summary>
    public ILossFunction Loss { get; set; }

    /// <summary>The Hugging Face class name written to config.json's "architectures".</summary>
    public abstract string ArchitectureName { get; }

    /// <summary>State-dict key prefixes of the head, which a pretrained encoder checkpoint does not have.</summary>
    public abstract IReadOnlyList<string> HeadPrefixes { get; }

    /// <summary>The number of outputs of the head.</summary>
    public long NumOutputs { get; protected init; }

    /// <summary>HF's problem_type semantics: cross-entropy, BCE with logits, MSE; token CE ignores -100.</summary>
    public static ILossFunction DefaultLoss(TaskKind task) => task switch
    {
        TaskKind.MultiLabelClassification => new BceWithLogitsLoss(),
        TaskKind.Regression or TaskKind.Similarity => new RegressionLoss(),
        _ => new CrossEntropyLoss(),
    };

    /// <summary>The HF problem_type string for config.json, or null for tasks that have none.</summary>
    public static string? ProblemType(TaskKind task) => task switch
    {
        TaskKind.SingleLabelClassification => "single_label_classification",
        TaskKind.MultiLabelClassification => "multi_label_classification",
        TaskKind.Regression => "regression",
        _ => null,
    };

    /// <summary>Wraps logits and, when labels are given, the loss.</summary>
    protected ClassifierOutput Output(Tensor logits, Tensor? labels)
    {
        if (labels is null) return new ClassifierOutput(logits);
        var (sum, denominator) = Loss.Compute(logits, labels);
        return new ClassifierOutput(logits, sum / Math.Max(denominator, 1e-12), sum, denominator);
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

    /// <summary>Number of outputs of a head for a task and config.</summary>
    protected static long OutputsFor(BertConfig config, TaskKind task) => task switch
    {
        TaskKind.Regression or TaskKind.Similarity => 1,
        TaskKind.QuestionAnswering => 2,
        _ => config.NumLabels,
    };
}

/// <summary>Builds the task model for a config's family; each head is in its own file.</summary>
public static class TaskModels
{
    /// <summary>The encoder alone (BertModel with its pooler, or DistilBertModel).</summary>
    public static TransformerEncoder CreateEncoder(BertConfig config, bool addPoolingLayer = true) => config.Family switch
    {
        ModelFamily.DistilBert => new DistilBertModel(config),
        ModelFamily.Roberta or ModelFamily.XlmRoberta or ModelFamily.Electra => new BertModel(config, addPoolingLayer: false),
        _ => new BertModel(config, addPoolingLayer),
    };

    /// <summary>The task model with freshly initialised weights (pretrained weights are loaded afterwards).</summary>
    public static TaskModel Create(BertConfig config, TaskKind task) => task switch
    {
        TaskKind.SingleLabelClassification or TaskKind.MultiLabelClassification or TaskKind.Regression => config.Family switch
        {
            ModelFamily.DistilBert => new DistilBertForSequenceClassification(config, task),
            ModelFamily.Roberta or ModelFamily.XlmRoberta => new RobertaForSequenceClassification(config, task),
            ModelFamily.Electra => new ElectraForSequenceClassification(config, task),
            _ => new BertForSequenceClassification(config, task),
        },
        TaskKind.TokenClassification => new ForTokenClassification(config),
        TaskKind.QuestionAnswering => new ForQuestionAnswering(config),
        TaskKind.Similarity => new ForSentenceEmbedding(config),
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, null),
    };
}
