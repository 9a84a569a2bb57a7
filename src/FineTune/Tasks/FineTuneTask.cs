using FineTune.Analysis;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Export;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// The task seam: everything that differs from one task to another, behind one abstraction. A task reads its
/// examples, builds its features and collates their labels, chooses its head and loss, evaluates (with its default
/// metric for the best model), predicts and writes its predictions, and fills its part of the run report; its own
/// options are one record (<see cref="DefaultOptions"/>). The front door (<see cref="FineTuner"/>) and the CLI only
/// call these members. Adding a task is one folder under Tasks/ with a subclass, and one line in
/// <see cref="TaskRegistry"/>.
/// </summary>
/// <param name="name">The name the task is asked for by (finetune.json's task, the CLI's --task): "classification".</param>
/// <param name="title">The title of the run report ("Text classification").</param>
/// <param name="description">One line for help texts: the data it reads, its loss and metrics.</param>
/// <param name="aliases">Other names accepted for it ("ner").</param>
internal abstract class FineTuneTask(string name, string title, string description, params string[] aliases)
{
    public string Name { get; } = name;
    public IReadOnlyList<string> Aliases { get; } = aliases;
    public string Title { get; } = title;
    public string Description { get; } = description;

    /// <summary>The task's options with their defaults; its type is the one the task accepts.</summary>
    public abstract TaskOptions DefaultOptions { get; }

    /// <summary>Tokens per model input when the run does not say (<see cref="TrainingOptions.MaxLength"/>).</summary>
    public virtual int DefaultMaxLength => 128;

    /// <summary>The validation metric that picks the best model when the run does not say.</summary>
    public abstract string DefaultMetricForBest { get; }

    /// <summary>Whether a saved model's config.json is a model of this task (its architectures and problem_type).</summary>
    public abstract bool Recognizes(EncoderConfig config);

    /// <summary>
    /// The outputs of the task's model exported to ONNX (logits, start and end logits, embeddings) and how its head
    /// computes them; null where the task's models cannot be exported.
    /// </summary>
    public abstract HeadGraph? ExportHead { get; }

    /// <summary>The task's model over <paramref name="config"/> (the head's config), freshly initialised.</summary>
    public abstract TaskModel CreateModel(EncoderConfig config, KernelOptions kernels);

    /// <summary>
    /// The config of the task's head from a folder's: its labels (<paramref name="labels"/>, or the folder's own when
    /// null), its problem type, and what it reads from the encoder with the reason (a sequence head's pooling; null
    /// for heads that read every token).
    /// </summary>
    public virtual (EncoderConfig Config, string? PoolingReason) HeadConfig(string folder, EncoderConfig config, IReadOnlyList<string>? labels, ModelLoadOptions load) =>
        (labels is null ? config : config.WithLabels(labels, null), null);

    /// <summary>
    /// Loads a model folder (a pretrained encoder or a fine-tuned model) with the task's head: the head's config
    /// (<see cref="HeadConfig"/>), the model (<see cref="CreateModel"/>), and the folder's weights loaded strictly
    /// (a new head is reported, not an error). The loss is the task's default; a run sets its own.
    /// </summary>
    public (TaskModel Model, LoadReport Report) LoadModel(string folder, IReadOnlyList<string>? labels = null, ModelLoadOptions? load = null,
        KernelOptions? kernels = null, EncoderConfig? config = null)
    {
        load ??= new ModelLoadOptions();
        var (head, reason) = HeadConfig(folder, config ?? ModelFolder.LoadConfig(folder), labels, load);
        var (model, report) = ModelFolder.LoadTaskModel(folder, head, c => CreateModel(c, kernels ?? KernelOptions.Default), load);
        return (model, report with { PoolingReason = reason });
    }

    /// <summary>
    /// The task's part of a fine-tuning run: reads and splits the data, tokenizes it (reporting truncation through
    /// <see cref="RunContext.Info"/>), and returns what the run needs from it.
    /// </summary>
    public abstract TaskRun Prepare(RunContext run);

    /// <summary>
    /// Evaluates a saved model of this task (<see cref="SavedModelRequest.Model"/>: its folder) on a labelled file
    /// and, with an output folder, writes metrics.json and predictions.
    /// </summary>
    public abstract EvaluationOutcome Evaluate(SavedModelRequest model, EvaluationInput input);

    /// <summary>
    /// The data of a run (its files, read as the task reads them, split as a run splits them) as the data report reads
    /// it: each split's examples with their labels. A task whose data the report cannot read says so.
    /// </summary>
    public virtual AnalysisData ReadForAnalysis(DatasetFiles files, DatasetOptions dataset, TaskOptions? options) =>
        throw new OptionException("FineTuneRequest.Task", $"the data report reads texts with labels (classification, multi-label, regression, token-classification), not {Name} data");

