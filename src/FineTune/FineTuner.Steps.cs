using System.Diagnostics;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Text;
using FineTune.Training;
using static TorchSharp.torch;

namespace FineTune;

/// <summary>
/// What every run starts from, whatever its task: the checked training options, the device, the pretrained model's
/// folder, tokenizer and config, the effective max length and the run folder (created once training starts).
/// </summary>
internal sealed record RunContext(
    FineTuneRequest Request,
    TrainingOptions Training,
    Device Device,
    string ModelFolder,
    BertTokenizer Tokenizer,
    BertConfig Config,
    int MaxLength,
    string Output,
    Action<string> Info,
    Func<IDisposable?>? PrecisionScope,
    Func<IDisposable?>? EvaluationScope,
    DateTimeOffset Started,
    Stopwatch Clock)
{
    public string ModelDirectory => Path.Combine(Output, "model");
}

// The steps every task's run shares: set up, train with logs and checkpoints, save the best model, write metrics.
public static partial class FineTuner
{
    /// <summary>Checks the options, sets threads and device, resolves the model and its tokenizer.</summary>
    /// <param name="requestedMaxLength">The max length the task asks for (capped by what the model takes).</param>
    internal static RunContext Begin(FineTuneRequest request, int requestedMaxLength)
    {
        var clock = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        var training = request.Training with { Task = request.Dataset.Task, MaxLength = requestedMaxLength };
        training.Validate();
        TorchRuntime.SetThreads(request.Threads);
        // The new head is initialised from torch's generator when the model loads: seed it first, so that --seed
        // decides the head as it decides shuffling and dropout (the trainer seeds again before the first step).
        TorchSharp.torch.random.manual_seed(training.Seed);
        var device = TorchRuntime.ParseDevice(request.Device);
        // Auto trains in bf16 where that is faster (AMX) and evaluates in fp32, as the saved model predicts by default;
        // an explicit precision is used for both.
        var evaluationPrecision = training.Precision == Precision.Auto ? Precision.Fp32 : training.Precision;
        training = training with { Precision = PrecisionScopes.Resolve(training.Precision, device) };
        var info = request.Info ?? (_ => { });

        var modelFolder = ModelCatalog.Resolve(request.Model);
        var tokenizer = BertTokenizer.FromFolder(modelFolder);
        var config = BertConfig.Load(Path.Combine(modelFolder, "config.json"));
        int maxLength = MaxLength(training.MaxLength, tokenizer, config, info);
        var output = Path.GetFullPath(request.OutputDirectory);
        return new RunContext(request, training with { MaxLength = maxLength }, device, modelFolder, tokenizer, config, maxLength, output, info,
            PrecisionScopes.For(training.Precision, device), PrecisionScopes.For(evaluationPrecision, device), started, clock);
    }

    /// <summary>
    /// Trains <paramref name="model"/> (already on the run's device) with log.jsonl, TensorBoard, checkpoints and the
    /// request's callbacks, restores the best model and saves it to DIR/model with the tokenizer.
    /// </summary>
    internal static (TrainerResult Result, string MetricForBest) Fit(RunContext run, TaskModel model, IReadOnlyList<Feature> train,
        IReadOnlyList<Feature> validation, ITaskEvaluator evaluator)
    {
        var training = run.Training;
        Directory.CreateDirectory(run.Output);
        using var jsonl = new JsonLinesLogCallback(Path.Combine(run.Output, "log.jsonl"), append: run.Request.ResumeFrom is not null);
        var callbacks = new List<ITrainerCallback> { jsonl, new TensorBoardCallback(Path.Combine(run.Output, "tensorboard")) };
        callbacks.AddRange(run.Request.Callbacks);
        var trainer = new Trainer(model, training, train, validation, evaluator, run.Device, run.Tokenizer.PaddingTokenId, callbacks,
            checkpointRoot: Path.Combine(run.Output, "checkpoints"), // also where an interrupted run leaves its checkpoint
            writeExtras: run.Tokenizer.Save)
        {
            PrecisionScope = run.PrecisionScope,
        };
        var result = trainer.Train(run.Request.ResumeFrom, run.Request.Cancellation);
        var metadata = new FineTuneMetadata
        {
            Task = TaskName(training.Task),
            MaxLength = run.MaxLength,
            Threshold = training.Task == TaskKind.MultiLabelClassification ? training.Threshold : null,
            ScoreScale = training.Task == TaskKind.Similarity ? run.Request.Similarity.ScoreScale : null,
            DocStride = training.Task == TaskKind.QuestionAnswering ? run.Request.QuestionAnswering.DocStride : null,
            BaseModel = run.Request.Model,
        };
        ModelFolder.Save(model, run.ModelDirectory, folder =>
        {
            run.Tokenizer.Save(folder);
            metadata.Save(folder);
        });
        return (result, trainer.MetricForBest);
    }

