using System.Diagnostics;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Modeling;
using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Training;

/// <summary>What training produced: the final state and the best validation metrics (when there was evaluation).</summary>
internal sealed record TrainerResult(TrainerState State, IReadOnlyDictionary<string, double>? BestMetrics, TimeSpan Elapsed);

/// <summary>
/// The training loop, and only the loop: batches (length-grouped by default) → forward → summed loss → backward,
/// accumulated over micro-batches and normalised by their true count → clip → AdamW step with the scheduled rate.
/// Evaluation, checkpoints, early stopping and logging happen at the cadence decided in <see cref="Cadence"/>; the
/// best model (by the metric for best) is restored at the end.
/// </summary>
internal sealed class Trainer
{
    private readonly TaskModel _model;
    private readonly TrainingOptions _options;
    private readonly ITrainingSet _train;
    private readonly IValidationSet? _validation;
    private readonly Device _device;
    private readonly IReadOnlyList<ITrainerCallback> _callbacks;
    private readonly string? _checkpointRoot;
    private readonly Action<string>? _writeExtras;

    /// <param name="validation">The validation set, or null to train without evaluation.</param>
    /// <param name="metricForBest">The validation metric that picks the best model (<see cref="TrainingOptions.MetricForBest"/>, or the task's default).</param>
    /// <param name="checkpointRoot">Folder for checkpoint-NNNNNN/ folders; null saves none.</param>
    /// <param name="writeExtras">Writes the files a checkpoint needs besides the model (tokenizer files).</param>
    public Trainer(TaskModel model, TrainingOptions options, ITrainingSet train, IValidationSet? validation, string metricForBest, Device device,
        IReadOnlyList<ITrainerCallback>? callbacks = null, string? checkpointRoot = null, Action<string>? writeExtras = null)
    {
        options.Validate();
        if (train.Count == 0) throw new FineTuneException("there are no training examples");
        _model = model;
        _options = options;
        _train = train;
        _validation = validation is { Count: > 0 } ? validation : null;
        _device = device;
        _callbacks = callbacks ?? [];
        _checkpointRoot = checkpointRoot;
        _writeExtras = writeExtras;
        MetricForBest = metricForBest;
    }

    /// <summary>The metric that picks the best model.</summary>
    public string MetricForBest { get; }

    /// <summary>A scope around forward passes that sets the arithmetic precision (bf16 autocast); null for fp32.</summary>
    public Func<IDisposable?>? PrecisionScope { get; init; }

    /// <summary>The run the checkpoints belong to: recorded in each, and the only ones rotation deletes.</summary>
    public string? RunId { get; init; }

    /// <summary>Receives warnings (a checkpoint that could not be written for lack of space).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>
    /// The ranks of a data-parallel run (<see cref="DataParallel"/>); null: this process trains alone. Every rank
    /// runs the same trainer; only rank 0 writes checkpoints (its callbacks are the ones that write files).
    /// </summary>
    public DataParallel? Parallel { get; init; }

    private bool WritesFiles => Parallel is null || Parallel.Rank == 0;

    /// <summary>Optimizer steps per epoch: micro-batches per epoch over accumulation steps, rounded up.</summary>
    public static long StepsPerEpoch(int examples, TrainingOptions options) =>
        ((examples + options.BatchSize - 1) / options.BatchSize + options.GradientAccumulationSteps - 1) / options.GradientAccumulationSteps;

