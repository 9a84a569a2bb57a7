using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Checkpoints;
using FineTune.Checkpoints.Onnx;
using FineTune.Modeling;
using FineTune.Text;
using Google.Protobuf;
using DataType = FineTune.Checkpoints.Onnx.TensorProto.Types.DataType;

namespace FineTune.Export;

/// <summary>
/// Exports a task model to ONNX: the family's encoder and the task's head built node by node from the model's
/// modules and weights (<see cref="EncoderGraphs"/>, <see cref="HeadGraph"/>), with Optimum's input and output names
/// and dynamic batch and sequence axes, and writes an export folder in Optimum's layout.
/// </summary>
internal static class OnnxExporter
{
    /// <summary>The default operator set: 18 (LayerNormalization is native from 17).</summary>
    public const int DefaultOpset = 18;

    /// <summary>The operator sets an export can target.</summary>
    public const int MinOpset = 17, MaxOpset = 21;

    public const string OnnxFolder = "onnx";
    public const string ModelFile = "model.onnx";
    public const string QuantizedModelFile = "model_quantized.onnx";

    /// <summary>config.json's key for what FineTune records about an export (task, max length, inputs, outputs, settings).</summary>
    public const string MetadataKey = "finetune";

    public const string InputIds = Seq2SeqGraphNames.InputIds, AttentionMask = Seq2SeqGraphNames.AttentionMask, TokenTypeIds = Seq2SeqGraphNames.TokenTypeIds;

    /// <summary>The graph of <paramref name="model"/> (in eval mode) with <paramref name="head"/>'s outputs.</summary>
    public static ModelProto Build(TaskModel model, HeadGraph head, int opset = DefaultOpset)
    {
        CheckOpset(opset);
        var config = model.Config;
        var family = EncoderGraphs.For(model.Family);
        var builder = new OnnxGraphBuilder();
        var ids = builder.Input(InputIds, DataType.Int64, "batch_size", "sequence_length");
        var mask = builder.Input(AttentionMask, DataType.Int64, "batch_size", "sequence_length");
        var types = family.TakesTokenTypeIds(config) ? builder.Input(TokenTypeIds, DataType.Int64, "batch_size", "sequence_length") : null;
        var weights = model.state_dict();
        var g = new GraphContext(builder, config, weights, ids, mask, types);
        var prefix = model.Family.BaseModelPrefix + ".";
        var hidden = family.Encode(g, prefix);
        head.Build(g, family, prefix, hidden, model.NumOutputs);
        if (g.Unused.Count > 0)
            throw new FineTuneException($"the {model.ArchitectureName} export left weights out: {string.Join(", ", g.Unused.Order(StringComparer.Ordinal))}");
        return Wrap(builder.Graph, opset, $"{model.ArchitectureName} ({config.ModelType}, {config.NumHiddenLayers} layers, hidden {config.HiddenSize})");
    }

    /// <summary>An operator set the export cannot target is an error naming ExportRequest.Opset.</summary>
    public static void CheckOpset(int opset)
    {
        if (opset is < MinOpset or > MaxOpset)
            throw new OptionException("ExportRequest.Opset", $"must be from {MinOpset} (native LayerNormalization) to {MaxOpset}, got {opset}");
    }

