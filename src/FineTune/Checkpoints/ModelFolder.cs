using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Checkpoints;

/// <summary>
/// A model in Hugging Face's folder layout: config.json, model.safetensors (or shards), tokenizer files.
/// Loads a task model from it and saves one into it, atomically.
/// </summary>
internal static class ModelFolder
{
    /// <summary>The config.json of a model folder, read and validated (the model family must be a supported one).</summary>
    public static EncoderConfig LoadConfig(string folder) => ModelFamilies.LoadConfig(Path.Combine(folder, "config.json"));

    /// <summary>
    /// Builds a task model with <paramref name="create"/> from <paramref name="config"/> (the folder's config, with
    /// whatever the task changed: labels, problem type, pooling) and loads the folder's weights into it strictly
    /// (<see cref="WeightLoader"/>): only a new head, an unused pooler and other droppable keys may differ.
    /// </summary>
    public static (TaskModel Model, LoadReport Report) LoadTaskModel(string folder, EncoderConfig config, Func<EncoderConfig, TaskModel> create,
        ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        var checkpoint = WeightFiles.Load(folder, options.AllowPickle);
        try
        {
            CheckVocabulary(folder, config, checkpoint);
            var model = create(config);
            try
            {
                return (model, WeightLoader.Load(model, checkpoint, WeightSourceName(folder, options), options.IgnoreMismatchedSizes));
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
        var config = LoadConfig(folder);
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

    /// <summary>
    /// The pooling a sequence head gets from a folder (see <see cref="ModelLoadOptions.ClassifierPooling"/>) and
    /// why, in words for the run's log.
    /// </summary>
    public static (string Pooling, string Reason) ResolvePooling(string folder, EncoderConfig config, string? requested)
    {
        if (requested is not null)
        {
            if (!EncoderConfig.SupportedPoolings.Contains(requested))
                throw new OptionException("ModelLoadOptions.ClassifierPooling", $"{string.Join(", ", EncoderConfig.SupportedPoolings)} or auto, got '{requested}'");
            return (requested, "as asked");
        }
        if (config.ClassifierPooling is { } saved)
            return (saved, "config.json's classifier_pooling");
        return SentenceTransformersFolder.PoolingMode(folder) == "mean"
            ? ("mean", "the model is a sentence-transformers model trained with mean pooling")
            : ("cls", "Hugging Face's head for this model");
    }

    private static bool HasPooler(IReadOnlyDictionary<string, Tensor> checkpoint, EncoderConfig config) =>
        checkpoint.Keys.Any(k => k == "pooler.dense.weight" || k == ModelFamilies.Of(config).BaseModelPrefix + ".pooler.dense.weight");

    private static string WeightSourceName(string folder, ModelLoadOptions options) =>
        WeightFiles.Locate(folder, options.AllowPickle) is [var single] ? single : Path.Combine(folder, WeightFiles.SafeTensorsIndexName);

    /// <summary>The vocabulary file must have as many entries as the word embeddings have rows (when both exist).</summary>
    private static void CheckVocabulary(string folder, EncoderConfig config, IReadOnlyDictionary<string, Tensor> checkpoint)
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

    /// <summary>
    /// Writes config.json and model.safetensors into an existing folder (not atomically; see <see cref="Save"/>). A
    /// model without a head of its own (<see cref="TaskModel.SavesAsEncoder"/>) is saved as a plain encoder
    /// checkpoint: keys without the base-model prefix, no labels.
    /// </summary>
    public static void WriteModelFiles(TaskModel model, string folder)
    {
        var config = model.Config with { Architectures = [model.ArchitectureName] };
        var state = model.state_dict();
        IEnumerable<KeyValuePair<string, Tensor>> tensors = state;
        if (model.SavesAsEncoder)
        {
            config = config with { Id2Label = null, Label2Id = null, ProblemType = null };
            var prefix = model.Family.BaseModelPrefix + ".";
            tensors = state.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
                .Select(kv => new KeyValuePair<string, Tensor>(kv.Key[prefix.Length..], kv.Value));
        }
        if (model.OwnConfigJson is { } json) File.WriteAllText(Path.Combine(folder, "config.json"), json + "\n");
        else ModelFamilies.SaveConfig(config, folder);
        SafeTensors.Save(Path.Combine(folder, WeightFiles.SafeTensorsName), tensors);
    }
}

/// <summary>Writes a folder under a temporary name beside its destination and renames it into place.</summary>
internal static class AtomicFolder
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
