namespace FineTune.Training;

/// <summary>What the trainer reports as it goes. The library never writes to the console; the CLI's reporter and
/// the run's log files are callbacks.</summary>
public interface ITrainerCallback
{
    /// <summary>Training is about to start (or resume) at <paramref name="state"/>; <paramref name="totalSteps"/> optimizer steps in all.</summary>
    void OnTrainBegin(TrainerState state, long totalSteps) { }

    /// <summary>After every optimizer step.</summary>
    void OnStep(TrainerState state, StepInfo step) { }

    /// <summary>Periodic training log (every logging_steps): loss, learning_rate, grad_norm, examples_per_second, epoch.</summary>
    void OnLog(TrainerState state, IReadOnlyDictionary<string, double> values) { }

    /// <summary>Before an evaluation of <paramref name="examples"/> examples starts.</summary>
    void OnEvaluateBegin(TrainerState state, int examples) { }

    /// <summary>After an evaluation on the validation set.</summary>
    void OnEvaluate(TrainerState state, IReadOnlyDictionary<string, double> metrics, bool improved) { }

    /// <summary>After a checkpoint folder was written.</summary>
    void OnSave(TrainerState state, string checkpointFolder) { }

    void OnTrainEnd(TrainerState state) { }
}

/// <summary>One optimizer step as seen by callbacks.</summary>
public sealed record StepInfo(long Step, long TotalSteps, double Epoch, double LearningRate, long Examples, TimeSpan Elapsed);
