using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

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
/// An export folder (finetune export) opened for inference: config.json with FineTune's metadata, the tokenizer
/// (tokenizer.json), and an ONNX Runtime session whose inputs and outputs are checked against the metadata.
/// </summary>
internal sealed class ExportedModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly bool _tokenTypes;

    private ExportedModel(string folder, JsonObject config, JsonObject metadata, ITokenizer tokenizer, InferenceSession session, int batchSize, int maxLength)
    {
        Folder = folder;
        Config = config;
        Metadata = metadata;
        Tokenizer = tokenizer;
        _session = session;
        _tokenTypes = session.InputMetadata.ContainsKey("token_type_ids");
        BatchSize = batchSize;
        MaxLength = maxLength;
    }

    public string Folder { get; }
    public JsonObject Config { get; }
    public JsonObject Metadata { get; }
    public ITokenizer Tokenizer { get; }
    public int BatchSize { get; }
    public int MaxLength { get; }

    /// <summary>The task the model was fine-tuned for (feature-extraction for a bare encoder).</summary>
    public string Task => Text(Metadata["task"]) ?? "";

    /// <summary>The most tokens the model takes (its positions, and the tokenizer's model_max_length).</summary>
    public int Limit { get; private init; }

    /// <summary>Whether a folder is an export (it has onnx/model.onnx).</summary>
    public static bool IsExport(string folder) => File.Exists(Path.Combine(folder, "onnx", "model.onnx"));

    public static ExportedModel Open(string folder, OnnxPredictorOptions options, params string[] tasks)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (options.BatchSize < 1) throw new OptionException("OnnxPredictorOptions.BatchSize", $"must be at least 1, got {options.BatchSize}");
        if (!Directory.Exists(folder)) throw new ModelLoadException("the export folder does not exist", folder);
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new ModelLoadException("is not an export folder (no config.json); give the output of finetune export", folder);
        JsonObject config;
        try { config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new ModelLoadException("must hold a JSON object", configPath); }
        catch (JsonException e) { throw new ModelLoadException($"not valid JSON: {e.Message}", configPath, inner: e); }
        var metadata = config["finetune"] as JsonObject
            ?? throw new ModelLoadException("has no \"finetune\" metadata: not a folder written by finetune export", configPath, "finetune");
        var task = Text(metadata["task"]) ?? throw new ModelLoadException("names no task", configPath, "finetune.task");
        if (tasks.Length > 0 && !tasks.Contains(task))
            throw new ModelLoadException($"holds a {task} model, not a {string.Join(" or ", tasks)} one", configPath, "finetune.task");
        var tokenizerPath = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
            throw new ModelLoadException("tokenizer.json not found: an export folder carries its tokenizer (export the model again)", tokenizerPath);
        var tokenizer = Tokenizers.FromFolder(folder);
        var file = Path.Combine(folder, "onnx", options.Precision == OnnxPrecision.Int8 ? "model_quantized.onnx" : "model.onnx");
        if (!File.Exists(file))
            throw new ModelLoadException(options.Precision == OnnxPrecision.Int8 ? "not found: export with int8 quantization for it" : "not found", file);
        var session = new InferenceSession(file, SessionOptions(options.Threads));
        try
        {
            Check(session.InputMetadata.Keys, metadata["inputs"], file, configPath, "inputs");
            Check(session.OutputMetadata.Keys, metadata["outputs"], file, configPath, "outputs");
            int limit = Number(metadata["model_max_length"]) ?? 512;
            if (tokenizer.ModelMaxLength is int m) limit = Math.Min(limit, m);
            int maxLength = options.MaxLength ?? Number(metadata["max_length"]) ?? limit;
            maxLength = Math.Min(maxLength, limit);
            if (maxLength < 3) throw new OptionException("OnnxPredictorOptions.MaxLength", $"must be at least 3, got {maxLength}");
            return new ExportedModel(folder, config, metadata, tokenizer, session, options.BatchSize, maxLength) { Limit = limit };
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    internal static SessionOptions SessionOptions(int? threads)
    {
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (threads is int t)
        {
            if (t < 1) throw new OptionException("OnnxPredictorOptions.Threads", $"must be at least 1, got {t}");
            options.IntraOpNumThreads = t;
            options.InterOpNumThreads = 1;
        }
        return options;
    }

    private static void Check(IEnumerable<string> graph, JsonNode? declared, string file, string configPath, string what)
    {
        var names = declared is JsonArray a ? a.Select(Text).ToList() : null;
        if (names is null || !graph.SequenceEqual(names))
            throw new ModelLoadException(
                $"the graph's {what} ({string.Join(", ", graph)}) do not match config.json's finetune.{what} ({(names is null ? "none" : string.Join(", ", names))}): the files belong to different exports",
                file);
    }

    /// <summary>The labels in id order (config.json's id2label), or null.</summary>
    public IReadOnlyList<string>? Labels()
    {
        if (Config["id2label"] is not JsonObject map) return null;
        return Enumerable.Range(0, map.Count).Select(i => Text(map[i.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            ?? throw new ModelLoadException($"id2label has no label {i}", Path.Combine(Folder, "config.json"), "id2label")).ToList();
    }

    internal static string? Text(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    internal static int? Number(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<int>() : null;

    internal static double? Real(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>() : null;

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
            var feeds = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, [b, t])),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, [b, t])),
            };
            if (_tokenTypes) feeds.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(types, [b, t])));
            using var results = _session.Run(feeds);
            onBatch(indices, t, results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray()));
        }
    }

    public void Dispose() => _session.Dispose();
}
