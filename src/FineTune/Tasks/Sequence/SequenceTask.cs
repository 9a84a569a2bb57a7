using System.Globalization;
using FineTune.Analysis;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Export;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;
using FineTune.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// What the tasks over whole texts with a label column share (classification, multi-label, regression): rows of a
/// CSV, TSV, JSONL or Parquet file with a text (or a pair of texts) and a label cell, one model input per row, the
/// family's sequence-classification head, and the <see cref="TextClassifier"/> predictor. A task says what its label
/// cell holds, its head's problem_type and outputs, its loss, and how it reads its outputs.
/// </summary>
internal abstract class SequenceTaskBase(string name, string title, string description, params string[] aliases)
    : FineTuneTask(name, title, description, aliases)
{
    /// <summary>What the label cell holds.</summary>
    public abstract LabelKind LabelKind { get; }

    /// <summary>Hugging Face's problem_type of the head (config.json).</summary>
    public abstract string ProblemType { get; }

    /// <summary>The outputs of the head for a config whose id2label is the task's labels.</summary>
    public virtual long Outputs(EncoderConfig config) => config.NumLabels;

    /// <summary>
    /// How the task reads its head's outputs, for a model with <paramref name="labels"/> (and a multi-label threshold,
    /// and a classifier's temperature: what its logits are divided by before the softmax).
    /// </summary>
    public abstract SequenceReadout Readout(LabelMap? labels, double threshold, double temperature = 1);

    /// <summary>The labels of a saved model of the task (from its config), or null when it predicts a value.</summary>
    public virtual LabelMap? SavedLabels(EncoderConfig config) => config.Id2Label is null ? null : LabelMap.FromId2Label(config.Id2Label);

    /// <summary>The threshold a saved model predicts labels with (multi-label; <paramref name="metadata"/> holds the trained one).</summary>
    public virtual double SavedThreshold(FineTuneMetadata? metadata, TaskOptions? options) => 0.5;

    /// <summary>finetune.json's key of a temperature fitted after training (see <see cref="ClassificationOptions.Calibrate"/>).</summary>
    public const string TemperatureKey = "temperature";

    /// <summary>The temperature a saved model's logits are divided by before its softmax: the one fitted after training, else 1.</summary>
    public static double SavedTemperature(FineTuneMetadata? metadata) => metadata?.Number(TemperatureKey) is double t and > 0 ? t : 1;

    /// <summary>The label tensor of a batch of targets.</summary>
    public abstract Tensor LabelTensor(IReadOnlyList<LabelTarget> targets, Device device);

    /// <summary>*ForSequenceClassification whose problem_type (or, without one, Hugging Face's rule on the number of labels) is the task's.</summary>
    public override bool Recognizes(EncoderConfig config) =>
        config.Architectures?.Any(a => a.EndsWith("ForSequenceClassification", StringComparison.Ordinal)) == true
        && (config.ProblemType ?? (config.NumLabels == 1 ? "regression" : "single_label_classification")) == ProblemType;

    public override TaskModel CreateModel(EncoderConfig config, KernelOptions kernels) => TaskModels.SequenceClassifier(config, Outputs(config), kernels);

    public override HeadGraph ExportHead => HeadGraph.SequenceClassification;

    public override bool HasSlices => true;

    /// <summary>A dataset's splits as the data report reads them: each example's class, labels, or none for a value.</summary>
    internal AnalysisData AnalysisOf(TextDataset dataset)
    {
        IReadOnlyList<AnalysisExample> Of(IReadOnlyList<TextExample> examples) => examples.Select(e => new AnalysisExample(e.Text, e.TextPair, e.Label switch
        {
            ClassLabel c => [dataset.Labels![c.Id]],
            MultiLabelTargets m => m.PositiveIds().Select(i => dataset.Labels![i]).ToList(),
            _ => [],
        }, e.SourceFile, e.SourceRow)).ToList();
        return new AnalysisData(Name, [("train", Of(dataset.Train)), ("validation", Of(dataset.Validation)), ("test", Of(dataset.Test))],
            LabelKind == LabelKind.Number ? null : "label");
    }

    /// <summary>
    /// The head's config from a folder's: the labels and problem type (a folder without labels keeps its own, and gets
    /// the task's problem type), and what the head reads (<see cref="ModelFolder.ResolvePooling"/>) with the reason.
    /// </summary>
    public override (EncoderConfig Config, string? PoolingReason) HeadConfig(string folder, EncoderConfig config, IReadOnlyList<string>? labels, ModelLoadOptions load)
    {
        if (labels is not null)
            config = config.WithLabels(labels, ProblemType);
        else if (config.ProblemType is null)
            config = config with { ProblemType = ProblemType };
        var (pooling, reason) = ModelFolder.ResolvePooling(folder, config, load.ClassifierPooling);
        return (config with { ClassifierPooling = pooling }, reason);
    }

    public override EvaluationOutcome Evaluate(SavedModelRequest model, EvaluationInput input)
    {
        using var classifier = TextClassifier.Load(this, model);
        var (evaluation, examples, truncated, skipped) = classifier.EvaluateFile(input.DataFile, input.Dataset);
        model.Say($"{examples.Count} examples from {input.DataFile}{(truncated > 0 ? $" ({truncated} truncated to {classifier.MaxLength} tokens)" : "")}");
        EvaluationInput.SaySkipped(model, skipped, "rows");
        var files = input.WriteResults(evaluation.Metrics, evaluation.Slices,
            ("predictions.csv", path => SequencePredictionFiles.WriteEvaluated(path, examples, evaluation.Predictions!, classifier.Readout)));
        var details = classifier.Readout.PerClass(evaluation.Accumulator);
        return new EvaluationOutcome(evaluation.Metrics, evaluation.Metrics, details, details is null ? null : "per class", files);
    }

    public override PredictionOutcome Predict(SavedModelRequest model, PredictionInput input)
    {
        var rows = TextInputs.Read(input.InputFile, input.File, input.Columns.Text, input.Columns.TextPair);
        using var classifier = TextClassifier.Load(this, model);
        var predictions = classifier.Predict(rows.Select(r => (r.Text, r.Pair)).ToList());
        SequencePredictionFiles.WritePredicted(input.OutputFile, rows, predictions, classifier.Readout);
        var output = Path.GetFullPath(input.OutputFile);
        return new PredictionOutcome(rows.Count, output, $"Wrote {predictions.Count} predictions to {output}");
    }

    public override ExplanationOutcome Explain(SavedModelRequest model, ExplanationInput input)
    {
        TaskExplanations.Validate(input);
        var rows = TaskExplanations.Take(TextInputs.Read(input.InputFile, input.File, input.Columns.Text, input.Columns.TextPair), input);
        using var classifier = TextClassifier.Load(this, model);
        return classifier.Explain(model, input, rows);
    }
}

