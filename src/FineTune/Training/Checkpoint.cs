using FineTune.Checkpoints;

namespace FineTune.Training;

/// <summary>A checkpoint folder written by the trainer (checkpoint-NNNNNN), with its trainer state.</summary>
internal sealed record Checkpoint(string Folder, TrainerState State)
{
    public const string StateFileName = "trainer_state.json";
    public const string OptimizerFileName = "optimizer.safetensors";

    /// <summary>The whole checkpoints under <paramref name="root"/> (folders named checkpoint-* with a readable trainer state), in no particular order.</summary>
    public static IReadOnlyList<Checkpoint> List(string root)
    {
        if (!Directory.Exists(root)) return [];
        var found = new List<Checkpoint>();
        foreach (var folder in Directory.GetDirectories(root, "checkpoint-*"))
        {
            var stateFile = Path.Combine(folder, StateFileName);
            if (!File.Exists(stateFile)) continue;
            try { found.Add(new Checkpoint(folder, TrainerState.Load(stateFile))); }
            catch (ModelLoadException) { }
        }
        return found;
    }

    /// <summary>
    /// The checkpoint to resume from, checked before anything is written: a checkpoint folder, or a run folder (or its
    /// checkpoints folder), whose newest checkpoint of the folder's run is taken. Every problem is an <see cref="OptionException"/> of
    /// <paramref name="option"/> that names the folder.
    /// </summary>
    public static Checkpoint Resolve(string path, string option)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full))
            throw new OptionException(option, $"{path} is a file; give a checkpoint folder (RUN/checkpoints/checkpoint-NNNNNN) or a run folder");
        if (!Directory.Exists(full))
            throw new OptionException(option, $"{path} does not exist; give a checkpoint folder (RUN/checkpoints/checkpoint-NNNNNN) or a run folder");
        if (!File.Exists(Path.Combine(full, StateFileName)))
        {
            var root = Directory.Exists(Path.Combine(full, "checkpoints")) ? Path.Combine(full, "checkpoints") : full;
            // A run folder's own checkpoints (its marker names the run); others that lie there are not its run's.
            var run = RunFolder.ReadMarker(root == full ? Path.GetDirectoryName(full)! : full);
            var newest = List(root).Where(c => run is null || c.State.RunId is null || c.State.RunId == run).MaxBy(c => c.State.GlobalStep)
                ?? throw new OptionException(option, $"{path} is not a checkpoint (no {StateFileName}) and holds no checkpoint-* folder to resume from");
            return Check(newest, path, option);
        }
        TrainerState state;
        try { state = TrainerState.Load(Path.Combine(full, StateFileName)); }
        catch (ModelLoadException e) { throw new OptionException(option, e.Message, e); }
        return Check(new Checkpoint(full, state), path, option);
    }

    private static Checkpoint Check(Checkpoint checkpoint, string given, string option)
    {
        foreach (var file in new[] { WeightFiles.SafeTensorsName, OptimizerFileName })
            if (!File.Exists(Path.Combine(checkpoint.Folder, file)))
                throw new OptionException(option, $"{checkpoint.Folder} is not a whole checkpoint: {file} is missing{(checkpoint.Folder == Path.GetFullPath(given) ? "" : $" (the newest checkpoint in {given})")}");
        return checkpoint;
    }
}
