namespace FineTune.Configuration;

/// <summary>The learning-rate schedules: linear decay (default), cosine decay, constant; each after a linear warmup.</summary>
public enum ScheduleKind { Linear, Cosine, Constant }

/// <summary>When to evaluate or save: at the end of each epoch, every N optimizer steps, or never.</summary>
public enum IntervalKind { Epoch, Steps, No }

/// <summary>
/// Arithmetic precision of the forward and backward passes; weights and optimizer state stay fp32. Auto is bf16 on a
/// CPU with bf16 dot-product instructions — AMX, or AVX512-BF16 without AMX (training steps measured about 2× and
/// 2.6–3.2× as fast at the same accuracy, docs/performance.md) — and fp32 elsewhere. Int8 runs
/// an export folder's quantized model (prediction and evaluation).
/// </summary>
public enum Precision
{
    Fp32,
    Bf16,
    Auto,

    /// <summary>An export folder's int8 model (finetune export with int8 quantization): prediction and evaluation only.</summary>
    Int8,
}

/// <summary>
/// The hyperparameters of a fine-tuning run that every task shares (a task's own settings, such as its loss, are in
/// its options record). Defaults follow Hugging Face's Trainer where it has one (AdamW betas and epsilon, linear
/// schedule, gradient clipping at 1.0) and common BERT fine-tuning practice otherwise (weight decay 0.01, batch 32,
/// 3 epochs). The learning rate (1e-4) and warmup (10% of the steps) are chosen by measurement for the packaged
/// 6-layer, 384-wide models (docs/results.md); base-size models (768 wide, 12 layers) are usually fine-tuned at
/// 2e-5 to 5e-5.
/// </summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 3;
    /// <summary>Stop after this many optimizer steps (overrides epochs when positive).</summary>
    public int MaxSteps { get; init; }
    public int BatchSize { get; init; } = 32;
    public int EvalBatchSize { get; init; } = 64;
    public double LearningRate { get; init; } = 1e-4;
    public double WeightDecay { get; init; } = 0.01;
    public double AdamBeta1 { get; init; } = 0.9;
    public double AdamBeta2 { get; init; } = 0.999;
    public double AdamEpsilon { get; init; } = 1e-8;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Linear;
    /// <summary>Fraction of the total steps spent warming up (used when <see cref="WarmupSteps"/> is 0).</summary>
    public double WarmupRatio { get; init; } = 0.1;
    public int WarmupSteps { get; init; }
    /// <summary>Clip the global gradient norm to this (0 disables clipping).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    public int GradientAccumulationSteps { get; init; } = 1;
    /// <summary>
    /// Seeds the splits, shuffling, the new head's initialisation and dropout: the same seed gives the same model, as
    /// long as nothing else in the process draws from torch's (process-wide) generator during the run.
    /// </summary>
    public int Seed { get; init; } = 42;
    /// <summary>Tokens per model input after truncation; null: the task's default (128; 384 per window for question answering).</summary>
    public int? MaxLength { get; init; }
    /// <summary>Group examples of similar length into batches (Hugging Face's group_by_length).</summary>
    public bool GroupByLength { get; init; } = true;
    public Precision Precision { get; init; } = Precision.Auto;

    public IntervalKind EvalStrategy { get; init; } = IntervalKind.Epoch;
    public int EvalSteps { get; init; } = 500;
    public IntervalKind SaveStrategy { get; init; } = IntervalKind.Epoch;
    public int SaveSteps { get; init; } = 500;
    /// <summary>Keep at most this many checkpoints (the best one is always kept); 0 keeps all.</summary>
    public int SaveTotalLimit { get; init; } = 2;
    /// <summary>Stop when the metric for best has not improved for this many evaluations (0 disables).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>The metric that picks the best model; null picks the task's default (accuracy, f1_micro, pearson, f1, …).</summary>
    public string? MetricForBest { get; init; }
    /// <summary>Log the training loss every N steps; 0 picks about 30 points per run, at most every 50 steps.</summary>
    public int LoggingSteps { get; init; }

    /// <summary>Checks ranges; throws an <see cref="OptionException"/> naming the property.</summary>
    public void Validate()
    {
        static void Check(bool ok, string property, string message)
        {
            if (!ok) throw new OptionException($"{nameof(TrainingOptions)}.{property}", message);
        }
        Check(Epochs > 0 || MaxSteps > 0, nameof(Epochs), $"must be positive (or give {nameof(TrainingOptions)}.{nameof(MaxSteps)})");
        Check(MaxSteps >= 0, nameof(MaxSteps), "must not be negative");
        Check(BatchSize > 0, nameof(BatchSize), "must be positive");
        Check(EvalBatchSize > 0, nameof(EvalBatchSize), "must be positive");
        Check(Precision != Precision.Int8, nameof(Precision), "int8 is an export's quantized model, for prediction and evaluation; train in fp32, bf16 or auto");
        Check(LearningRate > 0 && LearningRate < 1, nameof(LearningRate), $"must be in (0, 1), got {LearningRate}");
        Check(WeightDecay >= 0, nameof(WeightDecay), "must not be negative");
        Check(AdamBeta1 is >= 0 and < 1, nameof(AdamBeta1), "must be in [0, 1)");
        Check(AdamBeta2 is >= 0 and < 1, nameof(AdamBeta2), "must be in [0, 1)");
        Check(AdamEpsilon > 0, nameof(AdamEpsilon), "must be positive");
        Check(WarmupRatio is >= 0 and < 1, nameof(WarmupRatio), "must be in [0, 1)");
        Check(WarmupSteps >= 0, nameof(WarmupSteps), "must not be negative");
        Check(MaxGradNorm >= 0, nameof(MaxGradNorm), "must not be negative");
        Check(GradientAccumulationSteps > 0, nameof(GradientAccumulationSteps), "must be positive");
        Check(MaxLength is null or (>= 8 and <= 8192), nameof(MaxLength), "must be between 8 and 8192");
        Check(EvalSteps > 0, nameof(EvalSteps), "must be positive");
        Check(SaveSteps > 0, nameof(SaveSteps), "must be positive");
        Check(SaveTotalLimit >= 0, nameof(SaveTotalLimit), "must not be negative");
        Check(EarlyStoppingPatience >= 0, nameof(EarlyStoppingPatience), "must not be negative");
        Check(EarlyStoppingPatience == 0 || EvalStrategy != IntervalKind.No, nameof(EarlyStoppingPatience),
            $"needs evaluation ({nameof(TrainingOptions)}.{nameof(EvalStrategy)} epoch or steps)");
        Check(LoggingSteps >= 0, nameof(LoggingSteps), "must not be negative");
    }
}

/// <summary>
/// The base of each task's own options (its loss, decoding, how its files are read): a task accepts its own
/// subclass, and takes its defaults when none is given. The properties of a subclass are what front ends offer for
/// the task (the CLI: one flag each, named after the property).
/// </summary>
public abstract record TaskOptions
{
    /// <summary>Checks the values; throws an <see cref="OptionException"/> naming the property.</summary>
    public virtual void Validate() { }

    /// <summary>Throws an <see cref="OptionException"/> naming <paramref name="property"/> of this record's type when <paramref name="ok"/> is false.</summary>
    protected void Check(bool ok, string property, string message)
    {
        if (!ok) throw new OptionException($"{GetType().Name}.{property}", message);
    }
}

/// <summary>Marks a task option that also applies when a saved model evaluates or predicts (not only in training).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class UsedByPredictionAttribute : Attribute;

/// <summary>Marks a task option that changes how the data files are read (so also applies when a dataset is analysed).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ReadsDataAttribute : Attribute;
