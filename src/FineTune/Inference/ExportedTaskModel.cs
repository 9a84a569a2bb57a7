using FineTune.Checkpoints;
using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Inference;

/// <summary>
/// An export folder's graph (finetune export) as a model that evaluation and prediction run like a fine-tuned model
/// folder: ONNX Runtime computes the outputs, which come back as the task model's would — logits ([B, C] or
/// [B, T, C]), start and end logits stacked into [B, T, 2], sentence embeddings [B, H] or, for paired rows, the cosine
/// of each pair. The graph has no loss: evaluation of an export reports the metrics without it.
/// </summary>
internal sealed class ExportedTaskModel : IForwardModel
{
    private readonly ExportFolder _export;

    private ExportedTaskModel(ExportFolder export, EncoderConfig config)
    {
        _export = export;
        Config = config;
    }

    public EncoderConfig Config { get; }

    /// <summary>The ONNX file that runs (model.onnx, or model_quantized.onnx for int8).</summary>
    public string ModelFile => _export.ModelFile;

    /// <summary>
    /// Opens an export folder for prediction: its fp32 model, or with <see cref="Precision.Int8"/> its int8 one, on
    /// ONNX Runtime's CPU provider with <paramref name="threads"/> threads (null: one per core). With
    /// <paramref name="tasks"/>, the folder must hold a model of one of them.
    /// </summary>
    public static ExportedTaskModel Open(string folder, Device device, Precision precision, int? threads, params string[] tasks)
    {
        CheckRuntime(device, precision);
        var export = ExportFolder.Open(folder, precision == Precision.Int8, threads, "PredictorOptions.Threads", tasks);
        try
        {
            return new ExportedTaskModel(export, ModelFolder.LoadConfig(folder));
        }
        catch
        {
            export.Dispose();
            throw;
        }
    }

    /// <summary>What an export folder runs on: ONNX Runtime's CPU provider, its fp32 or int8 graphs (an error naming the option otherwise).</summary>
    internal static void CheckRuntime(Device device, Precision precision)
    {
        if (device.type != TorchSharp.DeviceType.CPU)
            throw new OptionException("PredictorOptions.Device", $"an export folder runs on ONNX Runtime's CPU provider, not {device.type.ToString().ToLowerInvariant()}: give cpu");
        if (precision == Precision.Bf16)
            throw new OptionException("PredictorOptions.Precision", "an export folder runs its fp32 or int8 model, not bf16");
    }

    public ModelOutput Forward(ModelInput input)
    {
        int b = (int)input.InputIds.shape[0], t = (int)input.InputIds.shape[1];
        var ids = input.InputIds.to(ScalarType.Int64).cpu().data<long>().ToArray();
        var mask = input.AttentionMask.to(ScalarType.Int64).cpu().data<long>().ToArray();
        var types = input.TokenTypeIds is { } tt ? tt.to(ScalarType.Int64).cpu().data<long>().ToArray() : new long[ids.Length];
        var outputs = _export.Run(ids, mask, types, b, t);
        if (outputs.TryGetValue("logits", out var logits))
            return new ModelOutput(tensor(logits.Values, logits.Shape));
        if (outputs.TryGetValue("start_logits", out var starts) && outputs.TryGetValue("end_logits", out var ends))
            return new ModelOutput(stack([tensor(starts.Values, starts.Shape), tensor(ends.Values, ends.Shape)], -1));   // 2 x [B, T] -> [B, T, 2]
        if (outputs.TryGetValue("sentence_embedding", out var pooled))
        {
            var embeddings = tensor(pooled.Values, pooled.Shape);                                   // [N, H]
            return new ModelOutput(input.PairedRows ? ForSentenceEmbedding.PairCosines(embeddings) : embeddings);
        }
        throw new ModelLoadException($"has none of the outputs FineTune reads (logits, start_logits and end_logits, sentence_embedding): {string.Join(", ", outputs.Keys)}", _export.ModelFile);
    }

    /// <summary>The graph has no dropout: nothing to switch.</summary>
    public IDisposable EvaluationMode() => new NoScope();

    private sealed class NoScope : IDisposable
    {
        public void Dispose() { }
    }

    public void Dispose() => _export.Dispose();

    /// <summary>
    /// The model as a TorchSharp module, for what takes gradients through it (explanations); an export folder's graph
    /// is none, and that is one error naming its file.
    /// </summary>
    public static TaskModel Differentiable(IForwardModel model) => model switch
    {
        TaskModel module => module,
        ExportedTaskModel export => throw new ModelLoadException(
            "is an export's ONNX graph: explanations take gradients through the model, so give the model folder it was exported from", export.ModelFile),
        _ => throw new InvalidOperationException($"{model.GetType().Name} is not a TorchSharp module"),
    };
}