/// <summary>A sequence task with its options record <typeparamref name="TOptions"/>: the fine-tuning run.</summary>
internal abstract class SequenceTask<TOptions>(string name, string title, string description, params string[] aliases)
    : SequenceTaskBase(name, title, description, aliases) where TOptions : TaskOptions
{
    /// <summary>The loss of a run (class weights come from the training data).</summary>
    protected abstract ILossFunction Loss(TOptions options, TextDataset dataset);

    /// <summary>The threshold of a run's multi-label predictions (0.5 for the other tasks, which ignore it).</summary>
    protected virtual double Threshold(TOptions options) => 0.5;

    /// <summary>What orders the report's top errors.</summary>
    protected virtual string ErrorsBy => "confidence";

    public override AnalysisData ReadForAnalysis(DatasetFiles files, DatasetOptions dataset, TaskOptions? options)
    {
        OptionsFrom<TOptions>(options);
        return AnalysisOf(DatasetLoader.Load(files, dataset, LabelKind, Name));
    }

    /// <summary>Whether a run fits a temperature on its validation set after training (classification, when asked).</summary>
    protected virtual bool Calibrates(TOptions options) => false;

    public override TaskRun Prepare(RunContext run)
    {
        var options = OptionsFrom<TOptions>(run.TaskOptions);
        var dataset = DatasetLoader.Load(run.Files, run.Dataset, LabelKind, Name);
        if (Calibrates(options) && dataset.Validation.Count == 0)
            throw new OptionException("ClassificationOptions.Calibrate", "needs validation data to fit the temperature on: give a validation file or DatasetOptions.ValidationFraction");
        var truncated = new Dictionary<string, int>();
        var splits = new TaskSplits<TextExample, SequenceFeature>(dataset.Train, dataset.Validation, dataset.Test, (name, examples) =>
        {
            var (features, count) = SequenceFeatures.Build(examples, run.Tokenizer, run.MaxLength);
            truncated[name] = count;
            return features;
        });
        var slices = new Dictionary<string, SliceSpec<SequenceFeature>?>
        {
            ["validation"] = SequenceSlices.For<SequenceFeature>(run.Dataset, run.Training.MetricForBest ?? DefaultMetricForBest, splits["validation"].Examples),
            ["test"] = SequenceSlices.For<SequenceFeature>(run.Dataset, run.Training.MetricForBest ?? DefaultMetricForBest, splits["test"].Examples),
        };
        return new Run(this, run, options, dataset, Truncation.Report(run, dataset.Summary, truncated), splits, slices);
    }

    private sealed class Run(SequenceTask<TOptions> task, RunContext run, TOptions options, TextDataset dataset, DatasetSummary summary,
        TaskSplits<TextExample, SequenceFeature> splits, Dictionary<string, SliceSpec<SequenceFeature>?> slices) : TaskRun
    {
        private double _temperature = 1;
        private SequenceReadout _readout = task.Readout(dataset.Labels, task.Threshold(options));

        public override DatasetSummary Summary => summary;
        public override IReadOnlyList<string>? Labels => dataset.Labels?.Labels;
        public override string ErrorsBy => task.ErrorsBy;

        public override IReadOnlyDictionary<string, string?> Columns => new Dictionary<string, string?>
        {
            ["text"] = run.Dataset.Columns.Text,
            ["text_pair"] = run.Dataset.Columns.TextPair,
            ["label"] = run.Dataset.Columns.Label ?? (run.Dataset.Columns.LabelColumns is { } lc ? string.Join(",", lc) : null),
        };

        public override IReadOnlyDictionary<string, object?> Settings
        {
            get
            {
                var settings = new Dictionary<string, object?>(TaskSettings.Of(options));
                if (task.Calibrates(options)) settings[TemperatureKey] = _temperature;
                return settings;
            }
        }

        public override ITrainingSet TrainingSet => new FeatureSet<SequenceFeature>(splits.Train, Collate);

        public override IValidationSet? Validation => splits.Validation.Count > 0 ? Evaluator().AsValidation(splits.Validation) : null;

        private ModelInput Collate(IReadOnlyList<SequenceFeature> batch, Device device) =>
            SequenceFeatures.Collate(batch, run.Tokenizer.PaddingTokenId, device, task.LabelTensor);

        private SequenceEvaluator<SequenceFeature> Evaluator() =>
            new(_readout, Collate, f => f.Length, f => f.Label, run.Training.EvalBatchSize, run.EvaluationScope);

        public override (TaskModel Model, LoadReport Report) LoadModel()
        {
            var (model, report) = task.LoadModel(run.ModelFolder, dataset.Labels?.Labels, run.Load, run.Kernels, run.Config);
            model.Loss = task.Loss(options, dataset);
            return (model, report);
        }

        public override IReadOnlyList<(string Name, int Count)> HeldOut => splits.HeldOut;

        /// <summary>With calibration asked for, fits the temperature on the validation set and reads the held-out splits with it.</summary>
        public override void AfterTraining(TaskModel model)
        {
            if (!task.Calibrates(options)) return;
            var features = splits.Validation;
            var logits = new List<float[]>(features.Count);
            var labels = new List<int>(features.Count);
            ModelBatches.Evaluate(model, features, ModelBatches.LongestFirst(features, f => f.Length), run.Training.EvalBatchSize, Collate, run.Device,
                run.EvaluationScope, (_, batch, output) =>
                {
                    var flat = output.Logits.to(ScalarType.Float32).cpu().data<float>().ToArray();
                    int width = flat.Length / batch.Count;
                    for (int r = 0; r < batch.Count; r++)
                    {
                        logits.Add(flat.AsSpan(r * width, width).ToArray());
                        labels.Add(((ClassLabel)batch[r].Label!).Id);
                    }
                });
            _temperature = TemperatureScaling.Fit(logits, labels);
            _readout = task.Readout(dataset.Labels, task.Threshold(options), _temperature);
            run.Info(string.Create(CultureInfo.InvariantCulture,
                $"Temperature scaling on {logits.Count} validation examples: T = {_temperature:0.####} (validation NLL {TemperatureScaling.Nll(logits, labels, 1):0.####} -> {TemperatureScaling.Nll(logits, labels, _temperature):0.####})."));
        }

        public override (IReadOnlyDictionary<string, double> Metrics, SplitResult Result) EvaluateSplit(TaskModel model, string split)
        {
            var (examples, features) = splits[split];
            var evaluation = Evaluator().Evaluate(model, features, run.Device, keepPredictions: true, slices[split]);
            if (split == "test" && run.WritesFiles)
                SequencePredictionFiles.WriteEvaluated(Path.Combine(run.Output, "predictions-test.csv"), examples, evaluation.Predictions!, _readout);
            return (evaluation.Metrics, SequenceSplits.Result(_readout, evaluation, examples) with { Slices = evaluation.Slices });
        }

        public override AnalysisData? Analysis => task.AnalysisOf(dataset);

        public override FineTuneMetadata Metadata(FineTuneMetadata metadata)
        {
            var saved = task.SavedSettings(metadata, options);
            return task.Calibrates(options) ? saved.With(TemperatureKey, _temperature) : saved;
        }
    }

    /// <summary>finetune.json with the task's settings that prediction reuses (multi-label: the threshold).</summary>
    protected virtual FineTuneMetadata SavedSettings(FineTuneMetadata metadata, TOptions options) => metadata;
}

