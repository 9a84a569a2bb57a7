using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Text;
using Microsoft.ML.OnnxRuntime;

namespace FineTune.Inference;

/// <summary>
/// An export folder (finetune export, Optimum's layout) opened for inference: config.json with FineTune's metadata
/// under "finetune", the tokenizer (tokenizer.json), and an ONNX Runtime session of onnx/model.onnx or, for int8,
/// onnx/model_quantized.onnx, whose inputs and outputs are checked against the metadata. TorchSharp-free: FineTune
/// runs exports through it, and FineTune.Onnx compiles it in.
/// </summary>
internal sealed class ExportFolder : IDisposable
{
    public const string MetadataKey = "finetune";

    private ExportFolder(string folder, JsonObject config, JsonObject metadata, ITokenizer tokenizer, InferenceSession session, string modelFile)
    {
        Folder = folder;
        Config = config;
        Metadata = metadata;
        Tokenizer = tokenizer;
        Session = session;
        ModelFile = modelFile;
        TakesTokenTypes = session.InputMetadata.ContainsKey("token_type_ids");
        Outputs = session.OutputMetadata.Keys.ToList();
    }

    public string Folder { get; }
    public JsonObject Config { get; }
    public JsonObject Metadata { get; }
    public ITokenizer Tokenizer { get; }
    public InferenceSession Session { get; }

    /// <summary>The ONNX file the session runs.</summary>
    public string ModelFile { get; }

    /// <summary>Whether the graph takes token_type_ids (BERT, ELECTRA).</summary>
    public bool TakesTokenTypes { get; }

    /// <summary>The graph's outputs, in order.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>The task the model was fine-tuned for (feature-extraction for a bare encoder).</summary>
    public string Task => Text(Metadata["task"]) ?? "";

    /// <summary>The most tokens the model takes (its positions, and the tokenizer's model_max_length).</summary>
    public int Limit { get; private init; }

    /// <summary>The length the model was trained with, or null (a catalog model).</summary>
    public int? TrainedMaxLength => Number(Metadata["max_length"]);

    /// <summary>Whether a folder is an export: onnx/model.onnx beside a config.json.</summary>
    public static bool IsExport(string folder) =>
        File.Exists(Path.Combine(folder, "onnx", "model.onnx")) && File.Exists(Path.Combine(folder, "config.json"));

    /// <summary>
    /// Opens an export folder's fp32 model, or its int8 one with <paramref name="int8"/>, on ONNX Runtime with
    /// <paramref name="threads"/> threads within an operator (null: its default, one per core). With
    /// <paramref name="tasks"/>, the folder must hold a model of one of them. Every problem is one error naming the file.
    /// </summary>
    public static ExportFolder Open(string folder, bool int8, int? threads, params string[] tasks) => Open(folder, int8, threads, "OnnxPredictorOptions.Threads", tasks);

    /// <summary><see cref="Open(string, bool, int?, string[])"/>, naming the threads option <paramref name="threadsOption"/> in its error.</summary>
    public static ExportFolder Open(string folder, bool int8, int? threads, string threadsOption, params string[] tasks)
    {
        if (threads is < 1) throw new OptionException(threadsOption, $"must be at least 1, got {threads}");
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder)) throw new ModelLoadException("the export folder does not exist", folder);
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new ModelLoadException("is not an export folder (no config.json); give the output of finetune export", folder);
        JsonObject config;
        try { config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new ModelLoadException("must hold a JSON object", configPath); }
        catch (JsonException e) { throw new ModelLoadException($"not valid JSON: {e.Message}", configPath, inner: e); }
        var metadata = config[MetadataKey] as JsonObject
            ?? throw new ModelLoadException("has no \"finetune\" metadata: not a folder written by finetune export", configPath, MetadataKey);
        var task = Text(metadata["task"]) ?? throw new ModelLoadException("names no task", configPath, "finetune.task");
        if (tasks.Length > 0 && !tasks.Contains(task))
            throw new ModelLoadException($"holds a {task} model, not a {string.Join(" or ", tasks)} one", configPath, "finetune.task");
        var tokenizerPath = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
            throw new ModelLoadException("tokenizer.json not found: an export folder carries its tokenizer (export the model again)", tokenizerPath);
        var tokenizer = Tokenizers.FromFolder(folder);
        var file = Path.Combine(folder, "onnx", int8 ? "model_quantized.onnx" : "model.onnx");
        if (!File.Exists(file))
            throw new ModelLoadException(int8 ? "not found: export with int8 quantization for it" : "not found", file);
        var session = OpenSession(file, SessionOptions(threads));
        try
        {
            Check(session.InputMetadata.Keys, metadata["inputs"], file, "inputs");
            Check(session.OutputMetadata.Keys, metadata["outputs"], file, "outputs");
            int limit = Number(metadata["model_max_length"]) ?? 512;
            if (tokenizer.ModelMaxLength is int m) limit = Math.Min(limit, m);
            return new ExportFolder(folder, config, metadata, tokenizer, session, file) { Limit = limit };
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>An ONNX Runtime session of <paramref name="file"/>; a file it cannot load (not ONNX, truncated) is an error naming it.</summary>
    internal static InferenceSession OpenSession(string file, SessionOptions options)
    {
        try { return new InferenceSession(file, options); }
        catch (OnnxRuntimeException e)
        {
            throw new ModelLoadException($"ONNX Runtime cannot load it ({e.Message.Split('\n')[0].Trim()}): export the model again", file, inner: e);
        }
    }

    internal static SessionOptions SessionOptions(int? threads)
    {
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        // ONNX Runtime's threads spin after each run by default, holding the cores that a server's request threads
        // (and anything else on the machine) need between forward passes; they sleep instead.
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        if (threads is int t)
        {
            options.IntraOpNumThreads = t;
            options.InterOpNumThreads = 1;
        }
        return options;
    }

    internal static void Check(IEnumerable<string> graph, JsonNode? declared, string file, string what)
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
        return Enumerable.Range(0, map.Count).Select(i => Text(map[i.ToString(CultureInfo.InvariantCulture)])
            ?? throw new ModelLoadException($"id2label has no label {i}", Path.Combine(Folder, "config.json"), "id2label")).ToList();
    }

    /// <summary>
    /// Runs the graph on one padded batch ([<paramref name="batch"/>, <paramref name="length"/>] row-major token ids,
    /// attention mask and token type ids; the types are left out where the graph takes none) and returns each output
    /// as its values (row-major) and shape.
    /// </summary>
    public Dictionary<string, (float[] Values, long[] Shape)> Run(long[] ids, long[] mask, long[] types, int batch, int length)
    {
        long[] shape = [batch, length];
        var names = new List<string> { "input_ids", "attention_mask" };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(ids, shape),
            OrtValue.CreateTensorValueFromMemory(mask, shape),
        };
        if (TakesTokenTypes)
        {
            names.Add("token_type_ids");
            values.Add(OrtValue.CreateTensorValueFromMemory(types, shape));
        }
        try
        {
            using var options = new RunOptions();
            using var results = Session.Run(options, names, values, Outputs);
            var outputs = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
            for (int i = 0; i < Outputs.Count; i++)
                outputs[Outputs[i]] = (results[i].GetTensorDataAsSpan<float>().ToArray(), results[i].GetTensorTypeAndShape().Shape);
            return outputs;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public void Dispose() => Session.Dispose();

    internal static string? Text(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    internal static int? Number(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<int>() : null;

    internal static double? Real(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>() : null;
}
