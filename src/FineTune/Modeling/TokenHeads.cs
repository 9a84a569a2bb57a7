using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Modeling;

// Heads over every token, the same for all families apart from the encoder's prefix (registered by name),
// and a mean-pooling "head" for sentence embeddings.

/// <summary>
/// Token classification (Hugging Face's BertForTokenClassification and siblings): encoder without pooler ->
/// dropout -> classifier over every token. Labels of -100 are ignored by the loss.
/// </summary>
internal sealed class ForTokenClassification : TaskModel
{
    private readonly Dropout dropout;
    private readonly Linear classifier;

    internal ForTokenClassification(EncoderConfig config, KernelOptions kernels)
        : base("ForTokenClassification", config)
    {
        NumOutputs = config.NumLabels;
        dropout = Dropout(ClassifierDropout);
        classifier = Linear(config.HiddenSize, NumOutputs);
        RegisterComponents();
        register_module(Family.BaseModelPrefix, TaskModels.CreateEncoder(config, addPoolingLayer: false, kernels));
        InitializeHead();
    }

    public override TransformerEncoder Encoder => RegisteredEncoder(this);
    public override string ArchitectureName => Family.ArchitecturePrefix + "ForTokenClassification";
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["classifier."];

    public override ModelOutput forward(ModelInput input)
    {
        var hidden = Encoder.call(input).LastHiddenState;                                    // [B, T, H]
        return Output(classifier.call(dropout.call(hidden)), input.Labels);                  // [B, T, H] -> [B, T, C]
    }

    /// <summary>The encoder a head registered under its family's prefix.</summary>
    internal static TransformerEncoder RegisteredEncoder(TaskModel model)
    {
        foreach (var (name, child) in model.named_children())
            if (name == model.Family.BaseModelPrefix) return (TransformerEncoder)child;
        throw new InvalidOperationException("the encoder is not registered");
    }
}

/// <summary>
/// Extractive QA (BertForQuestionAnswering and siblings): qa_outputs maps every token to a start and an end logit.
/// Labels are [B, 2] token positions (start, end); the loss is the mean of the start and end cross-entropies.
/// </summary>
internal sealed class ForQuestionAnswering : TaskModel
{
    private readonly Linear qa_outputs;
    private readonly Dropout? dropout;

    internal ForQuestionAnswering(EncoderConfig config, KernelOptions kernels)
        : base("ForQuestionAnswering", config)
    {
        NumOutputs = 2;
        qa_outputs = Linear(config.HiddenSize, 2);
        if (Family.QuestionAnsweringDropout(config) is { } p)
            dropout = Dropout(p);
        RegisterComponents();
        register_module(Family.BaseModelPrefix, TaskModels.CreateEncoder(config, addPoolingLayer: false, kernels));
        InitializeHead();
    }

    public override TransformerEncoder Encoder => ForTokenClassification.RegisteredEncoder(this);
    public override string ArchitectureName => Family.ArchitecturePrefix + "ForQuestionAnswering";
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["qa_outputs."];

    public override ModelOutput forward(ModelInput input)
    {
        var hidden = Encoder.call(input).LastHiddenState;                                    // [B, T, H]
        if (dropout is not null) hidden = dropout.call(hidden);
        var logits = qa_outputs.call(hidden);                                                // [B, T, H] -> [B, T, 2]
        if (input.Labels is null) return new ModelOutput(logits);
        // Positions outside the sequence are clamped to T, which the loss ignores (as Hugging Face does). Padding is
        // left out of the softmax, so that with dynamic padding a window's loss does not depend on its batch.
        long t = logits.shape[1];
        var positions = input.Labels.clamp(0, t);                                            // [B, 2]
        var padding = input.AttentionMask.eq(0).unsqueeze(-1);                               // [B, T] -> [B, T, 1]
        var scored = logits.to(ScalarType.Float32).masked_fill(padding, -1e4f);              // [B, T, 2]
        var start = functional.cross_entropy(scored[.., .., 0], positions[.., 0], ignore_index: t, reduction: Reduction.Sum);
        var end = functional.cross_entropy(scored[.., .., 1], positions[.., 1], ignore_index: t, reduction: Reduction.Sum);
        var sum = (start + end) / 2;
        double count = positions.shape[0];
        return new ModelOutput(logits, sum / count, sum, count);
    }
}

/// <summary>
/// Sentence embeddings for a bi-encoder (sentence-transformers style): the encoder's hidden states mean-pooled
/// over real tokens. The "logits" are the embeddings [B, H]; training pairs them and applies a cosine loss outside.
/// There is no head: the model saves and loads as a plain Hugging Face encoder.
/// </summary>
internal sealed class ForSentenceEmbedding : TaskModel
{
    internal ForSentenceEmbedding(EncoderConfig config, KernelOptions kernels)
        : base("ForSentenceEmbedding", config)
    {
        NumOutputs = config.HiddenSize;
        RegisterComponents();
        register_module(Family.BaseModelPrefix, TaskModels.CreateEncoder(config, addPoolingLayer: false, kernels));
    }

    public override TransformerEncoder Encoder => ForTokenClassification.RegisteredEncoder(this);
    public override string ArchitectureName => Family.ArchitecturePrefix + "Model";
    public override IReadOnlyList<string> HeadPrefixes { get; } = [];
    public override bool SavesAsEncoder => true;

    /// <summary>
    /// Embeddings [N, H]; for paired rows the cosine similarity of each pair [B] (the sentence-transformers
    /// CosineSimilarityLoss: mean squared error against the normalised score, when labels are given).
    /// </summary>
    public override ModelOutput forward(ModelInput input)
    {
        var embeddings = MeanPool(Encoder.call(input).LastHiddenState, input.AttentionMask);   // [N, H]
        if (!input.PairedRows) return new ModelOutput(embeddings);
        return Output(PairCosines(embeddings), input.Labels);
    }

    /// <summary>The cosine of each pair of paired rows (rows [0, B) against rows [B, 2B)): [2B, H] -> [B].</summary>
    public static Tensor PairCosines(Tensor embeddings)
    {
        long b = embeddings.shape[0] / 2;
        return functional.cosine_similarity(embeddings[..(int)b], embeddings[(int)b..], 1);    // [B, H] x [B, H] -> [B]
    }

    /// <summary>Mean of the hidden states over tokens whose mask is 1: [B, T, H], [B, T] -> [B, H].</summary>
    public static Tensor MeanPool(Tensor hidden, Tensor attentionMask)
    {
        var mask = attentionMask.unsqueeze(-1).to(hidden.dtype);                             // [B, T] -> [B, T, 1]
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9);                         // [B, T, H] -> [B, H]
    }
}
