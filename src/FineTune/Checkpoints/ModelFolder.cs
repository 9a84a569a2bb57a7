using FineTune.Configuration;
using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Checkpoints;

/// <summary>Options for loading a model folder.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Allow pytorch_model.bin (a Python pickle, which can run code when read). Off by default.</summary>
    public bool AllowPickle { get; init; }

    /// <summary>Re-initialise a head whose shape differs from the checkpoint's (another number of labels).</summary>
    public bool IgnoreMismatchedSizes { get; init; }

    /// <summary>
    /// What a sequence head (classification, multi-label, regression) reads: "cls" or "mean" (see
    /// <see cref="BertConfig.ClassifierPooling"/>). Null: config.json's classifier_pooling when it has one, else
    /// "mean" for a sentence-transformers folder whose pooling is mean, else "cls".
    /// </summary>
    public string? ClassifierPooling { get; init; }
}

/// <summary>
/// A model in Hugging Face's folder layout: config.json, model.safetensors (or shards), tokenizer files.
/// Loads a task model from it and saves one into it, atomically.
/// </summary>
public static class ModelFolder
{
    /// <summary>
    /// Builds the task model from a folder's config and loads its weights. When <paramref name="labels"/> is given the
    /// head gets those labels; otherwise the folder's id2label is kept (a folder without one gets HF's 2 default labels).
    /// </summary>
    public static (TaskModel Model, LoadReport Report) LoadTaskModel(string folder, TaskKind task,
        IReadOnlyList<string>? labels = null, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        var config = BertConfig.Load(Path.Combine(folder, "config.json"));
        if (labels is not null)
            config = config.WithLabels(labels, TaskModel.ProblemType(task));
        else if (TaskModel.ProblemType(task) is { } problem && config.ProblemType is null)
            config = config with { ProblemType = problem };
        string? poolingReason = null;
        if (IsSequenceTask(task))
        {
            (var pooling, poolingReason) = ResolvePooling(folder, config, options.ClassifierPooling);
            config = config with { ClassifierPooling = pooling };
        }
        var checkpoint = WeightFiles.Load(folder, options.AllowPickle);
        try
        {
            CheckVocabulary(folder, config, checkpoint);
            var model = TaskModels.Create(config, task);
            try
            {
                var report = WeightLoader.Load(model, checkpoint, WeightSourceName(folder, options), options.IgnoreMismatchedSizes);
                return (model, report with { PoolingReason = poolingReason });
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var t in checkpoint.Values) t.Dispose();
        }
    }

    /// <summary>Loads the bare encoder (for embeddings or inspection).</summary>
    public static (TransformerEncoder Encoder, LoadReport Report) LoadEncoder(string folder, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        var config = BertConfig.Load(Path.Combine(folder, "config.json"));
        var checkpoint = WeightFiles.Load(folder, options.AllowPickle);
        try
        {
            CheckVocabulary(folder, config, checkpoint);
            var encoder = TaskModels.CreateEncoder(config, addPoolingLayer: HasPooler(checkpoint, config));
            try
            {
                return (encoder, WeightLoader.Load(encoder, checkpoint, WeightSourceName(folder, options)));
            }
            catch
            {
                encoder.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var t in checkpoint.Values) t.Dispose();
        }
    }

    private static bool IsSequenceTask(TaskKind task) =>
        task is TaskKind.SingleLabelClassification or TaskKind.MultiLabelClassification or TaskKind.Regression;

    /// <summary>
    /// The pooling a sequence head gets from a folder (see <see cref="ModelLoadOptions.ClassifierPooling"/>) and
    /// why, in words for the run's log.
    /// </summary>
    public static (string Pooling, string Reason) ResolvePooling(string folder, BertConfig config, string? requested)
    {
        if (requested is not null)
        {
            if (!BertConfig.SupportedPoolings.Contains(requested))
                throw new FineTuneException($"--pooling: {string.Join(", ", BertConfig.SupportedPoolings)} or auto, got '{requested}'");
            return (requested, "as asked");
        }
        if (config.ClassifierPooling is { } saved)
            return (saved, "config.json's classifier_pooling");
        return SentenceTransformersFolder.PoolingMode(folder) == "mean"
            ? ("mean", "the model is a sentence-transformers model trained with mean pooling")
            : ("cls", "Hugging Face's head for this model");
    }