    /// <summary>Whether the task reports metrics per slice (<see cref="DatasetOptions.SliceColumn"/>): tasks whose data are rows of columns.</summary>
    public virtual bool HasSlices => false;

    /// <summary>Predicts every input of a file with a saved model of this task (its folder in <see cref="SavedModelRequest.Model"/>) and writes the predictions.</summary>
    public abstract PredictionOutcome Predict(SavedModelRequest model, PredictionInput input);

    /// <summary>
    /// Explains a saved model's predictions for every input of a file: what the task predicts (a class, each predicted
    /// label, a value, each entity, an answer's start and end) is attributed to the input's words by integrated
    /// gradients (<see cref="TaskExplanations"/>), and explanations.jsonl and explanations.html are written. A task
    /// without a head of its own has nothing to explain, and says so.
    /// </summary>
    public virtual ExplanationOutcome Explain(SavedModelRequest model, ExplanationInput input) =>
        throw new ModelLoadException($"holds a {Name} model, which has no prediction head to explain (explanations are for classification, " +
            "multi-label, regression, token-classification and question-answering models)", Path.Combine(model.Model, "config.json"));

    /// <summary>The loss a saved model of the task reports in evaluation: the task's loss with its default options.</summary>
    public virtual ILossFunction EvaluationLoss => new CrossEntropyLoss();

    /// <summary>
    /// A fine-tuned model of this task for prediction, on <paramref name="device"/>, in eval mode (its head must be
    /// trained), with <see cref="EvaluationLoss"/>.
    /// </summary>
    public TaskModel LoadForPrediction(string folder, Device device, ModelLoadOptions? load)
    {
        load ??= new ModelLoadOptions();
        return PredictionModels.Load(folder, Name, CreateForPrediction, device, load, c => HeadConfig(folder, c, null, load).Config);
    }

    private TaskModel CreateForPrediction(EncoderConfig config)
    {
        var model = CreateModel(config, KernelOptions.Default);
        model.Loss = EvaluationLoss;
        return model;
    }

    /// <summary>
    /// A fine-tuned model of this task for evaluation and prediction: a model folder as <see cref="LoadForPrediction"/>
    /// loads it, or an export folder's graph run by ONNX Runtime (fp32, or int8 with <see cref="Precision.Int8"/>).
    /// </summary>
    public IForwardModel OpenForPrediction(string folder, Device device, ModelLoadOptions? load, Precision precision, int? threads)
    {
        load ??= new ModelLoadOptions();
        return PredictionModels.Open(folder, Name, CreateForPrediction, device, load, precision, threads,
            c => HeadConfig(folder, c, null, load).Config);
    }

    /// <summary>Whether the task's options name its training data (a pair of parallel files), so that no training file is needed.</summary>
    public virtual bool TakesTrainingDataFromOptions(TaskOptions? options) => false;

    /// <summary>Every name the task answers to.</summary>
    public IEnumerable<string> Names => Aliases.Prepend(Name);

    /// <summary>
    /// The task's options: <paramref name="given"/> when it is this task's kind (checked), the defaults when null. A
    /// record of another task's kind is an <see cref="OptionException"/>.
    /// </summary>
    public TOptions OptionsFrom<TOptions>(TaskOptions? given) where TOptions : TaskOptions
    {
        var options = given ?? DefaultOptions;
        if (options is not TOptions typed)
            throw new OptionException("FineTuneRequest.TaskOptions", $"a {options.GetType().Name} was given for the {Name} task, which takes {DefaultOptions.GetType().Name}");
        typed.Validate();
        return typed;
    }
}

/// <summary>What every fine-tuning run hands its task: the checked options, the device, the model folder, its tokenizer and config.</summary>
internal sealed record RunContext
{
    public required DatasetFiles Files { get; init; }
    public required DatasetOptions Dataset { get; init; }
    /// <summary>The task's options as given (null: its defaults).</summary>
    public TaskOptions? TaskOptions { get; init; }
    public required TrainingOptions Training { get; init; }
    public required ModelLoadOptions Load { get; init; }
    public required KernelOptions Kernels { get; init; }
    public required Device Device { get; init; }
    /// <summary>The pretrained model's folder (a catalog model resolved to its folder).</summary>
    public required string ModelFolder { get; init; }
    public required ITokenizer Tokenizer { get; init; }
    public required EncoderConfig Config { get; init; }
    /// <summary>Tokens per model input: the option or the task's default, capped by what the model takes.</summary>
    public required int MaxLength { get; init; }
    /// <summary>The run folder.</summary>
    public required string Output { get; init; }
    public required Action<string> Info { get; init; }
    /// <summary>Receives warnings about the data or the run.</summary>
    public required Action<string> Warn { get; init; }
    /// <summary>The scope evaluation runs in (none for fp32).</summary>
    public Func<IDisposable?>? EvaluationScope { get; init; }
    /// <summary>Whether the run continues from a checkpoint.</summary>
    public bool Resuming { get; init; }
    /// <summary>Whether this process writes the run folder's files (false on the ranks other than 0 of a data-parallel run).</summary>
    public bool WritesFiles { get; init; } = true;
}