/// <summary>The slices of a sequence task's examples (<see cref="DatasetOptions.SliceColumn"/>).</summary>
internal static class SequenceSlices
{
    /// <summary>
    /// How <paramref name="examples"/> are sliced, or null without a slice column: by token-length bucket ("length"),
    /// or by the column's value in each example's own file (each file read once, so a run reads them, and fails on a
    /// file without the column, before training). A file without the column is an error naming it and the column.
    /// </summary>
    public static SliceSpec<TFeature>? For<TFeature>(DatasetOptions options, string metric, IReadOnlyList<TextExample> examples) where TFeature : Feature
    {
        if (options.SliceColumn is not { } column) return null;
        if (column == SliceAccumulator.Length) return new SliceSpec<TFeature>(column, metric, f => SliceAccumulator.LengthBucket(f.Length));
        var files = examples.Select(e => e.SourceFile).Distinct()
            .ToDictionary(f => f, f => ColumnValues.Read(f, options.DataFile, column));
        return new SliceSpec<TFeature>(column, metric, f =>
        {
            var e = examples[f.ExampleIndex];
            return files[e.SourceFile].GetValueOrDefault(e.SourceRow, "(missing)");
        });
    }
}

/// <summary>A task's options record as run.json's settings: snake_case names, enums as lower-case names.</summary>
internal static class TaskSettings
{
    public static IReadOnlyDictionary<string, object?> Of(TaskOptions options)
    {
        var settings = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var p in options.GetType().GetProperties().Where(p => p.CanRead && p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract"))
        {
            var value = p.GetValue(options);
            settings[System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name)] = value switch
            {
                null => null,
                Enum e => e.ToString().ToLowerInvariant(),
                string or bool or int or long or double or float => value,
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
        }
        return settings;
    }
}

/// <summary>One text (or text pair) of a sequence task, tokenized, with its label when it has one.</summary>
internal sealed record SequenceFeature(int[] InputIds, int[] TypeIds, int ExampleIndex, LabelTarget? Label) : Feature(InputIds, TypeIds, ExampleIndex);

/// <summary>Tokenizes the examples of a sequence task and pads them into batches with their labels.</summary>
internal static class SequenceFeatures
{
    /// <summary>One feature per example (text, or text pair truncated longest-first), and how many were truncated.</summary>
    public static (List<SequenceFeature> Features, int Truncated) Build(IReadOnlyList<TextExample> examples, ITokenizer tokenizer, int maxLength)
    {
        var options = EncodeOptions.Truncate(maxLength);
        var encodings = tokenizer.EncodeBatch(examples.Select(e => (e.Text, e.TextPair)).ToList(), options);
        var features = new List<SequenceFeature>(examples.Count);
        int truncated = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var e = encodings[i];
            if (e.WasTruncated) truncated++;
            features.Add(new SequenceFeature(e.Ids, e.TypeIds, i, examples[i].Label));
        }
        return (features, truncated);
    }

