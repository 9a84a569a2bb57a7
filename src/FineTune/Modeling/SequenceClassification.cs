using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Modeling;

// Sequence-classification heads (one output per label, or one value), one per family, as Hugging Face defines them.
// The family registry (ModelFamilies) says which one a family uses.

/// <summary>BERT: pooler output (or the mean of the token states) -> dropout -> classifier.</summary>
internal sealed class BertForSequenceClassification : TaskModel
{
    private readonly TransformerEncoder bert;
    private readonly Dropout dropout;
    private readonly Linear classifier;

    internal BertForSequenceClassification(EncoderConfig config, long outputs, KernelOptions kernels)
        : base(nameof(BertForSequenceClassification), config)
    {
        bert = new BertModel(config, addPoolingLayer: true, positionOffset: 0, kernels);
        NumOutputs = outputs;
        dropout = Dropout(ClassifierDropout);
        classifier = Linear(config.HiddenSize, NumOutputs);
        RegisterComponents();
        InitializeHead();
        // With mean pooling the pooler is kept (the folder stays loadable as BertForSequenceClassification) but unused:
        // frozen, so that the optimizer leaves it as loaded.
        if (config.MeanPooling)
            foreach (var (name, p) in bert.named_parameters())
                if (name.StartsWith("pooler.", StringComparison.Ordinal))
                    p.requires_grad = false;
    }

    public override TransformerEncoder Encoder => bert;
    public override string ArchitectureName => nameof(BertForSequenceClassification);
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["classifier."];

    public override ModelOutput forward(ModelInput input)
    {
        var encoded = bert.call(input);
        var pooled = Config.MeanPooling ? SentenceVector(encoded.LastHiddenState, input.AttentionMask) : encoded.PooledOutput!;   // [B, H]
        return Output(classifier.call(dropout.call(pooled)), input.Labels);                  // [B, H] -> [B, C]
    }
}

/// <summary>
/// The head of RoBERTa / XLM-R and ELECTRA: sentence vector (the first token's state, or the mean of the token
/// states) -> dropout -> dense -> activation -> dropout -> out_proj (the two differ only in the activation).
/// </summary>
internal abstract class DenseClassificationHead : Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly Dropout dropout;
    private readonly Linear out_proj;

    protected DenseClassificationHead(string name, EncoderConfig config, long outputs, double dropoutProb) : base(name)
    {
        dense = Linear(config.HiddenSize, config.HiddenSize);
        dropout = Dropout(dropoutProb);
        out_proj = Linear(config.HiddenSize, outputs);
        RegisterComponents();
    }

    protected abstract Tensor Activate(Tensor x);

    public override Tensor forward(Tensor sentence)
    {
        var x = dropout.call(sentence);                                                      // [B, H]
        x = dropout.call(Activate(dense.call(x)));
        return out_proj.call(x);                                                              // [B, H] -> [B, C]
    }
}

/// <summary>RoBERTa / XLM-R: first token -> dropout -> dense -> tanh -> dropout -> out_proj.</summary>
internal sealed class RobertaClassificationHead(EncoderConfig config, long outputs, double dropoutProb)
    : DenseClassificationHead(nameof(RobertaClassificationHead), config, outputs, dropoutProb)
{
    protected override Tensor Activate(Tensor x) => x.tanh();
}

/// <summary>RoBERTa and XLM-R sequence classification (no pooler).</summary>
internal sealed class RobertaForSequenceClassification : TaskModel
{
    private readonly TransformerEncoder roberta;
    private readonly RobertaClassificationHead classifier;

    /// <param name="architecture">RobertaForSequenceClassification or XLMRobertaForSequenceClassification.</param>
    internal RobertaForSequenceClassification(EncoderConfig config, long outputs, KernelOptions kernels, string architecture)
        : base(architecture, config)
    {
        ArchitectureName = architecture;
        roberta = new BertModel(config, addPoolingLayer: false, config.PadTokenId + 1, kernels);
        NumOutputs = outputs;
        classifier = new RobertaClassificationHead(config, NumOutputs, ClassifierDropout);
        RegisterComponents();
        InitializeHead();
    }

    public override TransformerEncoder Encoder => roberta;
    public override string ArchitectureName { get; }
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["classifier."];

    public override ModelOutput forward(ModelInput input) =>
        Output(classifier.call(SentenceVector(roberta.call(input).LastHiddenState, input.AttentionMask)), input.Labels);
}

/// <summary>DistilBERT: first token (or the mean of the token states) -> pre_classifier -> ReLU -> dropout -> classifier.</summary>
internal sealed class DistilBertForSequenceClassification : TaskModel
{
    private readonly TransformerEncoder distilbert;
    private readonly Linear pre_classifier;
    private readonly Linear classifier;
    private readonly Dropout dropout;

    internal DistilBertForSequenceClassification(EncoderConfig config, long outputs, KernelOptions kernels)
        : base(nameof(DistilBertForSequenceClassification), config)
    {
        distilbert = new DistilBertModel(config, kernels);
        NumOutputs = outputs;
        pre_classifier = Linear(config.HiddenSize, config.HiddenSize);
        classifier = Linear(config.HiddenSize, NumOutputs);
        dropout = Dropout(config.SeqClassifDropout ?? 0.2);
        RegisterComponents();
        InitializeHead();
    }

    public override TransformerEncoder Encoder => distilbert;
    public override string ArchitectureName => nameof(DistilBertForSequenceClassification);
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["pre_classifier.", "classifier."];

    public override ModelOutput forward(ModelInput input)
    {
        var first = SentenceVector(distilbert.call(input).LastHiddenState, input.AttentionMask);   // [B, T, H] -> [B, H]
        var x = dropout.call(functional.relu(pre_classifier.call(first)));
        return Output(classifier.call(x), input.Labels);                                      // [B, H] -> [B, C]
    }
}

/// <summary>ELECTRA: first token -> dropout -> dense -> GELU -> dropout -> out_proj.</summary>
internal sealed class ElectraClassificationHead(EncoderConfig config, long outputs, double dropoutProb)
    : DenseClassificationHead(nameof(ElectraClassificationHead), config, outputs, dropoutProb)
{
    protected override Tensor Activate(Tensor x) => functional.gelu(x);
}

/// <summary>ELECTRA discriminator sequence classification.</summary>
internal sealed class ElectraForSequenceClassification : TaskModel
{
    private readonly TransformerEncoder electra;
    private readonly ElectraClassificationHead classifier;

    internal ElectraForSequenceClassification(EncoderConfig config, long outputs, KernelOptions kernels)
        : base(nameof(ElectraForSequenceClassification), config)
    {
        electra = new BertModel(config, addPoolingLayer: false, positionOffset: 0, kernels);
        NumOutputs = outputs;
        classifier = new ElectraClassificationHead(config, NumOutputs, ClassifierDropout);
        RegisterComponents();
        InitializeHead();
    }

    public override TransformerEncoder Encoder => electra;
    public override string ArchitectureName => nameof(ElectraForSequenceClassification);
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["classifier."];

    public override ModelOutput forward(ModelInput input) =>
        Output(classifier.call(SentenceVector(electra.call(input).LastHiddenState, input.AttentionMask)), input.Labels);
}
