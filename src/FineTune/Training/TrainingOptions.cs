using FineTune.Configuration;

namespace FineTune.Training;

/// <summary>The learning-rate schedules: linear decay (default), cosine decay, constant; each after a linear warmup.</summary>
public enum ScheduleKind { Linear, Cosine, Constant }

/// <summary>When to evaluate or save: at the end of each epoch, every N optimizer steps, or never.</summary>
public enum IntervalKind { Epoch, Steps, No }

/// <summary>How to weight classes in single-label cross-entropy.</summary>
public enum ClassWeighting { None, Auto, Explicit }

/// <summary>
/// Arithmetic precision of the forward and backward passes; weights and optimizer state stay fp32. Auto is bf16 on a
/// CPU with AMX (measured about twice as fast at the same accuracy, docs/performance.md) and fp32 elsewhere.
/// </summary>
public enum Precision { Fp32, Bf16, Auto }

/// <summary>
/// The hyperparameters of a fine-tuning run. Defaults follow Hugging Face's Trainer where it has one
/// (AdamW betas and epsilon, linear schedule, gradient clipping at 1.0) and common BERT fine-tuning practice
/// otherwise (weight decay 0.01, batch 32, 3 epochs). The learning rate (1e-4) and warmup (10% of the steps) are
/// chosen by measurement for the packaged 6-layer, 384-wide models (docs/results.md); base-size models (768 wide,
/// 12 layers) are usually fine-tuned at 2e-5 to 5e-5.
/// </summary>
public sealed record TrainingOptions
{
    public TaskKind Task { get; init; } = TaskKind.SingleLabelClassification;
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
    /// <summary>Tokens per example after truncation.</summary>
    public int MaxLength { get; init; } = 128;
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
    /// <summary>The metric that picks the best model; null picks the task's default (accuracy, f1_micro, pearson, f1, exact_match…).</summary>
    public string? MetricForBest { get; init; }
    /// <summary>Log the training loss every N steps; 0 picks about 30 points per run, at most every 50 steps.</summary>
    public int LoggingSteps { get; init; }

    public ClassWeighting ClassWeighting { get; init; } = ClassWeighting.None;
    public IReadOnlyList<float>? ClassWeights { get; init; }
    public double LabelSmoothing { get; init; }
    public RegressionLossKind RegressionLoss { get; init; } = RegressionLossKind.Mse;
    /// <summary>Probability threshold for a label in multi-label predictions.</summary>
    public double Threshold { get; init; } = 0.5;

    /// <summary>Checks ranges; throws <see cref="FineTuneException"/> naming the option.</summary>
    public void Validate()
    {
        void Check(bool ok, string option, string message)
        {
            if (!ok) throw new FineTuneException($"--{option}: {message}");
        }
        Check(Epochs > 0 || MaxSteps > 0, "epochs", "must be positive (or give --max-steps)");
        Check(MaxSteps >= 0, "max-steps", "must not be negative");
        Check(BatchSize > 0, "batch-size", "must be positive");
        Check(EvalBatchSize > 0, "eval-batch-size", "must be positive");
        Check(LearningRate > 0 && LearningRate < 1, "learning-rate", $"must be in (0, 1), got {LearningRate}");
        Check(WeightDecay >= 0, "weight-decay", "must not be negative");
        Check(AdamBeta1 is >= 0 and < 1, "adam-beta1", "must be in [0, 1)");
        Check(AdamBeta2 is >= 0 and < 1, "adam-beta2", "must be in [0, 1)");
        Check(AdamEpsilon > 0, "adam-epsilon", "must be positive");
        Check(WarmupRatio is >= 0 and < 1, "warmup-ratio", "must be in [0, 1)");
        Check(WarmupSteps >= 0, "warmup-steps", "must not be negative");
        Check(MaxGradNorm >= 0, "max-grad-norm", "must not be negative");
        Check(GradientAccumulationSteps > 0, "gradient-accumulation-steps", "must be positive");
        Check(MaxLength is >= 8 and <= 8192, "max-length", "must be between 8 and 8192");
        Check(EvalSteps > 0, "eval-steps", "must be positive");
        Check(SaveSteps > 0, "save-steps", "must be positive");
        Check(SaveTotalLimit >= 0, "save-total-limit", "must not be negative");
        Check(EarlyStoppingPatience >= 0, "early-stopping-patience", "must not be negative");
        Check(EarlyStoppingPatience == 0 || EvalStrategy != IntervalKind.No, "early-stopping-patience", "needs evaluation (--eval-strategy epoch or steps)");
        Check(LoggingSteps >= 0, "logging-steps", "must not be negative");
        Check(LabelSmoothing is >= 0 and < 1, "label-smoothing", "must be in [0, 1)");
        Check(Threshold is > 0 and < 1, "threshold", "must be in (0, 1)");
        Check(ClassWeighting != ClassWeighting.Explicit || ClassWeights is { Count: > 0 }, "class-weights", "needs a list of weights");
        Check(ClassWeights is null || ClassWeights.All(w => w > 0 && float.IsFinite(w)), "class-weights", "weights must be positive numbers");
    }
}
