namespace FineTune.Onnx;

/// <summary>One prediction of an exported sequence model.</summary>
/// <param name="Label">Single-label: the most probable label.</param>
/// <param name="Labels">Multi-label: the labels at or above the threshold.</param>
/// <param name="Probabilities">Per label: softmax (single-label) or sigmoid (multi-label) probability.</param>
/// <param name="Value">Regression: the predicted number.</param>
public sealed record TextPrediction(string? Label, IReadOnlyList<string>? Labels, IReadOnlyDictionary<string, float>? Probabilities, float? Value)
{
    /// <summary>The probability of the predicted label (single-label), or null.</summary>
    public float? Confidence => Label is not null && Probabilities is not null ? Probabilities[Label] : null;
}

/// <summary>
/// An exported sequence model (classification, multi-label or regression) run with ONNX Runtime: texts or text pairs
/// in, labels with probabilities or values out, as FineTune's TextClassifier gives them on the model folder.
/// </summary>
public sealed class TextClassifier : IDisposable
{
    private readonly ExportedModel _model;
    private readonly IReadOnlyList<string>? _labels;
    private double _threshold;
    private readonly double _temperature;   // fitted by calibration (ClassificationOptions.Calibrate); 1: none

    private TextClassifier(ExportedModel model)
    {
        _model = model;
        _labels = model.Task == "regression" ? null : model.Labels()
            ?? throw new ModelLoadException("has no id2label: a classifier needs its labels", Path.Combine(model.Folder, "config.json"), "id2label");
        _threshold = ExportedModel.Real(model.Metadata["threshold"]) ?? 0.5;
        _temperature = ExportedModel.Real(model.Metadata["temperature"]) is double t and > 0 ? t : 1;
    }

    /// <summary>Opens an export folder of a classification, multi-label or regression model.</summary>
    public static TextClassifier Load(string exportFolder, OnnxPredictorOptions? options = null) =>
        new(ExportedModel.Open(exportFolder, options ?? new OnnxPredictorOptions(), "classification", "multi-label", "regression"));

    /// <summary>classification, multi-label or regression.</summary>
    public string Task => _model.Task;

    /// <summary>The labels in id order, or null (regression).</summary>
    public IReadOnlyList<string>? Labels => _labels;

    /// <summary>Tokens per input; longer inputs are truncated.</summary>
    public int MaxLength => _model.MaxLength;

    /// <summary>Multi-label: the probability from which a label is predicted (by default the one the model was trained with).</summary>
    public double Threshold
    {
        get => _threshold;
        set => _threshold = value is > 0 and < 1 ? value : throw new OptionException("MultiLabelOptions.Threshold", $"must be in (0, 1), got {value}");
    }

    public TextPrediction Predict(string text, string? pair = null) => Predict([(text, pair)])[0];

    /// <summary>Predicts many inputs in batches of similar length; results are in input order.</summary>
    public IReadOnlyList<TextPrediction> Predict(IReadOnlyList<(string Text, string? Pair)> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var encodings = _model.Tokenizer.EncodeBatch(inputs, Text.EncodeOptions.Truncate(_model.MaxLength));
        var results = new TextPrediction[inputs.Count];
        _model.Run(encodings.Select(e => (e.Ids, e.TypeIds)).ToList(), (indices, _, outputs) =>
        {
            var logits = outputs["logits"];
            int width = logits.Length / indices.Length;
            for (int r = 0; r < indices.Length; r++)
                results[indices[r]] = Read(logits.AsSpan(r * width, width));
        });
        return results;
    }

    private TextPrediction Read(ReadOnlySpan<float> logits)
    {
        if (_labels is null) return new TextPrediction(null, null, null, logits[0]);
        if (Task == "multi-label")
        {
            var (p, chosen) = Tasks.SequenceScores.Sigmoid(logits, _threshold);
            return new TextPrediction(null, chosen.Select(i => _labels[i]).ToList(), Probabilities(p), null);
        }
        var (q, best) = Tasks.SequenceScores.Softmax(logits, _temperature);
        return new TextPrediction(_labels[best], null, Probabilities(q), null);
    }

    private Dictionary<string, float> Probabilities(float[] p) => Enumerable.Range(0, _labels!.Count).ToDictionary(i => _labels[i], i => p[i]);

    public void Dispose() => _model.Dispose();
}
