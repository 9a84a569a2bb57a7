using System.Diagnostics;
using FineTune.Analysis;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;
using FineTune.Runtime;
using FineTune.Tasks;
using FineTune.Text;
using FineTune.Training;
using TorchSharp;

namespace FineTune;

/// <summary>
/// The front door. Fine-tunes a pretrained encoder on labelled text: reads and splits the data, tokenizes it, loads
/// the model with the task's head, trains with validation, restores the best model, evaluates it on validation and
/// test, and writes the run folder (the model in Hugging Face's layout, metrics, predictions, logs, plots and a
/// report). Evaluates and predicts with the saved model. Every step that depends on the task is the task's own
/// (<c>Tasks/</c>); this class is the same for all of them.
/// </summary>
public static partial class FineTuner
{
    /// <summary>The tasks, in the order help texts list them.</summary>
    public static IReadOnlyList<TaskInfo> Tasks { get; } = TaskRegistry.All
        .Select(t => new TaskInfo(t.Name, t.Aliases, t.Title, t.Description, t.DefaultOptions, t.DefaultMaxLength, t.DefaultMetricForBest)).ToList();

    /// <summary>
    /// The simple overload: single-label classification of <paramref name="textColumn"/> by <paramref name="labelColumn"/>,
    /// 10% of the training file held out for validation, default hyperparameters.
    /// </summary>
    public static FineTuneResult Train(string model, string trainFile, string outputDirectory,
        string textColumn = "text", string labelColumn = "label", string? testFile = null) =>
        Train(new FineTuneRequest
        {
            Model = model,
            Data = new DatasetFiles(trainFile, null, testFile),
            Dataset = new DatasetOptions { Columns = new ColumnMapping { Text = textColumn, Label = labelColumn }, ValidationFraction = 0.1 },
            OutputDirectory = outputDirectory,
        });

    /// <summary>Fine-tunes as <paramref name="request"/> says; see <see cref="FineTuneRequest"/>.</summary>
    public static FineTuneResult Train(FineTuneRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var task = TaskRegistry.Get(request.Task);
        request.Validate(task);
        using var ranks = Communicators.Open(request.Distributed);
        if (ranks.Size == 1) return Train(request, task, ranks);
        // Each rank computes its share of every step and of every evaluation; rank 0 alone owns and writes the run folder.
        try
        {
            using var sharded = ShardedEvaluation.Use(ranks);
            return Train(request with
            {
                Threads = request.Threads ?? Communicators.DefaultThreads(ranks),
                Callbacks = ranks.IsRoot() ? request.Callbacks : [],
                Info = ranks.IsRoot() ? request.Info : null,
                Warning = ranks.IsRoot() ? request.Warning : null,
            }, task, ranks);
        }
        catch
        {
            ranks.Abandon();
            throw;
        }
    }

    private static FineTuneResult Train(FineTuneRequest request, FineTuneTask task, ICommunicator ranks)
    {
        // The checkpoint to resume from is checked, and the output folder locked and checked (by rank 0, which writes
        // it), before anything is read or written; until training starts, a failure leaves the folder as it was.
        var resume = request.ResumeFrom is null ? null : Checkpoint.Resolve(request.ResumeFrom, "FineTuneRequest.ResumeFrom");
        using var folder = ranks.IsRoot() ? RunFolder.Open(request.OutputDirectory, request.Overwrite, resume?.Folder, resume?.State.RunId) : null;
        RunState run;
        TaskRun data;
        TaskModel? model = null;
        LoadReport loadReport;
        try
        {
            run = Begin(request with { ResumeFrom = resume?.Folder }, task, folder?.Path ?? Path.GetFullPath(request.OutputDirectory), ranks);
            foreach (var leftover in folder?.RemovedLeftovers ?? [])
                run.Context.Info($"Removed what an interrupted save had left: {leftover}.");
            data = task.Prepare(run.Context);
            run = WithoutValidationIfEmpty(run, data.Validation is not null);
            run = run with { UnknownTokenRate = RunChecks.BeforeTraining(run.Context, data, task) };
            (model, loadReport) = data.LoadModel();
            if (folder is not null)
            {
                RunChecks.DiskSpace(run.Context, data, model, folder.Path);
                folder.Claim();
            }
        }
        catch
        {
            model?.Dispose();
            folder?.Abandon();
            throw;
        }
        using var _ = model;
        run.Context.Info(loadReport.Describe());
        if (loadReport.PoolingReason is { } reason)
            run.Context.Info(model.Config.MeanPooling
                ? $"The head reads the mean of the token states ({reason}; ModelLoadOptions.ClassifierPooling cls for the [CLS] token)."
                : $"The head reads the [CLS] token ({reason}; ModelLoadOptions.ClassifierPooling mean for the mean of the token states).");
        model.to(run.Context.Device);
        data.BeforeTraining(model);
        var (result, metricForBest) = Fit(run, task, data, model, folder?.RunId, ranks);
        var (splits, validation, test) = EvaluateSplits(run, data, model);
        if (!run.Context.WritesFiles)
            return new FineTuneResult(run.Context.Output, run.ModelDirectory, validation, test, data.Summary, loadReport, result.State, run.Clock.Elapsed) { Rank = ranks.Rank };
        return Finish(run, task, data, result, metricForBest, loadReport, splits, validation, test);
    }