    /// <summary>
    /// Evaluates the trained model on each held-out split that has features (validation, then test) with
    /// <paramref name="evaluate"/> (which also writes the split's prediction files), saying so first; returns each
    /// split's result and the validation and test metrics. <paramref name="unit"/> names the examples ("questions").
    /// </summary>
    internal static (Dictionary<string, SplitResult> Splits, IReadOnlyDictionary<string, double>? Validation, IReadOnlyDictionary<string, double>? Test)
        EvaluateSplits<TExample>(RunContext run, IEnumerable<(string Name, IReadOnlyList<TExample> Examples)> heldOut,
            IReadOnlyDictionary<string, List<Feature>> features, string unit,
            Func<string, IReadOnlyList<TExample>, IReadOnlyList<Feature>, (IReadOnlyDictionary<string, double> Metrics, SplitResult Result)> evaluate)
    {
        var splits = new Dictionary<string, SplitResult>();
        IReadOnlyDictionary<string, double>? validation = null, test = null;
        foreach (var (name, examples) in heldOut)
        {
            if (!features.TryGetValue(name, out var set)) continue;
            run.Info($"Evaluating the trained model on {examples.Count} {name} {unit} ...");
            var (metrics, result) = evaluate(name, examples, set);
            if (name == "validation") validation = metrics;
            else test = metrics;
            splits[name] = result;
        }
        return (splits, validation, test);
    }

    /// <summary>
    /// Writes metrics.json, run.json and the report of a finished run and returns its result: the last step every task
    /// shares. <paramref name="columns"/> names the input columns as the run read them; <paramref name="settings"/> are the
    /// run's hyperparameters (<see cref="Settings"/> plus the task's own).
    /// </summary>
    internal static FineTuneResult Finish(RunContext run, TrainerResult result, string metricForBest, DatasetSummary summary, LoadReport loadReport,
        IReadOnlyDictionary<string, string?> columns, IReadOnlyDictionary<string, object?> settings, IReadOnlyList<string>? labels,
        Dictionary<string, SplitResult> splits, IReadOnlyDictionary<string, double>? validationMetrics, IReadOnlyDictionary<string, double>? testMetrics)
    {
        var request = run.Request;
        WriteMetricsJson(Path.Combine(run.Output, "metrics.json"), validationMetrics, testMetrics, result.State);
        var record = new RunRecord
        {
            Task = TaskName(run.Training.Task),
            Model = request.Model,
            ModelFolder = run.ModelFolder,
            OutputModel = run.ModelDirectory,
            Started = run.Started,
            ElapsedSeconds = run.Clock.Elapsed.TotalSeconds,
            TrainingSeconds = result.Elapsed.TotalSeconds,
            Data = new RunData
            {
                TrainFile = request.Data.Train,
                ValidationFile = request.Data.Validation,
                TestFile = request.Data.Test,
                Columns = columns,
                Splits = summary.Splits.Select(s => new SplitCounts(s.Name, s.Count, s.Truncated ?? 0, s.LabelCounts)).ToList(),
                SkippedRows = summary.SkippedCount,
                SkippedReasons = summary.Skipped.SelectMany(s => s.FirstReasons).ToList(),
                MaxLength = run.MaxLength,
            },
            Settings = settings,
            LoadReport = loadReport.Describe(),
            Labels = labels,
            MetricForBest = metricForBest,
            BestStep = result.State.BestStep,
            GlobalStep = result.State.GlobalStep,
            StoppedEarly = result.State.StoppedEarly,
            LogHistory = result.State.LogHistory,
            Splits = splits,
        };
        RunFiles.WriteRecord(run.Output, record);
        foreach (var warning in RunReport.Write(run.Output, record).Warnings)
            run.Info("Report: " + warning);
        return new FineTuneResult(run.Output, run.ModelDirectory, validationMetrics, testMetrics, summary, loadReport, result.State, run.Clock.Elapsed);
    }

    /// <summary>Turns evaluation off (with a message) when there is no validation data.</summary>
    internal static RunContext WithoutValidationIfEmpty(RunContext run, int validationCount)
    {
        if (validationCount > 0 || run.Training.EvalStrategy == IntervalKind.No) return run;
        run.Info("No validation data (give --validation FILE or --validation-split): training without evaluation.");
        return run with { Training = run.Training with { EvalStrategy = IntervalKind.No, EarlyStoppingPatience = 0 } };
    }
}