/// <summary>
/// A task's part of one fine-tuning run, once its data is read and tokenized: the model to train, the training and
/// validation sets, the held-out splits to evaluate at the end, and what the run folder records about the task.
/// </summary>
internal abstract class TaskRun
{
    /// <summary>The data as read: split sizes, labels, skipped rows.</summary>
    public abstract DatasetSummary Summary { get; }

    /// <summary>The labels of the head, or null (regression, similarity, QA).</summary>
    public abstract IReadOnlyList<string>? Labels { get; }

    /// <summary>The input columns as the run read them, for run.json.</summary>
    public abstract IReadOnlyDictionary<string, string?> Columns { get; }

    /// <summary>The task's own settings, for run.json.</summary>
    public abstract IReadOnlyDictionary<string, object?> Settings { get; }

    /// <summary>What the examples are called in messages (examples, sentences, questions).</summary>
    public virtual string Unit => "examples";

    /// <summary>What orders the report's top errors: "confidence" or "error" (distance from a target value).</summary>
    public virtual string ErrorsBy => "confidence";

    public abstract ITrainingSet TrainingSet { get; }

    /// <summary>The validation set, or null when there is no validation data.</summary>
    public abstract IValidationSet? Validation { get; }

    /// <summary>The pretrained model with the task's head and loss (on the CPU); the task says how the head reads the encoder.</summary>
    public abstract (TaskModel Model, LoadReport Report) LoadModel();

    /// <summary>Called with the loaded model on the run's device before training starts (a zero-shot baseline, say).</summary>
    public virtual void BeforeTraining(TaskModel model) { }

    /// <summary>
    /// Called with the trained model (the best one, restored) before it is saved and evaluated: a calibration fitted on
    /// the validation set, say, which <see cref="Metadata"/> then saves with the model.
    /// </summary>
    public virtual void AfterTraining(TaskModel model) { }

    /// <summary>The held-out splits with data, in order (validation, then test), and their sizes.</summary>
    public abstract IReadOnlyList<(string Name, int Count)> HeldOut { get; }

    /// <summary>
    /// Evaluates the trained model on a held-out split; the test split's predictions are written into the run folder.
    /// Returns the metrics and the split's part of the report.
    /// </summary>
    public abstract (IReadOnlyDictionary<string, double> Metrics, SplitResult Result) EvaluateSplit(TaskModel model, string split);

    /// <summary>finetune.json of the saved model, with the task's settings that prediction reuses.</summary>
    public virtual FineTuneMetadata Metadata(FineTuneMetadata metadata) => metadata;

    /// <summary>Writes what the saved model needs besides its weights and the tokenizer (an encoder-decoder's second tokenizer) into <paramref name="folder"/>.</summary>
    public virtual void SaveExtras(string folder) { }

    /// <summary>The run's data as the data report reads it (see <see cref="FineTuneTask.ReadForAnalysis"/>), or null when the task's data has none.</summary>
    public virtual AnalysisData? Analysis => null;
}

/// <summary>A labelled file to evaluate on, how to read it, and where to write metrics.json and the predictions (optional).</summary>
internal sealed record EvaluationInput(string DataFile, DatasetOptions Dataset, string? OutputDirectory)
{
    /// <summary>
    /// With an output folder, writes metrics.json ({"test": …, "data": the file}) and each predictions file there (by
    /// name, with the function that writes it); returns the files written.
    /// </summary>
    public IReadOnlyList<string> WriteResults(IReadOnlyDictionary<string, double> metrics, params (string Name, Action<string> Write)[] predictions) =>
        WriteResults(metrics, null, predictions);

