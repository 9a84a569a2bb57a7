using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>One prediction of a fine-tuned sequence model.</summary>
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
/// A fine-tuned sequence model (single-label, multi-label or regression) loaded from its Hugging Face folder, ready to
/// predict texts or text pairs in batches, or to be evaluated on a labelled file.
/// </summary>
public sealed class TextClassifier : IDisposable
{
    private readonly IForwardModel _model;
    private readonly SequenceTaskBase _task;
    private readonly Device _device;
    private readonly Func<IDisposable?>? _precision;
    private SequenceReadout _readout;
    private double _threshold;

    private TextClassifier(SequenceTaskBase task, IForwardModel model, ITokenizer tokenizer, LabelMap? labels, Device device, Func<IDisposable?>? precision,
        double threshold, double temperature)
    {
        _task = task;
        _model = model;
        Tokenizer = tokenizer;
        Labels = labels;
        _device = device;
        _precision = precision;
        _threshold = threshold;
        Temperature = temperature;
        _readout = task.Readout(labels, threshold, temperature);
    }

    /// <summary>The task the model was fine-tuned for: classification, multi-label or regression.</summary>
    public string Task => _task.Name;
    public LabelMap? Labels { get; }
    public ITokenizer Tokenizer { get; }
    public EncoderConfig Config => _model.Config;

    /// <summary>Tokens per input; longer inputs are truncated. Defaults to the length the model was trained with, or the model's limit.</summary>
    public int MaxLength { get; set; } = 512;
    public int BatchSize { get; set; } = 64;

    /// <summary>Multi-label: the probability from which a label is predicted (by default the one the model was trained with).</summary>
    public double Threshold
    {
        get => _threshold;
        set
        {
            if (value is not (> 0 and < 1)) throw new OptionException("MultiLabelOptions.Threshold", $"must be in (0, 1), got {value}");
            _threshold = value;
            _readout = _task.Readout(Labels, value, Temperature);
        }
    }

    /// <summary>
    /// What the logits are divided by before the softmax: the temperature fitted on validation data when the model was
    /// trained with calibration (its finetune.json), else 1. Probabilities and confidences use it; the predicted
    /// class does not change with it.
    /// </summary>
    public double Temperature { get; }

    internal SequenceReadout Readout => _readout;

    /// <summary>
    /// Loads a model folder written by `finetune train` (or any Hugging Face sequence-classification folder), or an export
    /// folder (finetune export) run by ONNX Runtime, fp32 or, with <see cref="Precision.Int8"/>, int8.
    /// </summary>
    /// <param name="modelFolder">The model or export folder.</param>
    /// <param name="device">cpu, cuda or cuda:N (an export folder: cpu).</param>
    /// <param name="precision">fp32, bf16 autocast, or int8 (an export folder's quantized model).</param>
    /// <param name="options">How weight files may be read.</param>
    /// <param name="threads">CPU threads (null: one per processor).</param>
    public static TextClassifier Load(string modelFolder, string device = "cpu", Precision precision = Precision.Fp32, ModelLoadOptions? options = null, int? threads = null)
    {
        var folder = ModelCatalog.Resolve(modelFolder);
        var task = TaskRegistry.DetectOrThrow(folder);
        if (task is not SequenceTaskBase sequence)
            throw new ModelLoadException($"is a {task.Name} model; this API predicts sequence classification and regression",
                Path.Combine(folder, "config.json"), "architectures");
        return Load(sequence, new SavedModelRequest { Model = folder, Device = device, Precision = precision, Load = options ?? new(), Threads = threads });
    }

    internal static TextClassifier Load(SequenceTaskBase task, SavedModelRequest context)
    {
        var folder = ModelCatalog.Resolve(context.Model);
        var device = TorchRuntime.ParseDevice(context.Device);
        TorchRuntime.SetThreads(context.Threads);
        if (context.BatchSize < 1) throw new OptionException("PredictorOptions.BatchSize", $"must be at least 1, got {context.BatchSize}");
        var tokenizer = Tokenizers.FromFolder(folder);
        var model = task.OpenForPrediction(folder, device, context.Load, context.Precision, context.Threads);
        var labels = task.SavedLabels(model.Config);
        var metadata = FineTuneMetadata.Load(folder);
        int maxLength = context.MaxLength ?? (metadata?.MaxLength is > 0 and var trained
            ? trained
            : PredictionModels.MaxLength(model.Config, tokenizer.ModelMaxLength ?? 512));
        if (maxLength < 3)
        {
            model.Dispose();
            throw new OptionException("PredictorOptions.MaxLength", $"must be at least 3, got {maxLength}");
        }
        return new TextClassifier(task, model, tokenizer, labels, device, PrecisionScopes.For(context.Precision, device),
            task.SavedThreshold(metadata, context.TaskOptions), SequenceTaskBase.SavedTemperature(metadata))
        {
            MaxLength = maxLength,
            BatchSize = context.BatchSize,
        };
    }