    public TrainerResult Train(string? resumeFrom = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var sampler = _options.GroupByLength
            ? (BatchSampler)new LengthGroupedBatchSampler(Enumerable.Range(0, _train.Count).Select(_train.LengthOf).ToArray(), _options.BatchSize, _options.Seed)
            : new ShuffledBatchSampler(_train.Count, _options.BatchSize, _options.Seed);
        long stepsPerEpoch = StepsPerEpoch(_train.Count, _options);
        long totalSteps = _options.MaxSteps > 0 ? _options.MaxSteps : stepsPerEpoch * _options.Epochs;
        int epochs = _options.MaxSteps > 0 ? (int)((totalSteps + stepsPerEpoch - 1) / stepsPerEpoch) : _options.Epochs;
        long warmup = LearningRateSchedule.WarmupSteps(_options, totalSteps);
        long loggingSteps = _options.LoggingSteps > 0 ? _options.LoggingSteps : Math.Clamp(totalSteps / 30, 1, 50);

        using var optimizer = new FusedAdamW(_model.named_parameters(), _options.LearningRate, _options.WeightDecay,
            _options.AdamBeta1, _options.AdamBeta2, _options.AdamEpsilon);
        var state = new TrainerState { MaxSteps = totalSteps, MetricForBest = MetricForBest, RunId = RunId };
        var best = new BestModel();
        IReadOnlyDictionary<string, double>? bestMetrics = null;
        if (resumeFrom is not null)
        {
            state = Resume(resumeFrom, optimizer, best);
            state.RunId = RunId ?? state.RunId;
        }
        else
            random.manual_seed(_options.Seed);
        if (Parallel is { } parallel)
        {
            // Dropout draws from each rank's own stream: rank 0 the run's (saved in checkpoints), the others one of
            // their own from the seed, the rank and the step, so that no two ranks draw the same masks.
            if (parallel.Rank > 0)
                random.manual_seed(DataParallel.DropoutSeed(_options.Seed, parallel.Rank, state.GlobalStep));
            parallel.CheckSameModel(optimizer, state.GlobalStep, _train.Count, totalSteps);
        }

        _model.train();
        foreach (var c in _callbacks) c.OnTrainBegin(state, totalSteps);
        var window = new LogWindow();
        var heap = GlibcHeapGuard.ForThisProcess();
        bool stop = state.GlobalStep >= totalSteps;
        for (int epoch = state.Epoch; epoch < epochs && !stop; epoch++)
        {
            var batches = sampler.GetBatches(epoch);
            int batchIndex = epoch == state.Epoch ? state.BatchInEpoch : 0;
            state.Epoch = epoch;
            while (batchIndex < batches.Count && !stop)
            {
                if (Parallel is null ? cancellation.IsCancellationRequested
                        : Parallel.AnyRank(cancellation.IsCancellationRequested, $"the stop request before step {state.GlobalStep + 1}"))
                {
                    // Stop between steps; what was trained so far is kept in a checkpoint to resume from.
                    string? saved = null;
                    if (_checkpointRoot is not null && state.GlobalStep > 0)
                        saved = SaveCheckpoint(state, optimizer, best);
                    throw new TrainingInterruptedException(state.GlobalStep, saved);
                }
                int groupEnd = Math.Min(batchIndex + _options.GradientAccumulationSteps, batches.Count);
                int examples = 0;
                using (var scope = NewDisposeScope())
                {
                    optimizer.ZeroGrad();
                    double denominator = 0;
                    for (int b = batchIndex; b < groupEnd; b++)
                    {
                        var indices = batches[b];
                        examples += indices.Length;
                        if (Parallel is not null)
                        {
                            indices = Communicators.Shard(indices, Parallel.Rank, Parallel.Size);
                            if (indices.Length == 0) continue;
                        }
                        var input = _train.Collate(indices, _device);
                        ModelOutput output;
                        using (PrecisionScope?.Invoke())
                            output = _model.call(input);
                        var lossSum = output.LossSum ?? throw new FineTuneException("the model returned no loss: the training data has no labels");
                        heap?.BeforeBackward(input.InputIds.shape[0], input.InputIds.shape[1]);
                        lossSum.backward();
                        denominator += output.LossDenominator;
                        window.Add(lossSum.detach());
                    }
                    window.AddDenominator(denominator);
                    optimizer.EnsureGradViews();
                    if (Parallel is not null)
                        denominator = Parallel.ReduceGradients(optimizer, denominator, state.GlobalStep + 1);
                    // Gradients of summed losses, divided once by the true total over all micro-batches.
                    optimizer.ScaleGradients(1.0 / Math.Max(denominator, 1e-12));
                    double gradNorm = optimizer.ClipGradNorm(_options.MaxGradNorm);
                    double lr = _options.LearningRate * LearningRateSchedule.Multiplier(_options.Schedule, state.GlobalStep, warmup, totalSteps);
                    optimizer.LearningRate = lr;
                    optimizer.Step();
                    window.AddStep(gradNorm, lr, examples);
                }
                heap?.AfterStep();
                batchIndex = groupEnd;
                state.GlobalStep++;
                state.BatchInEpoch = batchIndex;
                state.ExamplesSeen += examples;
                double epochProgress = epoch + (double)batchIndex / batches.Count;
                bool endOfEpoch = batchIndex >= batches.Count;
                bool lastStep = state.GlobalStep >= totalSteps;
                if (endOfEpoch) { state.Epoch = epoch + 1; state.BatchInEpoch = 0; }
                if (state.GlobalStep % loggingSteps == 0 || state.GlobalStep == 1 || lastStep || endOfEpoch)
                    Log(state, window, epochProgress);
                if (Parallel is not null && Parallel.ChecksumDue(state.GlobalStep, lastStep))
                    Parallel.CheckSameModel(optimizer, state.GlobalStep, _train.Count, totalSteps);
                foreach (var c in _callbacks)
                    c.OnStep(state, new StepInfo(state.GlobalStep, totalSteps, epochProgress, optimizer.LearningRate, state.ExamplesSeen, clock.Elapsed));
                if (Cadence.Due(_options.EvalStrategy, _options.EvalSteps, state.GlobalStep, endOfEpoch, lastStep) && CanEvaluate)
                {
                    var metrics = Evaluate(state, best, epochProgress);
                    if (best.Step == state.GlobalStep) bestMetrics = metrics;
                    if (_options.EarlyStoppingPatience > 0 && state.EvaluationsWithoutImprovement >= _options.EarlyStoppingPatience)
                    {
                        state.StoppedEarly = true;
                        stop = true;
                    }
                }
                if (_checkpointRoot is not null && (Cadence.Due(_options.SaveStrategy, _options.SaveSteps, state.GlobalStep, endOfEpoch, lastStep) || (stop && _options.SaveStrategy != IntervalKind.No)))
                    SaveCheckpoint(state, optimizer, best);
                if (lastStep) stop = true;
            }
        }

        if (best.Weights is not null)
            best.RestoreInto(_model);
        else if (best.Folder is not null && state.BestStep != state.GlobalStep)
            LoadWeights(best.Folder);
        _model.eval();
        foreach (var c in _callbacks) c.OnTrainEnd(state);
        best.Dispose();
        return new TrainerResult(state, bestMetrics, clock.Elapsed);
    }

