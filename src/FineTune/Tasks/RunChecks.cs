using System.Globalization;
using FineTune.Checkpoints;
using FineTune.Modeling;
using FineTune.Text;
using FineTune.Training;

namespace FineTune.Tasks;

/// <summary>
/// What a run checks once its data is tokenized and before it trains, so that it stops (or warns) at once rather
/// than after hours, or with a useless model: the metric that picks the best model, the share of unknown tokens,
/// and the disk space that checkpoints and the model will take. Also the message of a final save that failed.
/// </summary>
internal static class RunChecks
{
    /// <summary>Above this share of [UNK] tokens the run warns.</summary>
    public const double UnknownTokenWarning = 0.05;

    /// <summary>Above this share of [UNK] tokens the run stops (unless <see cref="Data.DatasetOptions.AllowUnknownTokens"/>).</summary>
    public const double UnknownTokenError = 0.5;

    /// <summary>
    /// Checks the metric for the best model against the validation set's metrics and measures the training tokens'
    /// [UNK] share (said, warned about above 5%, an error above 50%); returns the share.
    /// </summary>
    public static double? BeforeTraining(RunContext run, TaskRun data, FineTuneTask task)
    {
        var metric = run.Training.MetricForBest ?? task.DefaultMetricForBest;
        if (data.Validation is { } validation && run.Training.EvalStrategy != IntervalKind.No && !validation.MetricNames.Contains(metric))
            throw new OptionException($"{nameof(TrainingOptions)}.{nameof(TrainingOptions.MetricForBest)}",
                $"'{metric}' is not among the {task.Name} task's validation metrics: {string.Join(", ", validation.MetricNames)}");
        foreach (var warning in data.Summary.Warnings) run.Warn(warning);
        return UnknownTokens(run, data);
    }

    private static double? UnknownTokens(RunContext run, TaskRun data)
    {
        var tokenizer = run.Tokenizer;
        var special = new HashSet<int>(tokenizer.WithSpecialTokens([])) { tokenizer.PaddingTokenId };
        special.Remove(tokenizer.UnknownTokenId);
        long tokens = 0, unknown = 0;
        foreach (var ids in data.TrainingSet.Sequences)
            foreach (var id in ids)
            {
                if (special.Contains(id)) continue;
                tokens++;
                if (id == tokenizer.UnknownTokenId) unknown++;
            }
        if (tokens == 0) return null;
        double rate = (double)unknown / tokens;
        var unk = tokenizer.IdToToken(tokenizer.UnknownTokenId);
        var said = string.Create(CultureInfo.InvariantCulture, $"{unk} tokens: {rate:0.##%} of the {tokens:N0} training tokens ({unknown:N0})");
        run.Info(said + ".");
        if (rate > UnknownTokenError && !run.Dataset.AllowUnknownTokens)
            throw new DataException($"{said}: the model's vocabulary does not cover this text (another language or script, or a broken encoding?); "
                + "choose a model whose vocabulary fits it, or accept them (DatasetOptions.AllowUnknownTokens)", run.Files.Train);
        if (rate > UnknownTokenWarning)
            run.Warn($"{said}: the model sees little of this text; a model whose vocabulary fits it will learn more");
        return rate;
    }

    /// <summary>
    /// Refuses to start when the disk of the output folder lacks the space the run will write: each kept checkpoint
    /// (weights and optimizer state), the best model's weights, and the final model.
    /// </summary>
    public static void DiskSpace(RunContext run, TaskRun data, TaskModel model, string output)
    {
        var need = CheckpointSpace.Estimate(model, run.Training, data.TrainingSet.Count, data.Validation is not null);
        var free = Checkpoints.DiskSpace.FreeBytes(output);
        if (free is not long available) return;
        // Files this run will replace or rotate away count as available.
        available += Trash.Size(Path.Combine(output, "checkpoints")) + Trash.Size(Path.Combine(output, "model"));
        if (need.Total <= available) return;
        throw new EnvironmentException($"not enough disk space in {output}: the run needs about {Mb(need.Total)} ({need.Describe()}) and {Mb(free.Value)} are free; "
            + "keep fewer checkpoints (TrainingOptions.SaveTotalLimit), save none (TrainingOptions.SaveStrategy no), or free space");
    }

