namespace FineTune.Training;

/// <summary>The learning-rate multiplier of a step: a pure function, wrapped by the trainer.</summary>
internal static class LearningRateSchedule
{
    /// <summary>
    /// Multiplier of the base learning rate for optimizer step <paramref name="step"/> (0-based, the step about to
    /// be taken): linear warmup from 0 over <paramref name="warmupSteps"/>, then linear decay to 0 at
    /// <paramref name="totalSteps"/>, half-cosine decay to 0, or constant. Matches Hugging Face's get_*_schedule_with_warmup.
    /// </summary>
    public static double Multiplier(ScheduleKind kind, long step, long warmupSteps, long totalSteps)
    {
        if (step < warmupSteps)
            return (double)step / Math.Max(1, warmupSteps);
        if (kind == ScheduleKind.Constant)
            return 1.0;
        double progress = (double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps);
        return kind switch
        {
            ScheduleKind.Cosine => Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress))),
            _ => Math.Max(0.0, (double)(totalSteps - step) / Math.Max(1, totalSteps - warmupSteps)),
        };
    }

    /// <summary>Warmup steps from explicit steps or a ratio of the total (explicit steps win), as Hugging Face rounds up.</summary>
    public static long WarmupSteps(TrainingOptions options, long totalSteps) =>
        options.WarmupSteps > 0 ? options.WarmupSteps : (long)Math.Ceiling(options.WarmupRatio * totalSteps);
}
