using System.Text.Json.Nodes;
using FineTune.Text;

namespace FineTune.Onnx;

/// <summary>Which of an export's models to run.</summary>
public enum OnnxPrecision
{
    /// <summary>onnx/model.onnx.</summary>
    Fp32,

    /// <summary>onnx/model_quantized.onnx (finetune export --quantize int8).</summary>
    Int8,
}

/// <summary>Options of the ONNX predictors: which model, how many threads, how many inputs per run.</summary>
public sealed record OnnxPredictorOptions
{
    public OnnxPrecision Precision { get; init; } = OnnxPrecision.Fp32;

    /// <summary>ONNX Runtime's threads within an operator (null: its default, one per core).</summary>
    public int? Threads { get; init; }

    /// <summary>Inputs per run.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Tokens per input (null: the length the model was trained with, else what it takes).</summary>
    public int? MaxLength { get; init; }
}

/// <summary>
/// An export folder (finetune export) opened for inference (<see cref="Inference.ExportFolder"/>: config.json with
/// FineTune's metadata, the tokenizer, the checked ONNX Runtime session), with the predictors' batch size and input length.
/// </summary>
internal sealed class ExportedModel : IDisposable
{
    private readonly Inference.ExportFolder _export;

    private ExportedModel(Inference.ExportFolder export, int batchSize, int maxLength)
    {
        _export = export;
        BatchSize = batchSize;
        MaxLength = maxLength;
    }

    public string Folder => _export.Folder;
    public JsonObject Config => _export.Config;
    public JsonObject Metadata => _export.Metadata;
    public ITokenizer Tokenizer => _export.Tokenizer;
    public int BatchSize { get; }
    public int MaxLength { get; }

    /// <summary>The task the model was fine-tuned for (feature-extraction for a bare encoder).</summary>
    public string Task => _export.Task;

    /// <summary>The most tokens the model takes (its positions, and the tokenizer's model_max_length).</summary>
    public int Limit => _export.Limit;

    /// <summary>Whether a folder is an export (it has onnx/model.onnx).</summary>
    public static bool IsExport(string folder) => Inference.ExportFolder.IsExport(folder);

    public static ExportedModel Open(string folder, OnnxPredictorOptions options, params string[] tasks)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (options.BatchSize < 1) throw new OptionException("OnnxPredictorOptions.BatchSize", $"must be at least 1, got {options.BatchSize}");
        var export = Inference.ExportFolder.Open(folder, options.Precision == OnnxPrecision.Int8, options.Threads, tasks);
        try
        {
            int maxLength = Math.Min(options.MaxLength ?? export.TrainedMaxLength ?? export.Limit, export.Limit);
            if (maxLength < 3) throw new OptionException("OnnxPredictorOptions.MaxLength", $"must be at least 3, got {maxLength}");
            return new ExportedModel(export, options.BatchSize, maxLength);
        }
        catch
        {
            export.Dispose();
            throw;
        }
    }

    /// <summary>The labels in id order (config.json's id2label), or null.</summary>
    public IReadOnlyList<string>? Labels() => _export.Labels();

    internal static string? Text(JsonNode? node) => Inference.ExportFolder.Text(node);

    internal static int? Number(JsonNode? node) => Inference.ExportFolder.Number(node);

    internal static double? Real(JsonNode? node) => Inference.ExportFolder.Real(node);

    /// <summary>
    /// Runs the model over token sequences in batches of similar length (longest first), each padded to its longest;
    /// calls <paramref name="onBatch"/> with the sequences' indices, the padded length, and the named outputs (row-major).
    /// </summary>
    public void Run(IReadOnlyList<(int[] Ids, int[] TypeIds)> inputs, Action<int[], int, IReadOnlyDictionary<string, float[]>> onBatch)
    {
        var order = Enumerable.Range(0, inputs.Count).OrderByDescending(i => inputs[i].Ids.Length).ToArray();
        for (int start = 0; start < order.Length; start += BatchSize)
        {
            var indices = order.AsSpan(start, Math.Min(BatchSize, order.Length - start)).ToArray();
            int b = indices.Length, t = indices.Max(i => inputs[i].Ids.Length);
            var ids = new long[b * t];
            var mask = new long[b * t];
            var types = new long[b * t];
            Array.Fill(ids, Tokenizer.PaddingTokenId);
            for (int r = 0; r < b; r++)
            {
                var (x, y) = inputs[indices[r]];
                for (int j = 0; j < x.Length; j++)
                {
                    ids[r * t + j] = x[j];
                    types[r * t + j] = y[j];
                    mask[r * t + j] = 1;
                }
            }
            var outputs = _export.Run(ids, mask, types, b, t);
            onBatch(indices, t, outputs.ToDictionary(o => o.Key, o => o.Value.Values));
        }
    }

    public void Dispose() => _export.Dispose();
}
