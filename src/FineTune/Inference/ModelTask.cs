using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Inference;

/// <summary>What a saved model was fine-tuned for, read from its config.json.</summary>
public static class ModelTask
{
    /// <summary>
    /// The task of a model folder from config.json's "architectures" (…ForTokenClassification, …ForQuestionAnswering,
    /// …ForSequenceClassification with its problem_type); null when the config names no task head.
    /// </summary>
    public static TaskKind? Detect(string modelFolder)
    {
        var config = BertConfig.Load(Path.Combine(modelFolder, "config.json"));
        foreach (var architecture in config.Architectures ?? [])
        {
            if (architecture.EndsWith("ForTokenClassification", StringComparison.Ordinal)) return TaskKind.TokenClassification;
            if (architecture.EndsWith("ForQuestionAnswering", StringComparison.Ordinal)) return TaskKind.QuestionAnswering;
            if (architecture.EndsWith("ForSequenceClassification", StringComparison.Ordinal))
                return config.ProblemType switch
                {
                    "multi_label_classification" => TaskKind.MultiLabelClassification,
                    "regression" => TaskKind.Regression,
                    "single_label_classification" => TaskKind.SingleLabelClassification,
                    // Hugging Face's rule when problem_type is absent: one output is a regression.
                    _ => config.NumLabels == 1 ? TaskKind.Regression : TaskKind.SingleLabelClassification,
                };
        }
        return null;
    }

    /// <summary>
    /// Loads a fine-tuned model of <paramref name="task"/> for prediction, on <paramref name="device"/>, in eval mode.
    /// A folder whose config names another task head, or whose head is missing from the weights (not fine-tuned), is
    /// an error naming the folder.
    /// </summary>
    internal static TaskModel LoadForPrediction(string modelFolder, TaskKind task, Device device, ModelLoadOptions? load)
    {
        if (!File.Exists(Path.Combine(modelFolder, "config.json")))
            throw new ModelLoadException("is not a model folder (no config.json); give the model/ folder of a run", modelFolder);
        var detected = Detect(modelFolder);
        if (detected is { } found && found != task)
            throw new ModelLoadException($"holds a {FineTuner.TaskName(found)} model, not a {FineTuner.TaskName(task)} one", Path.Combine(modelFolder, "config.json"), "architectures");
        var (model, report) = ModelFolder.LoadTaskModel(modelFolder, task, null, load);
        var untrained = report.NewlyInitialized.Concat(report.ResizedAndReinitialized).Where(k => model.HeadPrefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal))).ToList();
        if (untrained.Count > 0)
        {
            model.Dispose();
            throw new ModelLoadException($"has no trained {FineTuner.TaskName(task)} head ({string.Join(", ", untrained)} missing): fine-tune it first", modelFolder);
        }
        model.to(device);
        model.eval();
        return model;
    }
}

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

    internal Device Setup()
    {
        if (BatchSize < 1) throw new FineTuneException($"--batch-size: must be at least 1, got {BatchSize}");
        TorchRuntime.SetThreads(Threads);
        return TorchRuntime.ParseDevice(Device);
    }
}

/// <summary>Runs a model over features in batches of similar length, in inference mode.</summary>
internal static class BatchedForward
{
    /// <summary>Calls <paramref name="onBatch"/> with each batch's feature indices and the model's logits as fp32 on the CPU.</summary>
    public static void Run(TaskModel model, IReadOnlyList<Feature> features, int batchSize, int padId, Device device,
        Func<IDisposable?>? precisionScope, Action<int[], Tensor> onBatch)
    {
        var order = ModelBatches.LongestFirst(features, f => f.Length);
        ModelBatches.Run(model, features, order, batchSize, model.Task, padId, device, precisionScope, withLabels: false,
            (indices, _, output) => onBatch(indices, output.Logits.to(ScalarType.Float32).cpu()));
    }
}