    private bool CanEvaluate => _validation is not null;

    private void Log(TrainerState state, LogWindow window, double epoch)
    {
        if (window.Steps == 0) return;
        var values = new Dictionary<string, double>
        {
            ["step"] = state.GlobalStep,
            ["epoch"] = Math.Round(epoch, 4),
            ["loss"] = Parallel is null ? window.MeanLoss() : Parallel.MeanLoss(window.LossSum(), window.Denominator, state.GlobalStep),
            ["learning_rate"] = window.LastLearningRate,
            ["grad_norm"] = window.MeanGradNorm,
            ["examples_per_second"] = window.ExamplesPerSecond,
        };
        if (Parallel is not null)
            values["allreduce_seconds"] = Math.Round(Parallel.TakeReduceSeconds() / window.Steps, 6);
        state.LogHistory.Add(values);
        foreach (var c in _callbacks) c.OnLog(state, values);
        window.Reset();
    }

    private IReadOnlyDictionary<string, double> Evaluate(TrainerState state, BestModel best, double epoch)
    {
        foreach (var c in _callbacks) c.OnEvaluateBegin(state, _validation!.Count);
        var metrics = _validation!.Evaluate(_model, _device);
        if (!metrics.TryGetValue(MetricForBest, out var value))
            throw new OptionException($"{nameof(TrainingOptions)}.{nameof(TrainingOptions.MetricForBest)}",
                $"'{MetricForBest}' is not among the evaluation metrics: {string.Join(", ", metrics.Keys)}");
        bool higherIsBetter = _validation.HigherIsBetter(MetricForBest);
        bool improved = state.BestMetric is null || (higherIsBetter ? value > state.BestMetric.Value : value < state.BestMetric.Value);
        if (improved)
        {
            state.BestMetric = value;
            state.BestStep = state.GlobalStep;
            state.EvaluationsWithoutImprovement = 0;
            best.Capture(_model, state.GlobalStep);
        }
        else
        {
            state.EvaluationsWithoutImprovement++;
        }
        var logged = new Dictionary<string, double> { ["step"] = state.GlobalStep, ["epoch"] = Math.Round(epoch, 4) };
        foreach (var (k, v) in metrics) logged["eval_" + k] = v;
        state.LogHistory.Add(logged);
        foreach (var c in _callbacks) c.OnEvaluate(state, metrics, improved);
        return metrics;
    }