    /// <summary>
    /// A padded batch; its labels, when every feature has one, by <paramref name="labels"/> (class ids [B], label
    /// vectors [B, C] or values [B]).
    /// </summary>
    public static ModelInput Collate(IReadOnlyList<SequenceFeature> batch, int padId, Device device, Func<IReadOnlyList<LabelTarget>, Device, Tensor> labels)
    {
        var input = InputPadding.Collate(batch, padId, device);
        return batch.All(f => f.Label is not null) ? input with { Labels = labels(batch.Select(f => f.Label!).ToList(), device) } : input;
    }

    /// <summary>Class ids [B].</summary>
    public static Tensor ClassIds(IReadOnlyList<LabelTarget> targets, Device device) =>
        tensor(targets.Select(t => (long)((ClassLabel)t).Id).ToArray(), device: device);

    /// <summary>0/1 label vectors [B, C].</summary>
    public static Tensor LabelVectors(IReadOnlyList<LabelTarget> targets, Device device)
    {
        int c = ((MultiLabelTargets)targets[0]).Targets.Length;
        return tensor(targets.SelectMany(t => ((MultiLabelTargets)t).Targets).ToArray(), device: device).view(targets.Count, c);
    }

    /// <summary>Values [B].</summary>
    public static Tensor Values(IReadOnlyList<LabelTarget> targets, Device device) =>
        tensor(targets.Select(t => ((RegressionTarget)t).Value).ToArray(), device: device);
}
