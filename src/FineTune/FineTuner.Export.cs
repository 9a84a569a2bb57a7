using FineTune.Configuration;
using FineTune.Checkpoints;
using FineTune.Export;
using FineTune.Modeling;
using FineTune.Tasks;
using FineTune.Text;
using TorchSharp;

namespace FineTune;

/// <summary>How an exported model's weights are stored.</summary>
public enum ExportQuantization
{
    /// <summary>float32 only (onnx/model.onnx).</summary>
    None,

    /// <summary>Also onnx/model_quantized.onnx: int8 weights, activations quantized at run time.</summary>
    Int8,
}

/// <summary>Exporting a model to ONNX.</summary>
public sealed record ExportRequest
{
    /// <summary>A run's model folder (any task, any supported family) or a catalog name (exported for feature extraction).</summary>
    public required string Model { get; init; }

    /// <summary>The export folder to write (Optimum's layout); it must be new or empty unless <see cref="Overwrite"/>.</summary>
    public required string Output { get; init; }

    /// <summary>Also write an int8 model beside the float32 one.</summary>
    public ExportQuantization Quantize { get; init; } = ExportQuantization.None;

    /// <summary>The ONNX operator set (17 to 21; 18 by default).</summary>
    public int Opset { get; init; } = OnnxExporter.DefaultOpset;

    /// <summary>Replace an existing, non-empty output folder.</summary>
    public bool Overwrite { get; init; }

    /// <summary>How weight files may be read.</summary>
    public ModelLoadOptions Load { get; init; } = new();

    /// <summary>Receives one-line messages about the export.</summary>
    public Action<string>? Info { get; init; }
}

/// <summary>What an export wrote: the folder, its task ("feature-extraction" for an encoder without a head) and files.</summary>
public sealed record ExportResult(string OutputDirectory, string Task, IReadOnlyList<string> Files);

public static partial class FineTuner
{
    /// <summary>
    /// Whether a folder is an export folder (onnx/model.onnx, or an encoder-decoder's onnx/encoder_model.onnx, beside
    /// config.json): evaluation, prediction and the predictors run it on ONNX Runtime.
    /// </summary>
    public static bool IsExportFolder(string folder) => Inference.ExportFolder.IsExport(folder) || Inference.ExportedSeq2Seq.IsExport(folder);

    /// <summary>The task name of an export of an encoder without a task head (a catalog model).</summary>
    public const string FeatureExtraction = "feature-extraction";

    /// <summary>
    /// Exports a model folder (or a catalog model) to ONNX in Optimum's layout: onnx/model.onnx (and with int8
    /// onnx/model_quantized.onnx), config.json with the task's labels and FineTune's metadata, and the tokenizer's
    /// files. Written to a temporary folder and renamed into place: a failed export leaves nothing behind.
    /// </summary>
    public static ExportResult Export(ExportRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        OnnxExporter.CheckOpset(request.Opset);
        var output = Path.GetFullPath(request.Output);
        if (!request.Overwrite && Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any())
            throw new OptionException("ExportRequest.Output", $"{output} exists and is not empty (ExportRequest.Overwrite replaces it)");
        if (File.Exists(output))
            throw new OptionException("ExportRequest.Output", $"{output} is a file; give a folder");
        var folder = ModelCatalog.Resolve(request.Model);
        if (!File.Exists(Path.Combine(folder, "config.json")))
            throw new ModelLoadException("is not a model folder (no config.json); give a run's model/ folder or a catalog name", folder);
        var metadata = FineTuneMetadata.Load(folder);
        if (metadata?.Task is { } named && TaskRegistry.Find(named) is null)
            throw new ModelLoadException($"unknown task '{named}'; expected {TaskRegistry.Describe()}", Path.Combine(folder, FineTuneMetadata.FileName), "task");
        if (metadata?.Task is { } saved && TaskRegistry.Find(saved) is Seq2SeqTask seq2seq)
            return ExportSeq2Seq(request, folder, output, seq2seq, metadata);
        if (metadata?.Task is { } other && TaskRegistry.Find(other) is { ExportHead: null } unexported)
            throw new ModelLoadException($"a {unexported.Title.ToLowerInvariant()} model has no ONNX export", folder);
        var config = ModelFolder.LoadConfig(folder);
        EncoderGraphs.For(ModelFamilies.Of(config));
        var task = TaskRegistry.Detect(folder);
        var tokenizer = Tokenizers.FromFolder(folder);
        using var _ = torch.no_grad();
        var model = task is not null
            ? task.LoadForPrediction(folder, torch.CPU, request.Load)
            : ModelFolder.LoadTaskModel(folder, config, c => TaskModels.SentenceEmbedding(c), request.Load).Model;
        using (model)
        {
            model.eval();
            var head = task?.ExportHead ?? HeadGraph.SentenceEmbedding;
            var name = task?.Name ?? FeatureExtraction;
            IReadOnlyList<string> files = [];
            AtomicFolder.Write(output, tmp => files = OnnxExporter.WriteFolder(tmp, model, head, tokenizer, name, metadata, request.Opset,
                request.Quantize == ExportQuantization.Int8));
            request.Info?.Invoke($"Exported {model.ArchitectureName} ({name}) to {output}: {string.Join(", ", files)}");
            return new ExportResult(output, name, files);
        }
    }

    /// <summary>An encoder-decoder's export: its encoder, its decoder, and its decoder with past keys and values (Optimum's layout).</summary>
    private static ExportResult ExportSeq2Seq(ExportRequest request, string folder, string output, Seq2SeqTask task, FineTuneMetadata metadata)
    {
        if (!EncoderDecoderFolder.Holds(folder))
            throw new ModelLoadException("finetune.json names a sequence-to-sequence task but config.json's model_type is not \"encoder-decoder\"", Path.Combine(folder, "config.json"), "model_type");
        var tokenizer = Tokenizers.FromFolder(folder);
        var decoderFolder = Path.Combine(folder, TextGenerator.DecoderTokenizerFolder);
        var decoderTokenizer = Directory.Exists(decoderFolder) ? Tokenizers.FromFolder(decoderFolder) : null;
        using var _ = torch.no_grad();
        using var model = EncoderDecoderFolder.Load(folder, KernelOptions.Default, request.Load);
        model.eval();
        IReadOnlyList<string> files = [];
        AtomicFolder.Write(output, tmp => files = OnnxExporter.WriteSeq2SeqFolder(tmp, model, tokenizer, decoderTokenizer, TextGenerator.DecoderTokenizerFolder,
            task.Name, metadata, request.Opset, request.Quantize == ExportQuantization.Int8));
        request.Info?.Invoke($"Exported {model.ArchitectureName} ({task.Name}) to {output}: {string.Join(", ", files)}");
        return new ExportResult(output, task.Name, files);
    }
}
