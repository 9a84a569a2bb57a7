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
        var config = BertConfig.Load(Path.Combine(folder, "config.json"));
        var task = TaskOf(config, Path.Combine(folder, "config.json"));
        if (task == TaskKind.Similarity)
            throw new ModelLoadException(
                $"is an encoder without a task head ({config.Architectures?.FirstOrDefault() ?? "no architectures"}): fine-tune it with `finetune train`, or use `finetune embed` for sentence embeddings",
                Path.Combine(folder, "config.json"), "architectures");
        if (task is not (TaskKind.SingleLabelClassification or TaskKind.MultiLabelClassification or TaskKind.Regression))
            throw new ModelLoadException($"is a {FineTuner.TaskName(task)} model; this API predicts sequence classification and regression", Path.Combine(folder, "config.json"), "architectures");
        var (model, report) = ModelFolder.LoadTaskModel(folder, task, null, options);
        if (report.NewlyInitialized.Count > 0)
        {
            model.Dispose();
            throw new ModelLoadException(
                $"has no trained head ({string.Join(", ", report.NewlyInitialized)} missing): it is a pretrained encoder, not a fine-tuned model. Fine-tune it with `finetune train` first",
                folder);
        }
        var dev = TorchRuntime.ParseDevice(device);
        model.to(dev);
        model.eval();
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

    /// <summary>The task of a saved model: from "architectures" and "problem_type" as Hugging Face reads them.</summary>
    public static TaskKind TaskOf(BertConfig config, string source)
    {
        var architecture = config.Architectures?.FirstOrDefault() ?? "";
        if (architecture.EndsWith("ForTokenClassification", StringComparison.Ordinal)) return TaskKind.TokenClassification;
        if (architecture.EndsWith("ForQuestionAnswering", StringComparison.Ordinal)) return TaskKind.QuestionAnswering;
        if (architecture.EndsWith("ForSequenceClassification", StringComparison.Ordinal))
            return config.ProblemType switch
            {
                "multi_label_classification" => TaskKind.MultiLabelClassification,
                "regression" => TaskKind.Regression,
                "single_label_classification" => TaskKind.SingleLabelClassification,
                _ => config.NumLabels == 1 ? TaskKind.Regression : TaskKind.SingleLabelClassification,
            };
        if (architecture.EndsWith("Model", StringComparison.Ordinal) || architecture.Length == 0) return TaskKind.Similarity;
        throw new ModelLoadException($"unknown architecture '{architecture}'", source, "architectures");
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
        var order = Enumerable.Range(0, features.Count).OrderByDescending(i => features[i].Length).ToArray();
        using var _ = inference_mode();
        for (int start = 0; start < order.Length; start += BatchSize)
        {
            using var scope = NewDisposeScope();
            var indices = order.AsSpan(start, Math.Min(BatchSize, order.Length - start)).ToArray();
            var input = Collator.Collate(indices.Select(i => features[i]).ToList(), Task, Tokenizer.PaddingTokenId, _device, withLabels: false);
            Tensor logits;
            using (_precision?.Invoke())
                logits = _model.call(input).Logits;
            var flat = logits.to(ScalarType.Float32).cpu().data<float>().ToArray();
            int width = flat.Length / indices.Length;
            for (int r = 0; r < indices.Length; r++)
                results[indices[r]] = flat.AsSpan(r * width, width).ToArray();
        }
        return results;
    }

    /// <summary>
    /// Evaluates on a labelled file: the model's labels are the label map (a label it does not know is an error naming
    /// the row). Returns the metrics and each example's prediction.
    /// </summary>
    public (EvaluationResult Result, IReadOnlyList<TextExample> Examples, int Truncated) Evaluate(string file, ColumnMapping columns,
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
        var examples = DatasetLoader.ReadExamples(file, options, Labels).Examples;
        if (examples.Count == 0) throw new DataException("no examples to evaluate", file);
        var (features, truncated) = FeatureBuilder.ForSequences(examples, Tokenizer, MaxLength);
        var evaluator = new SequenceEvaluator(Task, Labels, BatchSize, Tokenizer.PaddingTokenId, Threshold, _precision);
        return (evaluator.Evaluate(_model, features, _device, keepPredictions: true), examples, truncated);
    }

    public void Dispose() => _model.Dispose();
}
