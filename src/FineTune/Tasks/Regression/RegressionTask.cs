using System.ComponentModel;
using System.Globalization;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Reports;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>Options of regression.</summary>
public sealed record RegressionOptions : TaskOptions
{
    [Description("The loss: mse, mae or huber.")]
    public RegressionLossKind RegressionLoss { get; init; } = RegressionLossKind.Mse;
}

/// <summary>
/// Regression: one number per text (or pair), MSE, MAE or Huber loss, MSE, MAE, RMSE, R², Pearson and Spearman; the
/// best model by Pearson; the report plots predicted against actual values.
/// </summary>
internal sealed class RegressionTask() : SequenceTask<RegressionOptions>(
    "regression", "Regression",
    "a number per text (or pair); MSE, MAE or Huber; MSE, MAE, RMSE, R², Pearson, Spearman")
{
    public override TaskOptions DefaultOptions { get; } = new RegressionOptions();
    public override string DefaultMetricForBest => MetricNames.Pearson;
    public override LabelKind LabelKind => LabelKind.Number;
    public override string ProblemType => "regression";
    public override long Outputs(EncoderConfig config) => 1;
    public override LabelMap? SavedLabels(EncoderConfig config) => null;
    protected override string ErrorsBy => "error";

    public override SequenceReadout Readout(LabelMap? labels, double threshold, double temperature = 1) => new ValueReadout("prediction", scoreScale: 1);

    public override Tensor LabelTensor(IReadOnlyList<LabelTarget> targets, Device device) => SequenceFeatures.Values(targets, device);

    protected override ILossFunction Loss(RegressionOptions options, TextDataset dataset) => new RegressionLoss(options.RegressionLoss);

    public override ILossFunction EvaluationLoss => new RegressionLoss(new RegressionOptions().RegressionLoss);
}

/// <summary>
/// One value per example (a regression output, or a similarity's cosine). Targets are divided by
/// <paramref name="scoreScale"/> to compare with it (similarity scores on another scale); errors are ordered by how
/// far off the value is.
/// </summary>
internal sealed class ValueReadout(string header, double scoreScale) : SequenceReadout
{
    public override LabelMap? Labels => null;
    public override IMetricAccumulator NewAccumulator() => new RegressionMetrics();
    public override string PredictionHeader => header;
    public override string PredictedValueHeader => "value";

    public override SequencePrediction Predict(ReadOnlySpan<float> outputs, int exampleIndex) => new(exampleIndex, [outputs[0]], null, null);

    public override TextPrediction ToTextPrediction(SequencePrediction prediction) => new(null, null, null, prediction.Outputs[0]);

    public override string PredictionCell(SequencePrediction prediction) => prediction.Outputs[0].ToString("R", CultureInfo.InvariantCulture);

    public override PredictionError? Error(TextExample e, SequencePrediction p)
    {
        if (e.Label is not RegressionTarget r) return null;
        double target = r.Value / scoreScale;
        return new PredictionError(e.SourceRow, e.Text, e.TextPair, target.ToString("0.###", CultureInfo.InvariantCulture),
            p.Outputs[0].ToString("0.###", CultureInfo.InvariantCulture), Math.Abs(p.Outputs[0] - target));
    }

    public override SplitResult Details(SplitResult result, SequenceEvaluation evaluation, IReadOnlyList<TextExample> examples) =>
        result with { PredictedVsActual = ValuesOf(evaluation.Predictions!, examples) };

    /// <summary>The predicted value; a value has no labels to ask for.</summary>
    public override IReadOnlyList<ExplanationTarget> ExplanationTargets(SequencePrediction prediction, string? targetLabel) =>
        targetLabel is null
            ? [new ExplanationTarget("value", logits => logits.select(1, 0))]
            : throw new OptionException("ExplainRequest.TargetLabel", $"the model predicts a value and has no labels; explain it without a target label (got '{targetLabel}')");

    /// <summary>Each example's actual and predicted value, in example order; an evenly spaced sample of a large split.</summary>
    private RegressionValues ValuesOf(IReadOnlyList<SequencePrediction> predictions, IReadOnlyList<TextExample> examples)
    {
        var ordered = predictions.Where(p => examples[p.ExampleIndex].Label is RegressionTarget).OrderBy(p => p.ExampleIndex).ToList();
        int count = Math.Min(ordered.Count, RegressionValues.MaxCount);
        var chosen = Enumerable.Range(0, count).Select(i => ordered[(int)((long)i * ordered.Count / count)]).ToList();
        return new RegressionValues(
            chosen.Select(p => (float)(((RegressionTarget)examples[p.ExampleIndex].Label!).Value / scoreScale)).ToArray(),
            chosen.Select(p => p.Outputs[0]).ToArray());
    }
}
