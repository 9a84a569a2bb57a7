using System.ComponentModel;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Reports;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>Options of multi-label classification.</summary>
public sealed record MultiLabelOptions : TaskOptions
{
    /// <summary>The threshold used when none is given in training.</summary>
    public const double DefaultThreshold = 0.5;

    [Description("Probability from which a label is predicted (training: 0.5; evaluate and predict: the one the model was trained with).")]
    [UsedByPrediction]
    public double? Threshold { get; init; }

    public override void Validate() =>
        Check(Threshold is null or (> 0 and < 1), nameof(Threshold), $"must be in (0, 1), got {Threshold}");
}

/// <summary>
/// Multi-label classification: any number of labels per text (a delimited list in one column, or one 0/1 column per
/// label), binary cross-entropy with logits per label, micro and macro F1, subset accuracy and Hamming loss; the
/// best model by micro F1. The threshold is saved with the model.
/// </summary>
internal sealed class MultiLabelTask() : SequenceTask<MultiLabelOptions>(
    "multi-label", "Multi-label classification",
    "labels as a delimited list or 0/1 columns; BCE with logits; micro/macro F1, subset accuracy, Hamming loss", "multilabel")
{
    public override TaskOptions DefaultOptions { get; } = new MultiLabelOptions();
    public override string DefaultMetricForBest => MetricNames.F1Micro;
    public override LabelKind LabelKind => LabelKind.Classes;
    public override string ProblemType => "multi_label_classification";

    public override SequenceReadout Readout(LabelMap? labels, double threshold, double temperature = 1) =>
        new MultiLabelReadout(labels ?? throw new ArgumentNullException(nameof(labels)), threshold);

    public override Tensor LabelTensor(IReadOnlyList<LabelTarget> targets, Device device) => SequenceFeatures.LabelVectors(targets, device);

    protected override ILossFunction Loss(MultiLabelOptions options, TextDataset dataset) => new BceWithLogitsLoss();

    public override ILossFunction EvaluationLoss => new BceWithLogitsLoss();

    protected override double Threshold(MultiLabelOptions options) => options.Threshold ?? MultiLabelOptions.DefaultThreshold;

    private const string ThresholdKey = "threshold";

    protected override FineTuneMetadata SavedSettings(FineTuneMetadata metadata, MultiLabelOptions options) =>
        metadata.With(ThresholdKey, Threshold(options));

    public override double SavedThreshold(FineTuneMetadata? metadata, TaskOptions? options) =>
        OptionsFrom<MultiLabelOptions>(options).Threshold ?? metadata?.Number(ThresholdKey) ?? MultiLabelOptions.DefaultThreshold;
}

/// <summary>A sigmoid per label; the labels at or above the threshold are the prediction.</summary>
internal sealed class MultiLabelReadout(LabelMap labels, double threshold) : SequenceReadout
{
    public override LabelMap Labels => labels;
    public override IMetricAccumulator NewAccumulator() => new MultiLabelMetrics(labels, threshold);
    public override string PredictionHeader => "predicted";
    public override string PredictedValueHeader => "labels";

    public override SequencePrediction Predict(ReadOnlySpan<float> logits, int exampleIndex)
    {
        var (p, chosen) = SequenceScores.Sigmoid(logits, threshold);
        return new SequencePrediction(exampleIndex, p, null, chosen);
    }

    public override TextPrediction ToTextPrediction(SequencePrediction prediction) =>
        new(null, prediction.PredictedLabels!.Select(i => labels[i]).ToList(),
            Enumerable.Range(0, labels.Count).ToDictionary(i => labels[i], i => prediction.Outputs[i]), null);

    public override string PredictionCell(SequencePrediction prediction) => string.Join(";", prediction.PredictedLabels!.Select(i => labels[i]));

    public override PredictionError? Error(TextExample e, SequencePrediction p)
    {
        if (e.Label is not MultiLabelTargets t) return null;
        var actual = t.PositiveIds().ToArray();
        if (actual.SequenceEqual(p.PredictedLabels!)) return null;
        double confidence = Enumerable.Range(0, p.Outputs.Length).Max(i => t.Targets[i] > 0.5 ? 1 - p.Outputs[i] : p.Outputs[i]);
        return new PredictionError(e.SourceRow, e.Text, e.TextPair, string.Join(",", actual.Select(i => labels[i])),
            string.Join(",", p.PredictedLabels!.Select(i => labels[i])), confidence);
    }

    public override IReadOnlyList<ClassReport>? PerClass(IMetricAccumulator accumulator) => ((MultiLabelMetrics)accumulator).PerLabel();

    /// <summary>The probability of each predicted label (of the most probable one when none reaches the threshold), or of the asked-for one.</summary>
    public override IReadOnlyList<ExplanationTarget> ExplanationTargets(SequencePrediction prediction, string? targetLabel)
    {
        int[] ids = targetLabel is not null ? [TargetId(labels, targetLabel)]
            : prediction.PredictedLabels!.Length > 0 ? prediction.PredictedLabels
            : [Array.IndexOf(prediction.Outputs, prediction.Outputs.Max())];
        return ids.Select(j => new ExplanationTarget(labels[j], logits => logits.select(1, j).sigmoid())).ToList();
    }

    public override SplitResult Details(SplitResult result, SequenceEvaluation evaluation, IReadOnlyList<TextExample> examples) =>
        result with { PerClass = ((MultiLabelMetrics)evaluation.Accumulator).PerLabel() };
}