    /// <summary>The name of the task a saved model folder was fine-tuned for (its finetune.json, else its config.json's head).</summary>
    public static string DetectTask(string modelFolder) => TaskRegistry.DetectOrThrow(ModelCatalog.Resolve(modelFolder)).Name;

    /// <summary>
    /// Evaluates a saved model on a labelled file (the task comes from the model folder) and, with an output folder,
    /// writes metrics.json ({"test": …}) and the predictions as a run writes them for its test set.
    /// </summary>
    public static EvaluationOutcome Evaluate(EvaluateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.Data)) throw new OptionException("EvaluateRequest.Data", "no data file was given");
        request.Dataset.Validate();
        var (task, saved) = SavedModel(request);
        CheckSlices(task, request.Dataset);
        return task.Evaluate(saved, new EvaluationInput(request.Data, request.Dataset, request.OutputDirectory));
    }

    /// <summary>Predicts every input of a file with a saved model (the task comes from the model folder) and writes the predictions.</summary>
    public static PredictionOutcome Predict(PredictRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.ValidateOutput();
        var (task, saved) = SavedModel(request);
        return task.Predict(saved, new PredictionInput(request.Input, request.Output, request.File, request.Columns));
    }

    /// <summary>
    /// Tokenizes every input of a file with a model folder's tokenizer and writes one JSON object per input (JSON Lines):
    /// ids, type ids, tokens, offsets into the input, sequence ids and word ids. The folder needs no weights.
    /// </summary>
    public static TokenizeResult Tokenize(TokenizeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.Output.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
            throw new OptionException("TokenizeRequest.Output", $"{request.Output}: use a .jsonl file name");
        var tokenizer = Tokenizers.FromFolder(ModelCatalog.Resolve(request.Model));
        if (request.Encode?.MaxLength is int maxLength)
        {
            // Room for the special tokens the inputs get (a pair's with a pair column) and a token of text.
            int special = tokenizer.Encode("", request.Columns.TextPair is null ? null : "", new EncodeOptions { AddSpecialTokens = request.Encode.AddSpecialTokens }).Length;
            if (maxLength <= special)
                throw new OptionException("EncodeOptions.MaxLength", $"must be at least {special + 1} ({special} special tokens and a token of text), got {maxLength}");
        }
        var rows = TextInputs.Read(request.Input, request.File, request.Columns.Text, request.Columns.TextPair);
        var (inputs, tokens) = EncodingJson.WriteJsonl(request.Output, tokenizer, rows.Select(r => (r.SourceRow, r.Text, r.Pair)), request.Encode);
        return new TokenizeResult(inputs, tokens, tokenizer.Model, Path.GetFullPath(request.Output));
    }

    /// <summary>
    /// Explains a saved model's predictions for every input of a file (the task comes from the model folder):
    /// integrated gradients on the word embeddings from a [PAD] baseline, summed into words, with each explained
    /// output's completeness gap; writes explanations.jsonl and explanations.html.
    /// </summary>
    public static ExplanationOutcome Explain(ExplainRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (task, saved) = SavedModel(request);
        return task.Explain(saved, new ExplanationInput(request.Input, request.OutputDirectory, request.File, request.Columns, request.Steps,
            request.TargetLabel, request.MaxInputs));
    }

    /// <summary>A slice column for a task whose data has no columns is an <see cref="OptionException"/>.</summary>
    private static void CheckSlices(FineTuneTask task, DatasetOptions dataset)
    {
        if (dataset.SliceColumn is not null && !task.HasSlices)
            throw new OptionException("DatasetOptions.SliceColumn", $"metrics per slice are reported for the tasks whose data are rows of columns " +
                $"({string.Join(", ", TaskRegistry.All.Where(t => t.HasSlices).Select(t => t.Name))}), not for {task.Name}");
    }

    /// <summary>
    /// The data report of a dataset, read and split as a run of <see cref="AnalyzeRequest.Task"/> would: label counts
    /// and imbalance, token lengths per label and truncation at the max length, exact and near duplicates within and
    /// across splits (train/test leakage), identical texts with conflicting labels, and words that predict a label
    /// almost alone (possible shortcuts). With an output folder, writes analysis.json and analysis.html.
    /// </summary>
    public static DataAnalysisOutcome Analyze(AnalyzeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var task = TaskRegistry.Get(request.Task);
        if (request.NearDuplicateThreshold is not (> 0 and <= 1))
            throw new OptionException("AnalyzeRequest.NearDuplicateThreshold", $"must be in (0, 1], got {request.NearDuplicateThreshold}");
        if (request.MinTokenCount < 1) throw new OptionException("AnalyzeRequest.MinTokenCount", $"must be at least 1, got {request.MinTokenCount}");
        if (request.ShortcutShare is not (> 0 and <= 1)) throw new OptionException("AnalyzeRequest.ShortcutShare", $"must be in (0, 1], got {request.ShortcutShare}");
        var folder = ModelCatalog.Resolve(request.Model);
        var tokenizer = Tokenizers.FromFolder(folder);
        int maxLength = MaxLength(request.MaxLength ?? task.DefaultMaxLength, tokenizer, ModelFolder.LoadConfig(folder), request.Info ?? (_ => { }));
        var data = task.ReadForAnalysis(request.Data, request.Dataset, request.TaskOptions);
        var analysis = DataAnalyzer.Analyze(data, tokenizer, new AnalysisSettings(maxLength, request.NearDuplicateThreshold, request.MinTokenCount, request.ShortcutShare));
        var files = request.OutputDirectory is null ? [] : DataAnalysisPages.Write(request.OutputDirectory, analysis, $"{task.Title} · {Path.GetFileName(request.Data.Train)}");
        var lines = DataAnalysisPages.Describe(analysis).ToList();
        if (files.Count > 0) lines.Add($"Wrote {string.Join(", ", files)}");
        return new DataAnalysisOutcome(string.Join("\n", lines), files);
    }

    /// <summary>The task of a saved model, and the request with the model's folder (a catalog name resolved).</summary>
    private static (FineTuneTask Task, SavedModelRequest Request) SavedModel(SavedModelRequest request)
    {
        request.Validate();
        var folder = ModelCatalog.Resolve(request.Model);
        return (TaskRegistry.DetectOrThrow(folder), request with { Model = folder });
    }

    // ---- The steps every run takes, whatever its task --------------------------------------------------------------

    /// <summary>A run in progress: what its task sees, and what only the front door needs (the request, the clock, the training precision).</summary>
    private sealed record RunState(FineTuneRequest Request, RunContext Context, Func<IDisposable?>? PrecisionScope, DateTimeOffset Started, Stopwatch Clock)
    {
        public string ModelDirectory => Path.Combine(Context.Output, "model");

        /// <summary>The share of the training tokens that are [UNK].</summary>
        public double? UnknownTokenRate { get; init; }

        /// <summary>The number of ranks training together (1: this process alone).</summary>
        public int Ranks { get; init; } = 1;
    }

    /// <summary>Checks the options, sets threads, seed and device, resolves the model and its tokenizer, and caps the max length.</summary>
    private static RunState Begin(FineTuneRequest request, FineTuneTask task, string output, ICommunicator ranks)
    {
        CheckSlices(task, request.Dataset);
        var clock = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        var training = request.Training;
        training.Validate();
        TorchRuntime.SetThreads(request.Threads);
        // The new head is initialised from torch's generator when the model loads: seed it first, so that the seed
        // decides the head as it decides shuffling and dropout (the trainer seeds again before the first step).
        torch.random.manual_seed(training.Seed);
        var device = TorchRuntime.ParseDevice(request.Device);
        if (ranks.Size > 1 && device.type != DeviceType.CPU)
            throw new OptionException("FineTuneRequest.Device", $"distributed training runs on the CPU (the ranks exchange gradients in CPU memory), got {request.Device}");
        // Auto trains in bf16 where that is faster (AMX, AVX512-BF16) and evaluates in fp32, as the saved model predicts by default;
        // an explicit precision is used for both.
        var evaluationPrecision = training.Precision == Precision.Auto ? Precision.Fp32 : training.Precision;
        training = training with { Precision = PrecisionScopes.Resolve(training.Precision, device) };
        var info = request.Info ?? (_ => { });

        var modelFolder = ModelCatalog.Resolve(request.Model);
        var tokenizer = Tokenizers.FromFolder(modelFolder);
        var config = RunConfig(task, modelFolder);
        int maxLength = MaxLength(training.MaxLength ?? task.DefaultMaxLength, tokenizer, config, info);
        var context = new RunContext
        {
            Files = request.Data,
            Dataset = request.Dataset,
            TaskOptions = request.TaskOptions,
            Training = training with { MaxLength = maxLength },
            Load = request.Load,
            Kernels = request.Kernels,
            Device = device,
            ModelFolder = modelFolder,
            Tokenizer = tokenizer,
            Config = config,
            MaxLength = maxLength,
            Output = output,
            Info = info,
            Warn = request.Warning ?? (m => info("Warning: " + m)),
            EvaluationScope = PrecisionScopes.For(evaluationPrecision, device),
            Resuming = request.ResumeFrom is not null,
            WritesFiles = ranks.IsRoot(),
        };
        return new RunState(request, context, PrecisionScopes.For(training.Precision, device), started, clock) { Ranks = ranks.Size };
    }

    /// <summary>
    /// The encoder config a run reads from its model folder: the folder's own, or, for a trained encoder-decoder that a
    /// translation or summarization run fine-tunes further, its encoder's. Other tasks fine-tune an encoder, not an encoder-decoder.
    /// </summary>
    private static EncoderConfig RunConfig(FineTuneTask task, string modelFolder)
    {
        if (!EncoderDecoderFolder.Holds(modelFolder)) return ModelFolder.LoadConfig(modelFolder);
        if (task is not Seq2SeqTask)
            throw new OptionException("FineTuneRequest.Model",
                $"{modelFolder} is an encoder-decoder (a translation or summarization model); the {task.Name} task fine-tunes an encoder (a BERT-family model folder)");
        return EncoderDecoderFolder.LoadConfig(modelFolder).Encoder;
    }

    /// <summary>The effective max length: the requested one, capped by the model's positions and the tokenizer's model_max_length.</summary>
    private static int MaxLength(int requested, ITokenizer tokenizer, EncoderConfig config, Action<string> info)
    {
        int limit = ModelFamilies.Of(config).MaxSequenceLength(config);
        if (tokenizer.ModelMaxLength is int m) limit = Math.Min(limit, m);
        if (requested <= limit) return requested;
        info($"TrainingOptions.MaxLength {requested} is more than the model takes; using {limit}.");
        return limit;
    }

    /// <summary>Turns evaluation off (with a message) when there is no validation data.</summary>
    private static RunState WithoutValidationIfEmpty(RunState run, bool hasValidation)
    {
        var training = run.Context.Training;
        if (hasValidation || training.EvalStrategy == IntervalKind.No) return run;
        run.Context.Info("No validation data (give a validation file or DatasetOptions.ValidationFraction): training without evaluation.");
        return run with { Context = run.Context with { Training = training with { EvalStrategy = IntervalKind.No, EarlyStoppingPatience = 0 } } };
    }

    /// <summary>
    /// Trains the model (already on the run's device) with log.jsonl, TensorBoard, checkpoints and the request's
    /// callbacks, restores the best model and saves it to DIR/model with the tokenizer and finetune.json.
    /// </summary>
    private static (TrainerResult Result, string MetricForBest) Fit(RunState run, FineTuneTask task, TaskRun data, TaskModel model, string? runId, ICommunicator ranks)
    {
        var context = run.Context;
        var training = context.Training;
        var callbacks = new List<ITrainerCallback>();
        if (context.WritesFiles) Directory.CreateDirectory(context.Output);
        using var jsonl = context.WritesFiles ? new JsonLinesLogCallback(Path.Combine(context.Output, "log.jsonl"), append: context.Resuming, context.Warn) : null;
        if (jsonl is not null)
            callbacks.AddRange([jsonl, new TensorBoardCallback(Path.Combine(context.Output, "tensorboard"), context.Warn)]);
        callbacks.AddRange(run.Request.Callbacks);
        var metricForBest = training.MetricForBest ?? task.DefaultMetricForBest;
        var trainer = new Trainer(model, training, data.TrainingSet, data.Validation, metricForBest, context.Device, callbacks,
            checkpointRoot: Path.Combine(context.Output, "checkpoints"), // also where an interrupted run leaves its checkpoint
            writeExtras: context.Tokenizer.Save)
        {
            PrecisionScope = run.PrecisionScope,
            RunId = runId,
            Warn = context.Warn,
            Parallel = ranks.Size > 1 ? new DataParallel(ranks, run.Request.Distributed.ChecksumSteps) : null,
        };
        var result = trainer.Train(run.Request.ResumeFrom, run.Request.Cancellation);
        data.AfterTraining(model);
        if (!context.WritesFiles) return (result, trainer.MetricForBest);
        var metadata = data.Metadata(new FineTuneMetadata { Task = task.Name, MaxLength = context.MaxLength, BaseModel = run.Request.Model });
        try
        {
            ModelFolder.Save(model, run.ModelDirectory, folder =>
            {
                context.Tokenizer.Save(folder);
                data.SaveExtras(folder);
                metadata.Save(folder);
            });
        }
        catch (IOException e) when (FileErrors.IsDiskFull(e))
        {
            throw new EnvironmentException(RunChecks.FinalSaveFailed(run.ModelDirectory, Path.Combine(context.Output, "checkpoints"), result.State, runId!), e);
        }
        return (result, trainer.MetricForBest);
    }

    /// <summary>Evaluates the trained model on each held-out split that has data (validation, then test), saying so first.</summary>
    private static (Dictionary<string, SplitResult> Splits, IReadOnlyDictionary<string, double>? Validation, IReadOnlyDictionary<string, double>? Test)
        EvaluateSplits(RunState run, TaskRun data, TaskModel model)
    {
        var splits = new Dictionary<string, SplitResult>();
        IReadOnlyDictionary<string, double>? validation = null, test = null;
        foreach (var (name, count) in data.HeldOut)
        {
            run.Context.Info($"Evaluating the trained model on {count} {name} {data.Unit} ...");
            var (metrics, result) = data.EvaluateSplit(model, name);
            if (name == "validation") validation = metrics;
            else test = metrics;
            splits[name] = result;
        }
        return (splits, validation, test);
    }

    /// <summary>Writes metrics.json, run.json and the report of a finished run, and returns its result.</summary>
    private static FineTuneResult Finish(RunState run, FineTuneTask task, TaskRun data, TrainerResult result, string metricForBest, LoadReport loadReport,
        Dictionary<string, SplitResult> splits, IReadOnlyDictionary<string, double>? validationMetrics, IReadOnlyDictionary<string, double>? testMetrics)
    {
        var request = run.Request;
        var context = run.Context;
        var state = result.State;
        var slices = splits.Where(s => s.Value.Slices is not null).ToDictionary(s => s.Key, s => s.Value.Slices!);
        var temperature = splits.Values.Select(s => s.Calibration?.Temperature).FirstOrDefault(t => t is not null and not 1.0);
        RunFiles.WriteMetrics(Path.Combine(context.Output, "metrics.json"), validationMetrics, testMetrics, state.BestStep, state.GlobalStep, state.MetricForBest,
            slices, temperature);
        var settings = new Dictionary<string, object?>(Settings(context.Training, request));
        if (run.Ranks > 1) settings["ranks"] = run.Ranks;
        foreach (var (key, value) in data.Settings) settings[key] = value;
        var record = new RunRecord
        {
            Task = task.Name,
            TaskTitle = task.Title,
            ErrorsBy = data.ErrorsBy,
            Model = request.Model,
            ModelFolder = context.ModelFolder,
            OutputModel = run.ModelDirectory,
            Started = run.Started,
            ElapsedSeconds = run.Clock.Elapsed.TotalSeconds,
            TrainingSeconds = result.Elapsed.TotalSeconds,
            Data = new RunData
            {
                TrainFile = request.Data.Train,
                ValidationFile = request.Data.Validation,
                TestFile = request.Data.Test,
                Columns = data.Columns,
                Splits = data.Summary.Splits.Select(s => new SplitCounts(s.Name, s.Count, s.Truncated ?? 0, s.LabelCounts)).ToList(),
                SkippedRows = data.Summary.SkippedCount,
                SkippedReasons = data.Summary.Skipped.SelectMany(s => s.FirstReasons).ToList(),
                MaxLength = context.MaxLength,
                UnknownTokenRate = run.UnknownTokenRate,
            },
            Settings = settings,
            LoadReport = loadReport.Describe(),
            Labels = data.Labels,
            MetricForBest = metricForBest,
            BestStep = state.BestStep,
            GlobalStep = state.GlobalStep,
            StoppedEarly = state.StoppedEarly,
            LogHistory = state.LogHistory,
            Splits = splits,
        };
        if (data.Analysis is { } analysisData)
        {
            var analysis = DataAnalyzer.Analyze(analysisData, context.Tokenizer, new AnalysisSettings(context.MaxLength));
            record = record with { DataAnalysis = analysis };
            foreach (var line in DataAnalysisPages.Describe(analysis)) context.Info("Data report: " + line);
        }
        RunFiles.WriteRecord(context.Output, record);
        foreach (var warning in RunReport.Write(context.Output, record).Warnings)
            context.Info("Report: " + warning);
        return new FineTuneResult(context.Output, run.ModelDirectory, validationMetrics, testMetrics, data.Summary, loadReport, state, run.Clock.Elapsed);
    }

    /// <summary>The run's hyperparameters for run.json (the task adds its own).</summary>
    private static IReadOnlyDictionary<string, object?> Settings(TrainingOptions t, FineTuneRequest r) => new Dictionary<string, object?>
    {
        ["epochs"] = t.Epochs, ["max_steps"] = t.MaxSteps, ["batch_size"] = t.BatchSize, ["learning_rate"] = t.LearningRate,
        ["weight_decay"] = t.WeightDecay, ["schedule"] = t.Schedule.ToString().ToLowerInvariant(), ["warmup_ratio"] = t.WarmupRatio,
        ["warmup_steps"] = t.WarmupSteps, ["max_grad_norm"] = t.MaxGradNorm, ["gradient_accumulation_steps"] = t.GradientAccumulationSteps,
        ["max_length"] = t.MaxLength, ["group_by_length"] = t.GroupByLength, ["precision"] = t.Precision.ToString().ToLowerInvariant(),
        ["seed"] = t.Seed, ["eval_strategy"] = t.EvalStrategy.ToString().ToLowerInvariant(), ["early_stopping_patience"] = t.EarlyStoppingPatience,
        ["device"] = r.Device, ["threads"] = torch.get_num_threads(), ["pooling"] = r.Load.ClassifierPooling ?? "auto",
    };
}