    private static bool HasPooler(IReadOnlyDictionary<string, Tensor> checkpoint, BertConfig config) =>
        checkpoint.Keys.Any(k => k == "pooler.dense.weight" || k == config.BaseModelPrefix + ".pooler.dense.weight");

    private static string WeightSourceName(string folder, ModelLoadOptions options) =>
        WeightFiles.Locate(folder, options.AllowPickle) is [var single] ? single : Path.Combine(folder, WeightFiles.SafeTensorsIndexName);

    /// <summary>The vocabulary file must have as many entries as the word embeddings have rows (when both exist).</summary>
    private static void CheckVocabulary(string folder, BertConfig config, IReadOnlyDictionary<string, Tensor> checkpoint)
    {
        var vocabPath = Path.Combine(folder, "vocab.txt");
        var embeddingKey = checkpoint.Keys.FirstOrDefault(k => k.EndsWith("embeddings.word_embeddings.weight", StringComparison.Ordinal));
        if (embeddingKey is null) return;
        long rows = checkpoint[embeddingKey].shape[0];
        if (rows != config.VocabSize)
            throw new ModelLoadException($"has {rows} rows but config.json says vocab_size {config.VocabSize}",
                WeightSourceName(folder, new ModelLoadOptions { AllowPickle = true }), embeddingKey);
        if (!File.Exists(vocabPath)) return;
        int entries = File.ReadLines(vocabPath).Count(l => l.Length > 0);
        if (entries > rows)
            throw new ModelLoadException(
                $"has {entries} tokens but the model's word embeddings ({embeddingKey}) have only {rows} rows: the vocabulary belongs to another model",
                vocabPath);
    }

    /// <summary>
    /// Saves config.json (with architectures, labels, problem type) and model.safetensors ({"format":"pt"}) plus
    /// whatever <paramref name="writeExtras"/> writes (tokenizer files) into <paramref name="folder"/>. Everything
    /// is written to a temporary folder beside it and renamed into place, so a crash never leaves half a model.
    /// </summary>
    public static void Save(TaskModel model, string folder, Action<string>? writeExtras = null) =>
        AtomicFolder.Write(folder, tmp =>
        {
            WriteModelFiles(model, tmp);
            writeExtras?.Invoke(tmp);
        });

    /// <summary>Writes config.json and model.safetensors into an existing folder (not atomically; see <see cref="Save"/>).</summary>
    public static void WriteModelFiles(TaskModel model, string folder)
    {
        var config = model.Config with { Architectures = [model.ArchitectureName] };
        if (model.Task == TaskKind.Similarity)
            config = config with { Id2Label = null, Label2Id = null, ProblemType = null };
        var state = model.state_dict();
        IEnumerable<KeyValuePair<string, Tensor>> tensors = state;
        if (model.Task == TaskKind.Similarity)
        {
            // A bi-encoder is saved as a plain encoder checkpoint (keys without the base-model prefix).
            var prefix = model.Config.BaseModelPrefix + ".";
            tensors = state.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
                .Select(kv => new KeyValuePair<string, Tensor>(kv.Key[prefix.Length..], kv.Value));
        }
        config.Save(folder);
        SafeTensors.Save(Path.Combine(folder, WeightFiles.SafeTensorsName), tensors);
    }
}

/// <summary>Writes a folder under a temporary name beside its destination and renames it into place.</summary>
public static class AtomicFolder
{
    public static void Write(string folder, Action<string> write)
    {
        folder = Path.GetFullPath(folder);
        var parent = Path.GetDirectoryName(folder)!;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, "." + Path.GetFileName(folder) + ".tmp-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(tmp);
        try
        {
            write(tmp);
            if (Directory.Exists(folder))
            {
                var old = Path.Combine(parent, "." + Path.GetFileName(folder) + ".old-" + Guid.NewGuid().ToString("N")[..8]);
                Directory.Move(folder, old);
                Directory.Move(tmp, folder);
                Directory.Delete(old, recursive: true);
            }
            else
            {
                Directory.Move(tmp, folder);
            }
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }
}
