using FineTune.Checkpoints;

namespace FineTune.Tasks;

/// <summary>The tasks, registered in one place: one line each.</summary>
internal static class TaskRegistry
{
    /// <summary>Every task, in the order help texts list them.</summary>
    public static IReadOnlyList<FineTuneTask> All { get; } =
    [
        new ClassificationTask(),
        new MultiLabelTask(),
        new RegressionTask(),
        new SimilarityTask(),
        new TokenClassificationTask(),
        new QuestionAnsweringTask(),
        new TranslationTask(),
        new SummarizationTask(),
    ];

    /// <summary>The task of a name or alias (case-insensitive), or null.</summary>
    public static FineTuneTask? Find(string? name) =>
        name is null ? null : All.FirstOrDefault(t => t.Names.Any(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase)));

    /// <summary>The task of a name or alias; an unknown name is an <see cref="OptionException"/> listing the tasks.</summary>
    public static FineTuneTask Get(string name, string option = "FineTuneRequest.Task") =>
        Find(name) ?? throw new OptionException(option, $"expected {Describe()}, got '{name}'");

    /// <summary>"classification, multi-label, …, token-classification (ner) or question-answering (qa)".</summary>
    public static string Describe()
    {
        var names = All.Select(t => t.Aliases.Count == 0 ? t.Name : $"{t.Name} ({string.Join(", ", t.Aliases)})").ToList();
        return string.Join(", ", names.Take(names.Count - 1)) + " or " + names[^1];
    }

    /// <summary>
    /// The task a saved model folder was fine-tuned for: finetune.json's task when the folder has one, else the task
    /// whose head config.json names (…ForTokenClassification, …ForSequenceClassification with its problem_type);
    /// null for an encoder without a task head. A folder that does not exist or has no config.json is an error.
    /// </summary>
    public static FineTuneTask? Detect(string modelFolder)
    {
        if (!Directory.Exists(modelFolder))
            throw new ModelLoadException("the model folder does not exist", modelFolder);
        if (!File.Exists(Path.Combine(modelFolder, "config.json")))
            throw new ModelLoadException("is not a model folder (no config.json); give the model/ folder of a run", modelFolder);
        if (FineTuneMetadata.Load(modelFolder)?.Task is { } saved && Find(saved) is { } task) return task;
        var config = ModelFolder.LoadConfig(modelFolder);
        return All.FirstOrDefault(t => t.Recognizes(config));
    }

    /// <summary><see cref="Detect"/>, or an error naming the folder when it is not a fine-tuned model of any task.</summary>
    public static FineTuneTask DetectOrThrow(string modelFolder) =>
        Detect(modelFolder) ?? throw new ModelLoadException(
            $"is an encoder without a task head ({ModelFolder.LoadConfig(modelFolder).Architectures?.FirstOrDefault() ?? "no architectures"}): " +
            "fine-tune it first, or use SentenceEmbedder for sentence embeddings", Path.Combine(modelFolder, "config.json"), "architectures");

    /// <summary>
    /// Checks that a folder the <typeparamref name="TTask"/> predictor is given is not a model of another task (an
    /// encoder without a head passes, and is refused for its untrained head when loaded).
    /// </summary>
    public static void CheckIsNotAnotherTask<TTask>(string modelFolder, string name) where TTask : FineTuneTask
    {
        if (Detect(modelFolder) is { } task and not TTask)
            throw new ModelLoadException($"holds a {task.Name} model, not a {name} one", Path.Combine(modelFolder, "config.json"), "architectures");
    }
}