    public TextPrediction Predict(string text, string? pair = null) => Predict([(text, pair)])[0];

    /// <summary>Predicts many inputs in batches of similar length; results are in input order.</summary>
    public IReadOnlyList<TextPrediction> Predict(IReadOnlyList<(string Text, string? Pair)> inputs)
    {
        var examples = inputs.Select((x, i) => new TextExample(x.Text, x.Pair, null, "input", i + 1)).ToList();
        var (features, _) = SequenceFeatures.Build(examples, Tokenizer, MaxLength);
        var results = new TextPrediction[features.Count];
        BatchedForward.Run(_model, features, BatchSize, Tokenizer.PaddingTokenId, _device, _precision, (indices, logits) =>
        {
            var flat = logits.data<float>().ToArray();
            int width = flat.Length / indices.Length;
            for (int r = 0; r < indices.Length; r++)
                results[indices[r]] = _readout.ToTextPrediction(_readout.Predict(flat.AsSpan(r * width, width), indices[r]));
        });
        return results;
    }

    /// <summary>
    /// Evaluates on a labelled file read with <paramref name="options"/> (its columns, format, label separator, whether
    /// to skip invalid rows): the model's labels are the label map (a label it does not know is an error naming the
    /// row). Returns the metrics, each example's prediction, how many were truncated and which rows were skipped.
    /// </summary>
    public (IReadOnlyDictionary<string, double> Metrics, IReadOnlyList<SequencePrediction> Predictions, IReadOnlyList<TextExample> Examples, int Truncated, SkippedRows Skipped)
        Evaluate(string file, DatasetOptions options)
    {
        var (evaluation, examples, truncated, skipped) = EvaluateFile(file, options);
        return (evaluation.Metrics, evaluation.Predictions!, examples, truncated, skipped);
    }

    internal (SequenceEvaluation Evaluation, IReadOnlyList<TextExample> Examples, int Truncated, SkippedRows Skipped) EvaluateFile(string file, DatasetOptions options)
    {
        var (examples, skipped) = DatasetLoader.ReadExamples(file, options with { Labels = Labels }, _task.LabelKind, Labels);
        if (examples.Count == 0) throw new DataException("no examples to evaluate", file);
        var (features, truncated) = SequenceFeatures.Build(examples, Tokenizer, MaxLength);
        var evaluator = new SequenceEvaluator<SequenceFeature>(_readout,
            (batch, device) => SequenceFeatures.Collate(batch, Tokenizer.PaddingTokenId, device, _task.LabelTensor),
            f => f.Length, f => f.Label, BatchSize, _precision);
        var slices = SequenceSlices.For<SequenceFeature>(options, _task.DefaultMetricForBest, examples);
        return (evaluator.Evaluate(_model, features, _device, keepPredictions: true, slices), examples, truncated, skipped);
    }

    /// <summary>
    /// Explains the prediction for each of <paramref name="rows"/> (truncated to <see cref="MaxLength"/>): the predicted
    /// class, each predicted label, or the value, or the asked-for label's output; see <see cref="TaskExplanations"/>.
    /// </summary>
    internal ExplanationOutcome Explain(SavedModelRequest request, ExplanationInput input, IReadOnlyList<TextInput> rows)
    {
        var options = EncodeOptions.Truncate(MaxLength);
        var inputs = rows.Select(r => new ExplainedInput(r.SourceRow, r.Text, r.Pair, Tokenizer.Encode(r.Text, r.Pair, options), logits =>
        {
            var prediction = _readout.Predict(logits.data<float>().ToArray(), 0);
            return (_readout.PredictionCell(prediction), _readout.ExplanationTargets(prediction, input.TargetLabel));
        }));
        return TaskExplanations.Run(request, input, _task.Title, ExportedTaskModel.Differentiable(_model), Tokenizer.PaddingTokenId, _device, inputs);
    }

    public void Dispose() => _model.Dispose();
}