    // ---- checkpoints -------------------------------------------------------------------------------------------

    private const string BestFolderName = "best-model";

    /// <summary>
    /// Writes a checkpoint (and the best model, when it changed) and rotates the old ones. A disk that is full is a
    /// warning: whatever was half-written is removed, the previous checkpoints stay as they are, training goes on, and
    /// the result is null.
    /// </summary>
    private string? SaveCheckpoint(TrainerState state, FusedAdamW optimizer, BestModel best)
    {
        try
        {
            return WriteCheckpoint(state, optimizer, best);
        }
        catch (IOException e) when (FileErrors.IsDiskFull(e))
        {
            var free = DiskSpace.FreeBytes(_checkpointRoot!);
            Warn?.Invoke($"no space left on the device for the checkpoint of step {state.GlobalStep} in {_checkpointRoot}"
                + (free is long f ? $" ({f / 1e6:0} MB free)" : "") + "; the previous checkpoints are intact and training goes on");
            return null;
        }
    }

    private string WriteCheckpoint(TrainerState state, FusedAdamW optimizer, BestModel best)
    {
        var root = _checkpointRoot!;
        if (!WritesFiles) return Path.Combine(root, $"checkpoint-{state.GlobalStep:D6}");
        Directory.CreateDirectory(root);
        // The best weights go to disk before the checkpoint that may be resumed from, so a resume can restore them.
        if (best.Weights is not null && best.PersistedStep != best.Step)
        {
            var bestFolder = Path.Combine(root, BestFolderName);
            AtomicFolder.Write(bestFolder, tmp =>
            {
                SafeTensors.Save(Path.Combine(tmp, WeightFiles.SafeTensorsName), best.Weights!);
                File.WriteAllText(Path.Combine(tmp, "step.txt"), best.Step.ToString());
            });
            best.PersistedStep = best.Step;
            best.Folder = bestFolder;
        }
        state.RngState = Convert.ToBase64String(random.get_rng_state().data<byte>().ToArray());
        var folder = Path.Combine(root, $"checkpoint-{state.GlobalStep:D6}");
        AtomicFolder.Write(folder, tmp =>
        {
            ModelFolder.WriteModelFiles(_model, tmp);
            SafeTensors.Save(Path.Combine(tmp, "optimizer.safetensors"), optimizer.StateDict());
            File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), state.ToJson());
            File.WriteAllText(Path.Combine(tmp, "training_options.json"), TrainingOptionsJson.Serialize(_options));
            _writeExtras?.Invoke(tmp);
        });
        foreach (var c in _callbacks) c.OnSave(state, folder);
        RotateCheckpoints(root, state);
        return folder;
    }

    /// <summary>
    /// Keeps the newest <see cref="TrainingOptions.SaveTotalLimit"/> checkpoints of this run (by step); checkpoints of
    /// other runs, or of no recorded run, are never touched. Deletes go through a trash name.
    /// </summary>
    private void RotateCheckpoints(string root, TrainerState state)
    {
        if (_options.SaveTotalLimit <= 0) return;
        var ours = Checkpoint.List(root).Where(c => c.State.RunId == state.RunId).OrderBy(c => c.State.GlobalStep).ToList();
        foreach (var old in ours.Take(Math.Max(0, ours.Count - _options.SaveTotalLimit)))
            Trash.Delete(old.Folder);
    }

    private TrainerState Resume(string folder, FusedAdamW optimizer, BestModel best)
    {
        var state = TrainerState.Load(Path.Combine(folder, "trainer_state.json"));
        LoadWeights(folder);
        var optimizerPath = Path.Combine(folder, "optimizer.safetensors");
        var optimizerState = SafeTensors.Load(optimizerPath);
        try { optimizer.LoadStateDict(optimizerState, optimizerPath); }
        finally { foreach (var t in optimizerState.Values) t.Dispose(); }
        if (state.RngState is not null)
        {
            using var rng = tensor(Convert.FromBase64String(state.RngState));
            random.set_rng_state(rng);
        }
        var bestFolder = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(folder))!, BestFolderName);
        if (state.BestStep is { } bestStep && File.Exists(Path.Combine(bestFolder, "step.txt"))
            && long.Parse(File.ReadAllText(Path.Combine(bestFolder, "step.txt"))) == bestStep)
        {
            best.Folder = bestFolder;
            best.Step = bestStep;
            best.PersistedStep = bestStep;
        }
        return state;
    }

    private void LoadWeights(string folder)
    {
        var weights = WeightFiles.Load(folder);
        try
        {
            var state = _model.state_dict();
            using var _ = no_grad();
            foreach (var (key, value) in weights)
            {
                // Checkpoints are written by this trainer for this model: every key must match exactly.
                var key2 = state.ContainsKey(key) ? key : _model.Family.BaseModelPrefix + "." + key;
                if (!state.TryGetValue(key2, out var target) || !target.shape.SequenceEqual(value.shape))
                    throw new ModelLoadException("does not fit the model being trained (a checkpoint of another model or task?)", folder, key);
                target.copy_(value);
            }
            if (weights.Count != state.Count)
                throw new ModelLoadException($"has {weights.Count} tensors but the model has {state.Count}", folder);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }

    /// <summary>The best weights so far, in memory (and on disk once a checkpoint was saved after them).</summary>
    private sealed class BestModel : IDisposable
    {
        public Dictionary<string, Tensor>? Weights;
        public long Step = -1;
        public long PersistedStep = -1;
        public string? Folder;

        public void Capture(TaskModel model, long step)
        {
            DisposeWeights();
            // The scope holds the temporaries (detach, cpu) until the copies exist; only the copies leave it.
            using var scope = NewDisposeScope();
            Weights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().clone().DetachFromDisposeScope());
            Step = step;
        }

        public void RestoreInto(TaskModel model)
        {
            using var _ = no_grad();
            var state = model.state_dict();
            foreach (var (k, v) in Weights!) state[k].copy_(v);
        }

        private void DisposeWeights()
        {
            if (Weights is null) return;
            foreach (var t in Weights.Values) t.Dispose();
            Weights = null;
        }

        public void Dispose() => DisposeWeights();
    }

    /// <summary>Loss, gradient norm and throughput since the last log line; losses stay tensors until read.</summary>
    private sealed class LogWindow
    {
        private Tensor? _lossSum;
        private double _denominator, _gradNormSum;
        private long _examples;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        public int Steps { get; private set; }
        public double LastLearningRate { get; private set; }

        public void Add(Tensor lossSum)
        {
            var detached = lossSum.to(ScalarType.Float64).DetachFromDisposeScope();
            if (_lossSum is null) { _lossSum = detached; return; }
            var sum = _lossSum.add(detached).DetachFromDisposeScope();
            _lossSum.Dispose();
            detached.Dispose();
            _lossSum = sum;
        }

        public void AddDenominator(double d) => _denominator += d;

        public void AddStep(double gradNorm, double lr, int examples)
        {
            _gradNormSum += gradNorm;
            LastLearningRate = lr;
            _examples += examples;
            Steps++;
        }

        public double MeanLoss() => _lossSum is null ? double.NaN : _lossSum.item<double>() / Math.Max(_denominator, 1e-12);
        public double LossSum() => _lossSum is null ? 0 : _lossSum.item<double>();
        public double Denominator => _denominator;
        public double MeanGradNorm => _gradNormSum / Math.Max(1, Steps);
        public double ExamplesPerSecond => _examples / Math.Max(1e-9, _clock.Elapsed.TotalSeconds);

        public void Reset()
        {
            _lossSum?.Dispose();
            _lossSum = null;
            _denominator = _gradNormSum = 0;
            _examples = 0;
            Steps = 0;
            _clock.Restart();
        }
    }
}

/// <summary>Training was stopped on request (Ctrl+C) between two steps.</summary>
public sealed class TrainingInterruptedException(long step, string? checkpoint)
    : FineTuneException(checkpoint is null
        ? $"training interrupted at step {step}; no checkpoint was written (TrainingOptions.SaveStrategy no, or no space left)"
        : $"training interrupted at step {step}; continue with FineTuneRequest.ResumeFrom {checkpoint}")
{
    public long Step { get; } = step;
    public string? Checkpoint { get; } = checkpoint;
}

/// <summary>When something happens: at each epoch's end, every N steps, or never; and always at the last step.</summary>
internal static class Cadence
{
    public static bool Due(IntervalKind kind, int everySteps, long step, bool endOfEpoch, bool lastStep) => kind switch
    {
        IntervalKind.Epoch => endOfEpoch || lastStep,
        IntervalKind.Steps => step % everySteps == 0 || lastStep,
        _ => false,
    };
}