    /// <summary>A model of <paramref name="graph"/> at <paramref name="opset"/> (with its IR version), described by <paramref name="description"/>.</summary>
    internal static ModelProto Wrap(GraphProto graph, int opset, string description)
    {
        var proto = new ModelProto
        {
            IrVersion = opset switch { <= 18 => 8, <= 20 => 9, _ => 10 },
            ProducerName = "FineTune.NET",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "",
            DocString = description,
            Graph = graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return proto;
    }

    /// <summary>Writes a model to <paramref name="path"/> (a protobuf message, below 2 GB).</summary>
    public static void Save(ModelProto model, string path)
    {
        using var file = File.Create(path);
        model.WriteTo(file);
    }

    /// <summary>
    /// Writes an export folder into <paramref name="folder"/> (an empty or new folder): onnx/model.onnx (and
    /// onnx/model_quantized.onnx), config.json with the head's architecture, labels and problem type and, under
    /// <see cref="MetadataKey"/>, the task, its input length and settings, the graph's inputs and outputs; and the
    /// tokenizer's files (tokenizer.json in Hugging Face's format among them).
    /// </summary>
    public static IReadOnlyList<string> WriteFolder(string folder, TaskModel model, HeadGraph head, ITokenizer tokenizer, string task,
        FineTuneMetadata? metadata, int opset, bool quantize)
    {
        var proto = Build(model, head, opset);
        Directory.CreateDirectory(Path.Combine(folder, OnnxFolder));
        var files = new List<string> { Path.Combine(OnnxFolder, ModelFile) };
        Save(proto, Path.Combine(folder, files[0]));
        if (quantize)
        {
            files.Add(Path.Combine(OnnxFolder, QuantizedModelFile));
            Save(Int8Quantizer.Quantize(proto), Path.Combine(folder, files[1]));
        }
        var config = model.Config with { Architectures = [model.ArchitectureName] };
        if (model.SavesAsEncoder) config = config with { Id2Label = null, Label2Id = null, ProblemType = null };
        var json = JsonNode.Parse(ModelFamilies.ConfigJson(config))!.AsObject();
        var ours = new JsonObject
        {
            ["task"] = task,
            ["max_length"] = metadata?.MaxLength is > 0 and var m ? m : null,
            ["model_max_length"] = model.Family.MaxSequenceLength(config),
            ["opset"] = opset,
            ["inputs"] = new JsonArray(proto.Graph.Input.Select(i => (JsonNode)i.Name).ToArray()),
            ["outputs"] = new JsonArray(head.Outputs.Select(o => (JsonNode)o).ToArray()),
            ["models"] = new JsonObject
            {
                ["fp32"] = $"{OnnxFolder}/{ModelFile}",
                ["int8"] = quantize ? $"{OnnxFolder}/{QuantizedModelFile}" : null,
            },
        };
        WriteConfigAndTokenizer(folder, json, ours, metadata, tokenizer, files);
        return files;
    }

    /// <summary>
    /// Writes config.json (<paramref name="json"/> with <paramref name="ours"/>, the run's base model and task settings
    /// added, under <see cref="MetadataKey"/>) and the tokenizer's files into <paramref name="folder"/>; adds their names to <paramref name="files"/>.
    /// </summary>
    private static void WriteConfigAndTokenizer(string folder, JsonObject json, JsonObject ours, FineTuneMetadata? metadata, ITokenizer tokenizer, List<string> files)
    {
        if (metadata?.BaseModel is { } baseModel) ours["base_model"] = baseModel;
        foreach (var (key, value) in metadata?.Settings ?? [])
            ours[key] = JsonNode.Parse(value.GetRawText());
        json[MetadataKey] = ours;
        File.WriteAllText(Path.Combine(folder, "config.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        files.Add("config.json");
        tokenizer.Save(folder);
        files.AddRange(Directory.GetFiles(folder).Select(Path.GetFileName).Where(f => f != "config.json")!);
    }

    /// <summary>
    /// Writes an encoder-decoder's export folder into <paramref name="folder"/>: onnx/encoder_model.onnx,
    /// onnx/decoder_model.onnx and onnx/decoder_with_past_model.onnx (and their *_quantized.onnx with int8),
    /// config.json (the encoder-decoder config, and under <see cref="MetadataKey"/> the task, its lengths and generation
    /// settings, the graphs and their files), the encoder's tokenizer and, when the decoder's differs, its tokenizer in
    /// <paramref name="decoderTokenizerFolder"/>.
    /// </summary>
    public static IReadOnlyList<string> WriteSeq2SeqFolder(string folder, EncoderDecoderModel model, ITokenizer tokenizer, ITokenizer? decoderTokenizer,
        string decoderTokenizerFolder, string task, FineTuneMetadata? metadata, int opset, bool quantize)
    {
        CheckOpset(opset);
        var graphs = new (string File, ModelProto Proto)[]
        {
            (Seq2SeqGraphNames.EncoderFile, Seq2SeqGraphs.Encoder(model, opset)),
            (Seq2SeqGraphNames.DecoderFile, Seq2SeqGraphs.Decoder(model, withPast: false, opset)),
            (Seq2SeqGraphNames.DecoderWithPastFile, Seq2SeqGraphs.Decoder(model, withPast: true, opset)),
        };
        Directory.CreateDirectory(Path.Combine(folder, OnnxFolder));
        var files = new List<string>();
        var models = new JsonObject();
        foreach (var (file, proto) in graphs)
        {
            var name = Path.GetFileNameWithoutExtension(file);
            Save(proto, Path.Combine(folder, OnnxFolder, file));
            files.Add(Path.Combine(OnnxFolder, file));
            var entry = new JsonObject
            {
                ["fp32"] = $"{OnnxFolder}/{file}",
                ["inputs"] = new JsonArray(proto.Graph.Input.Select(i => (JsonNode)i.Name).ToArray()),
                ["outputs"] = new JsonArray(proto.Graph.Output.Select(o => (JsonNode)o.Name).ToArray()),
            };
            if (quantize)
            {
                var quantized = name + "_quantized.onnx";
                Save(Int8Quantizer.Quantize(proto), Path.Combine(folder, OnnxFolder, quantized));
                files.Add(Path.Combine(OnnxFolder, quantized));
                entry["int8"] = $"{OnnxFolder}/{quantized}";
            }
            models[name] = entry;
        }
        var config = model.Seq2SeqConfig;
        var json = JsonNode.Parse(config.ToJson())!.AsObject();
        var ours = new JsonObject
        {
            ["task"] = task,
            ["max_length"] = metadata?.MaxLength is > 0 and var m ? m : null,
            ["model_max_length"] = model.Family.MaxSequenceLength(config.Encoder),
            ["opset"] = opset,
            ["models"] = models,
        };
        if (decoderTokenizer is not null) ours["decoder_tokenizer"] = decoderTokenizerFolder;
        WriteConfigAndTokenizer(folder, json, ours, metadata, tokenizer, files);
        if (decoderTokenizer is not null)
        {
            var sub = Path.Combine(folder, decoderTokenizerFolder);
            Directory.CreateDirectory(sub);
            decoderTokenizer.Save(sub);
            files.AddRange(Directory.GetFiles(sub).Select(f => Path.Combine(decoderTokenizerFolder, Path.GetFileName(f))));
        }
        return files;
    }
}
