using FineTune.Checkpoints;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Inference;

/// <summary>Options shared by the predictors: where and how fast to run.</summary>
public abstract record PredictorOptions
{
    /// <summary>cpu, cuda or cuda:N.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>CPU threads for libtorch (null: one per processor).</summary>
    public int? Threads { get; init; }
    /// <summary>Model inputs per forward pass.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>fp32, or bf16 autocast (faster on CPUs with AMX).</summary>
    public Precision Precision { get; init; } = Precision.Fp32;
    /// <summary>How weight files may be read (pickle off by default).</summary>
    public ModelLoadOptions Load { get; init; } = new();

    /// <summary>Checks the options, sets libtorch's threads and returns the device.</summary>
    internal Device Setup()
    {
        if (BatchSize < 1) throw new OptionException($"{nameof(PredictorOptions)}.{nameof(BatchSize)}", $"must be at least 1, got {BatchSize}");
        TorchRuntime.SetThreads(Threads);
        return TorchRuntime.ParseDevice(Device);
    }
}

/// <summary>A saved model and how to run it: for evaluation and prediction, or to load a predictor.</summary>
public record SavedModelRequest
{
    /// <summary>The fine-tuned model folder (a run's model/).</summary>
    public required string Model { get; init; }

    /// <summary>The options of the model's task (its type must be the task's); null: what the model was trained with, else the defaults.</summary>
    public TaskOptions? TaskOptions { get; init; }

    /// <summary>Tokens per model input; null: the length the model was trained with, else what it takes.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Model inputs per forward pass.</summary>
    public int BatchSize { get; init; } = 64;

    public string Device { get; init; } = "cpu";
    public int? Threads { get; init; }
    public Precision Precision { get; init; } = Precision.Fp32;
    public ModelLoadOptions Load { get; init; } = new();

    /// <summary>Receives one-line messages (what was read, what was truncated or skipped).</summary>
    public Action<string>? Info { get; init; }

    /// <summary>Says <paramref name="message"/> to <see cref="Info"/>, when there is one.</summary>
    internal void Say(string message) => Info?.Invoke(message);

    /// <summary>Checks the values that do not depend on the model, before anything is loaded.</summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Model)) throw new OptionException("SavedModelRequest.Model", "no model was named");
        if (BatchSize < 1) throw new OptionException("SavedModelRequest.BatchSize", $"must be at least 1, got {BatchSize}");
        if (MaxLength is < 8 or > 8192) throw new OptionException("SavedModelRequest.MaxLength", $"must be between 8 and 8192, got {MaxLength}");
        if (Threads is < 1 or > 4096) throw new OptionException("SavedModelRequest.Threads", $"must be at least 1, got {Threads}");
        TaskOptions?.Validate();
    }
}

/// <summary>Loading a fine-tuned model for prediction.</summary>
internal static class PredictionModels
{
    /// <summary>
    /// Loads the model of a fine-tuned model folder with <paramref name="create"/> (the task's head over the folder's
    /// config), on <paramref name="device"/>, in eval mode. A folder without config.json, or whose head is missing from
    /// the weights (not fine-tuned), is an error naming the folder; <paramref name="taskName"/> names the task in it.
    /// </summary>
    public static TaskModel Load(string modelFolder, string taskName, Func<EncoderConfig, TaskModel> create, Device device, ModelLoadOptions? load,
        Func<EncoderConfig, EncoderConfig>? configure = null)
    {
        if (!File.Exists(Path.Combine(modelFolder, "config.json")))
            throw new ModelLoadException("is not a model folder (no config.json); give the model/ folder of a run", modelFolder);
        var config = ModelFolder.LoadConfig(modelFolder);
        if (configure is not null) config = configure(config);
        var (model, report) = ModelFolder.LoadTaskModel(modelFolder, config, create, load);
        var untrained = report.NewlyInitialized.Concat(report.ResizedAndReinitialized)
            .Where(k => model.HeadPrefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal))).ToList();
        if (untrained.Count > 0)
        {
            model.Dispose();
            throw new ModelLoadException($"has no trained {taskName} head ({string.Join(", ", untrained)} missing): fine-tune it first", modelFolder);
        }
        model.to(device);
        model.eval();
        return model;
    }

    /// <summary>
    /// A fine-tuned model for evaluation and prediction: an export folder's graph run by ONNX Runtime (its int8 model
    /// with <see cref="Precision.Int8"/>, with <paramref name="threads"/> threads), or a model folder loaded as
    /// <see cref="Load"/> loads it. Int8 needs an export folder.
    /// </summary>
    public static IForwardModel Open(string modelFolder, string taskName, Func<EncoderConfig, TaskModel> create, Device device, ModelLoadOptions? load,
        Precision precision, int? threads, Func<EncoderConfig, EncoderConfig>? configure = null)
    {
        if (ExportFolder.IsExport(modelFolder)) return ExportedTaskModel.Open(modelFolder, device, precision, threads, taskName);
        if (precision == Precision.Int8)
            throw new OptionException("PredictorOptions.Precision", $"int8 runs the quantized model of an export folder, and {modelFolder} is a model folder: export it with int8 quantization and give the export folder");
        return Load(modelFolder, taskName, create, device, load, configure);
    }

    /// <summary>The tokens a model takes at most: its positions (less RoBERTa's offset) and the tokenizer's model_max_length.</summary>
    public static int MaxLength(EncoderConfig config, int? tokenizerMaxLength)
    {
        int limit = ModelFamilies.Of(config).MaxSequenceLength(config);
        return tokenizerMaxLength is int m ? Math.Min(limit, m) : limit;
    }
}

/// <summary>Runs a model over features in batches of similar length, in inference mode.</summary>
internal static class BatchedForward
{
    /// <summary>Calls <paramref name="onBatch"/> with each batch's feature indices and the model's logits as fp32 on the CPU.</summary>
    public static void Run<TFeature>(IForwardModel model, IReadOnlyList<TFeature> features, int batchSize, int padId, Device device,
        Func<IDisposable?>? precisionScope, Action<int[], Tensor> onBatch) where TFeature : Feature
    {
        var order = ModelBatches.LongestFirst(features, f => f.Length);
        ModelBatches.Run(model, features, order, batchSize, (batch, d) => InputPadding.Collate(batch, padId, d), device, precisionScope,
            (indices, _, output) => onBatch(indices, output.Logits.to(ScalarType.Float32).cpu()));
    }
}
