using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Text;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Inference;

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
    private readonly TaskModel _model;
    private readonly Device _device;
    private readonly Func<IDisposable?>? _precision;

    private TextClassifier(TaskModel model, BertTokenizer tokenizer, LabelMap? labels, TaskKind task, Device device, Func<IDisposable?>? precision)
    {
        _model = model;
        Tokenizer = tokenizer;
        Labels = labels;
        Task = task;
        _device = device;
        _precision = precision;
    }

    public TaskKind Task { get; }
    public LabelMap? Labels { get; }
    public BertTokenizer Tokenizer { get; }
    public BertConfig Config => _model.Config;

    /// <summary>Tokens per input; longer inputs are truncated. Defaults to 512 or the model's limit.</summary>
    public int MaxLength { get; set; } = 512;
    public int BatchSize { get; set; } = 64;
    /// <summary>Multi-label: the probability from which a label is predicted.</summary>
    public double Threshold { get; set; } = 0.5;

    /// <summary>Loads a model folder written by `finetune train` (or any HF sequence-classification folder).</summary>
    public static TextClassifier Load(string modelFolder, string device = "cpu", Precision precision = Precision.Fp32, ModelLoadOptions? options = null)
    {
        var folder = ModelCatalog.Resolve(modelFolder);
        var configPath = Path.Combine(folder, "config.json");
        var config = BertConfig.Load(configPath);
        var task = ModelTask.Detect(folder) ?? throw new ModelLoadException(
            $"is an encoder without a task head ({config.Architectures?.FirstOrDefault() ?? "no architectures"}): fine-tune it with `finetune train`, or use `finetune embed` for sentence embeddings",
            configPath, "architectures");
        if (task is not (TaskKind.SingleLabelClassification or TaskKind.MultiLabelClassification or TaskKind.Regression))
            throw new ModelLoadException($"is a {FineTuner.TaskName(task)} model; this API predicts sequence classification and regression", configPath, "architectures");
        var dev = TorchRuntime.ParseDevice(device);
        var model = ModelTask.LoadForPrediction(folder, task, dev, options);
        var tokenizer = BertTokenizer.FromFolder(folder);
        var labels = config.Id2Label is null || task == TaskKind.Regression ? null : LabelMap.FromId2Label(config.Id2Label);
        var metadata = FineTuneMetadata.Load(folder);
        return new TextClassifier(model, tokenizer, labels, task, dev, PrecisionScopes.For(precision, dev))
        {
            // The length the model was trained with, else the model's limit.
            MaxLength = metadata?.MaxLength is > 0 and var trained ? trained : Math.Min(tokenizer.ModelMaxLength ?? 512, config.MaxPositionEmbeddings),
            Threshold = metadata?.Threshold ?? 0.5,
        };
    }

    public TextPrediction Predict(string text, string? pair = null) => Predict([(text, pair)])[0];

    /// <summary>Predicts many inputs in batches of similar length; results are in input order.</summary>
    public IReadOnlyList<TextPrediction> Predict(IReadOnlyList<(string Text, string? Pair)> inputs)
    {
        var examples = inputs.Select((x, i) => new TextExample(x.Text, x.Pair, null, "input", i + 1)).ToList();
        var (features, _) = FeatureBuilder.ForSequences(examples, Tokenizer, MaxLength);
        var raw = RunModel(features);
        return raw.Select(ToPrediction).ToList();
    }

    private TextPrediction ToPrediction(float[] outputs)
    {
        switch (Task)
        {
            case TaskKind.Regression:
                return new TextPrediction(null, null, null, outputs[0]);
            case TaskKind.MultiLabelClassification:
            {
                var p = outputs.Select(v => 1f / (1f + MathF.Exp(-v))).ToArray();
                var chosen = Enumerable.Range(0, p.Length).Where(i => p[i] >= Threshold).Select(i => Labels![i]).ToList();
                return new TextPrediction(null, chosen, Enumerable.Range(0, p.Length).ToDictionary(i => Labels![i], i => p[i]), null);
            }
            default:
            {
                float max = outputs.Max();
                var e = outputs.Select(v => MathF.Exp(v - max)).ToArray();
                float sum = e.Sum();
                int best = Array.IndexOf(outputs, max);
                return new TextPrediction(Labels![best], null, Enumerable.Range(0, e.Length).ToDictionary(i => Labels![i], i => e[i] / sum), null);
            }
        }
    }

    private float[][] RunModel(IReadOnlyList<Feature> features)
    {
        var results = new float[features.Count][];
        BatchedForward.Run(_model, features, BatchSize, Tokenizer.PaddingTokenId, _device, _precision, (indices, logits) =>
        {
            var flat = logits.data<float>().ToArray();
            int width = flat.Length / indices.Length;
            for (int r = 0; r < indices.Length; r++)
                results[indices[r]] = flat.AsSpan(r * width, width).ToArray();
        });
        return results;
    }

    /// <summary>
    /// Evaluates on a labelled file: the model's labels are the label map (a label it does not know is an error naming
    /// the row). Returns the metrics and each example's prediction.
    /// </summary>
    public (EvaluationResult Result, IReadOnlyList<TextExample> Examples, int Truncated, SkippedRows Skipped) Evaluate(string file, ColumnMapping columns,
        DataFileOptions? fileOptions = null, string labelSeparator = ",", bool skipInvalidRows = false)
    {
        var options = new DatasetOptions
        {
            Task = Task,
            Columns = columns,
            DataFile = fileOptions ?? new DataFileOptions(),
            LabelSeparator = labelSeparator,
            Labels = Labels,
            SkipInvalidRows = skipInvalidRows,
        };
        var (examples, skipped) = DatasetLoader.ReadExamples(file, options, Labels);
        if (examples.Count == 0) throw new DataException("no examples to evaluate", file);
        var (features, truncated) = FeatureBuilder.ForSequences(examples, Tokenizer, MaxLength);
        var evaluator = new SequenceEvaluator(Task, Labels, BatchSize, Tokenizer.PaddingTokenId, Threshold, _precision);
        return (evaluator.Evaluate(_model, features, _device, keepPredictions: true), examples, truncated, skipped);
    }

    public void Dispose() => _model.Dispose();
}
