using System.ComponentModel;
using System.Globalization;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Reports;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>How classes are weighted in the cross-entropy: not at all, by inverse frequency ("auto"), or by a list in label order.</summary>
public sealed record ClassWeights
{
    private ClassWeights(string kind, IReadOnlyList<float>? weights)
    {
        Kind = kind;
        Weights = weights;
    }

    /// <summary>none, auto or explicit.</summary>
    public string Kind { get; }

    /// <summary>The weights in label order (explicit only).</summary>
    public IReadOnlyList<float>? Weights { get; }

    public static ClassWeights None { get; } = new("none", null);

    /// <summary>scikit-learn's "balanced" weights: n / (classes × count of the class), from the training data.</summary>
    public static ClassWeights Auto { get; } = new("auto", null);

    public static ClassWeights Of(IReadOnlyList<float> weights) => new("explicit", weights.ToArray());

    /// <summary>"none", "auto" (or "balanced"), or numbers in label order like "1,2.5".</summary>
    public static ClassWeights Parse(string value)
    {
        switch (value.Trim().ToLowerInvariant())
        {
            case "none": return None;
            case "auto" or "balanced": return Auto;
        }
        var weights = new List<float>();
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries))
            weights.Add(float.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var w)
                ? w
                : throw new FormatException($"expected none, auto or numbers like 1,2.5; '{part}' is not a number"));
        return Of(weights);
    }

    public override string ToString() => Weights is null ? Kind : string.Join(",", Weights.Select(w => w.ToString(CultureInfo.InvariantCulture)));
}

/// <summary>Options of single-label classification.</summary>
public sealed record ClassificationOptions : TaskOptions
{
    [Description("Weights of the classes in the cross-entropy: none, auto (inverse class frequency) or a comma-separated list in label order.")]
    public ClassWeights ClassWeights { get; init; } = ClassWeights.None;

    [Description("Label smoothing of the cross-entropy (0 to 1).")]
    public double LabelSmoothing { get; init; }

    [Description("After training, fit temperature scaling on the validation set (needs validation data); the temperature is saved with the model, and evaluate and predict apply it.")]
    public bool Calibrate { get; init; }

    public override void Validate()
    {
        Check(LabelSmoothing is >= 0 and < 1, nameof(LabelSmoothing), $"must be in [0, 1), got {LabelSmoothing}");
        Check(ClassWeights.Weights is null || ClassWeights.Weights.Count > 0, nameof(ClassWeights), "needs a list of weights");
        Check(ClassWeights.Weights is null || ClassWeights.Weights.All(w => w > 0 && float.IsFinite(w)), nameof(ClassWeights), "weights must be positive numbers");
    }
}

/// <summary>
/// Single-label classification of a text or a text pair: one label per row, cross-entropy (optionally class-weighted
/// and label-smoothed), accuracy, precision, recall and F1 (macro, micro, weighted), MCC, per-class scores and the
/// confusion matrix; the best model by accuracy.
/// </summary>
internal sealed class ClassificationTask() : SequenceTask<ClassificationOptions>(
    "classification", "Text classification",
    "a text (or a pair) and a label; cross-entropy; accuracy, precision/recall/F1, MCC", "single-label")
{
    public override TaskOptions DefaultOptions { get; } = new ClassificationOptions();
    public override string DefaultMetricForBest => MetricNames.Accuracy;
    public override LabelKind LabelKind => LabelKind.Class;
    public override string ProblemType => "single_label_classification";

    public override SequenceReadout Readout(LabelMap? labels, double threshold, double temperature = 1) =>
        new ClassReadout(labels ?? throw new ArgumentNullException(nameof(labels)), temperature);

    protected override bool Calibrates(ClassificationOptions options) => options.Calibrate;

    public override Tensor LabelTensor(IReadOnlyList<LabelTarget> targets, Device device) => SequenceFeatures.ClassIds(targets, device);

    protected override ILossFunction Loss(ClassificationOptions options, TextDataset dataset)
    {
        var labels = dataset.Labels!;
        float[]? weights = options.ClassWeights.Kind switch
        {
            "auto" => BalancedWeights(dataset.Train, labels.Count),
            "explicit" => options.ClassWeights.Weights!.Count == labels.Count
                ? options.ClassWeights.Weights.ToArray()
                : throw new OptionException("ClassificationOptions.ClassWeights", $"{options.ClassWeights.Weights.Count} weights given for {labels.Count} labels ({labels.Describe()})"),
            _ => null,
        };
        return new CrossEntropyLoss(weights, options.LabelSmoothing);
    }

    /// <summary>scikit-learn's "balanced" weights: n / (classes × count of the class); absent classes get 1.</summary>
    internal static float[] BalancedWeights(IReadOnlyList<TextExample> train, int classes)
    {
        var counts = new int[classes];
        foreach (var e in train) counts[e.ClassId]++;
        return counts.Select(c => c == 0 ? 1f : (float)train.Count / (classes * c)).ToArray();
    }
}

/// <summary>Softmax over the classes (of the logits divided by the model's temperature, 1 unless calibrated); the arg-max is the prediction.</summary>
internal sealed class ClassReadout(LabelMap labels, double temperature = 1) : SequenceReadout
{
    public override LabelMap Labels => labels;
    public override IMetricAccumulator NewAccumulator() => new ClassificationMetrics(labels, temperature);
    public override string PredictionHeader => "predicted";
    public override string PredictedValueHeader => "label";

    public override SequencePrediction Predict(ReadOnlySpan<float> logits, int exampleIndex)
    {
        var (p, best) = SequenceScores.Softmax(logits, temperature);
        return new SequencePrediction(exampleIndex, p, best, null);
    }

    public override TextPrediction ToTextPrediction(SequencePrediction prediction) =>
        new(labels[prediction.PredictedClass!.Value], null, Enumerable.Range(0, labels.Count).ToDictionary(i => labels[i], i => prediction.Outputs[i]), null);

    public override string PredictionCell(SequencePrediction prediction) => labels[prediction.PredictedClass!.Value];

    public override PredictionError? Error(TextExample e, SequencePrediction p) =>
        p.PredictedClass == e.ClassId
            ? null
            : new PredictionError(e.SourceRow, e.Text, e.TextPair, labels[e.ClassId], labels[p.PredictedClass!.Value], p.Outputs[p.PredictedClass.Value]);

    public override IReadOnlyList<ClassReport>? PerClass(IMetricAccumulator accumulator) => ((ClassificationMetrics)accumulator).PerClass();

    /// <summary>The probability of the predicted class, or of the asked-for one.</summary>
    public override IReadOnlyList<ExplanationTarget> ExplanationTargets(SequencePrediction prediction, string? targetLabel)
    {
        int c = targetLabel is null ? prediction.PredictedClass!.Value : TargetId(labels, targetLabel);
        return [new ExplanationTarget(labels[c], logits => (logits / temperature).softmax(-1).select(1, c))];
    }

    public override SplitResult Details(SplitResult result, SequenceEvaluation evaluation, IReadOnlyList<TextExample> examples)
    {
        var metrics = (ClassificationMetrics)evaluation.Accumulator;
        var m = metrics.ConfusionMatrix();
        var matrix = Enumerable.Range(0, m.ClassCount).Select(a => Enumerable.Range(0, m.ClassCount).Select(p => m[a, p]).ToArray()).ToArray();
        return result with { ConfusionMatrix = matrix, PerClass = metrics.PerClass(), Calibration = CalibrationReport.Of(metrics) };
    }
}