    /// <summary>As <see cref="WriteResults(IReadOnlyDictionary{string, double}, ValueTuple{string, Action{string}}[])"/>, with the metrics per slice in metrics.json.</summary>
    public IReadOnlyList<string> WriteResults(IReadOnlyDictionary<string, double> metrics, SliceReport? slices, params (string Name, Action<string> Write)[] predictions)
    {
        if (OutputDirectory is null) return [];
        Directory.CreateDirectory(OutputDirectory);
        var files = new List<string> { Path.Combine(OutputDirectory, "metrics.json") };
        RunFiles.WriteEvaluationMetrics(files[0], metrics, DataFile, slices);
        foreach (var (name, write) in predictions)
        {
            files.Add(Path.Combine(OutputDirectory, name));
            write(files[^1]);
        }
        return files;
    }

    /// <summary>Says how many rows (sentences, questions) of the file were skipped as invalid, with the first reasons.</summary>
    public static void SaySkipped(SavedModelRequest model, SkippedRows skipped, string unit)
    {
        if (skipped.Count == 0) return;
        model.Say($"{skipped.Count} invalid {unit} skipped (DatasetOptions.SkipInvalidRows){(skipped.FirstReasons.Count > 0 ? ", for example:" : ".")}"
            + string.Concat(skipped.FirstReasons.Select(r => "\n  " + r)));
    }
}

/// <summary>A file of inputs to predict, how to read it, and the file to write (.csv or .jsonl).</summary>
internal sealed record PredictionInput(string InputFile, string OutputFile, DataFileOptions File, ColumnMapping Columns);

/// <summary>What an evaluation of a saved model found.</summary>
/// <param name="Metrics">The metrics to show (per-label entries left to <paramref name="Details"/>).</param>
/// <param name="AllMetrics">Every metric, as metrics.json holds them.</param>
/// <param name="Details">A per-class (or per-entity-type) table, or null.</param>
/// <param name="DetailsTitle">What the table's rows are ("per class", "per entity type").</param>
/// <param name="Files">The files written.</param>
public sealed record EvaluationOutcome(
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, double> AllMetrics,
    IReadOnlyList<ClassReport>? Details,
    string? DetailsTitle,
    IReadOnlyList<string> Files);

/// <summary>What a prediction run wrote: how many inputs, where, and a one-line summary.</summary>
public sealed record PredictionOutcome(int Inputs, string OutputFile, string Summary);

/// <summary>
/// The three splits of a run (train, validation, test), each with its examples and the features the task built from
/// them; a validation or test split without examples has no features, and is not evaluated.
/// </summary>
internal sealed class TaskSplits<TExample, TFeature> where TFeature : Feature
{
    private readonly Dictionary<string, (IReadOnlyList<TExample> Examples, List<TFeature> Features)> _splits = new(StringComparer.Ordinal);

    /// <param name="build">The features of a split's examples (called for train, and for the held-out splits that have examples).</param>
    public TaskSplits(IReadOnlyList<TExample> train, IReadOnlyList<TExample> validation, IReadOnlyList<TExample> test,
        Func<string, IReadOnlyList<TExample>, List<TFeature>> build)
    {
        foreach (var (name, examples) in new[] { ("train", train), ("validation", validation), ("test", test) })
            _splits[name] = (examples, examples.Count == 0 && name != "train" ? [] : build(name, examples));
    }

    public (IReadOnlyList<TExample> Examples, List<TFeature> Features) this[string name] => _splits[name];

    public List<TFeature> Train => _splits["train"].Features;

    public List<TFeature> Validation => _splits["validation"].Features;

    /// <summary>The held-out splits with features, in order (validation, then test), and their numbers of examples.</summary>
    public IReadOnlyList<(string Name, int Count)> HeldOut =>
        new[] { "validation", "test" }.Where(s => _splits[s].Features.Count > 0).Select(s => (s, _splits[s].Examples.Count)).ToList();
}

/// <summary>Truncation as a run reports it: counted per split into the data summary, and said for every split that had some.</summary>
internal static class Truncation
{
    /// <summary>
    /// The summary with each split's number of truncated examples, after saying it (and, for every split with
    /// truncated examples, how many of how many) through <see cref="RunContext.Info"/>.
    /// </summary>
    public static DatasetSummary Report(RunContext run, DatasetSummary summary, IReadOnlyDictionary<string, int> truncated)
    {
        foreach (var (name, count) in truncated)
            if (summary[name] is not null) summary = summary.WithTruncated(name, count);
        run.Info(summary.Describe());
        foreach (var name in new[] { "train", "validation", "test" })
            if (summary[name] is { Truncated: > 0 } split)
                run.Info($"{split.Truncated} of {split.Count} {name} examples are longer than {run.MaxLength} tokens and were truncated (TrainingOptions.MaxLength).");
        return summary;
    }
}