    /// <summary>The message when the final model could not be saved for lack of space: where the trained weights still are.</summary>
    public static string FinalSaveFailed(string modelFolder, string checkpoints, TrainerState state, string runId)
    {
        var best = Path.Combine(checkpoints, "best-model");
        var last = Checkpoint.List(checkpoints).Where(c => c.State.RunId == runId).MaxBy(c => c.State.GlobalStep);
        var where = File.Exists(Path.Combine(best, WeightFiles.SafeTensorsName))
            ? $"the best model's weights (step {state.BestStep}) are in {best}" + (last is null ? "" : $", and the last checkpoint is {last.Folder}")
            : last is not null
                ? $"the last checkpoint is {last.Folder} (step {last.State.GlobalStep}): resume from it once there is space"
                : "no checkpoint was kept (TrainingOptions.SaveStrategy no), so the trained weights are lost";
        return $"no space left on the device for the final model in {modelFolder}; {where}";
    }

    private static string Mb(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:N0} MB");
}

/// <summary>What a run will write to disk, by part.</summary>
internal sealed record CheckpointSpace(long Weights, long OptimizerState, int KeptCheckpoints, bool BestModel)
{
    public long Checkpoint => Weights + OptimizerState;

    public long Total => Checkpoint * KeptCheckpoints + (BestModel ? Weights : 0) + Weights;

    /// <summary>
    /// The model's weights as saved (every tensor of its state), AdamW's two moments per trained parameter (fp32), the
    /// number of checkpoints on disk at once (the kept ones plus the one being written, at most the number of saves),
    /// and whether a best model is saved beside them.
    /// </summary>
    public static CheckpointSpace Estimate(TaskModel model, TrainingOptions options, int trainingExamples, bool evaluates)
    {
        long weights = model.state_dict().Values.Sum(t => t.numel() * t.element_size());
        long optimizer = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel() * 4L * 2);
        long steps = options.MaxSteps > 0 ? options.MaxSteps : Trainer.StepsPerEpoch(trainingExamples, options) * options.Epochs;
        long saves = options.SaveStrategy switch
        {
            IntervalKind.Epoch => options.MaxSteps > 0 ? (steps + Trainer.StepsPerEpoch(trainingExamples, options) - 1) / Trainer.StepsPerEpoch(trainingExamples, options) : options.Epochs,
            IntervalKind.Steps => (steps + options.SaveSteps - 1) / options.SaveSteps,
            _ => 0,
        };
        long kept = options.SaveTotalLimit > 0 ? Math.Min(saves, options.SaveTotalLimit + 1L) : saves;
        return new CheckpointSpace(weights, optimizer, (int)kept, evaluates && saves > 0 && options.EvalStrategy != IntervalKind.No);
    }

    public string Describe()
    {
        var parts = new List<string>();
        if (KeptCheckpoints > 0)
            parts.Add(string.Create(CultureInfo.InvariantCulture,
                $"{KeptCheckpoints} checkpoint{(KeptCheckpoints == 1 ? "" : "s")} of {Checkpoint / 1e6:N0} MB: weights {Weights / 1e6:N0} MB and optimizer state {OptimizerState / 1e6:N0} MB"));
        if (BestModel) parts.Add(string.Create(CultureInfo.InvariantCulture, $"the best model {Weights / 1e6:N0} MB"));
        parts.Add(string.Create(CultureInfo.InvariantCulture, $"the final model {Weights / 1e6:N0} MB"));
        return string.Join("; ", parts);
    }
}
