using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>Options of a <see cref="TextGenerator"/>: where to run, and how to generate.</summary>
public sealed record TextGeneratorOptions : PredictorOptions
{
    /// <summary>Source tokens per input; null: the length the model was trained with.</summary>
    public int? MaxLength { get; init; }

    /// <summary>How to generate (beams, length penalty, …); null: as the model was trained to (its finetune.json), else the defaults.</summary>
    public Seq2SeqOptions? Generation { get; init; }
}

/// <summary>
/// A fine-tuned encoder-decoder (translation, summarization) loaded from its folder: generates the target text of
/// source texts, in batches, with greedy decoding or beam search.
/// </summary>
public sealed class TextGenerator : IDisposable
{
    /// <summary>The folder inside a saved model that holds the decoder's tokenizer when it is not the encoder's.</summary>
    internal const string DecoderTokenizerFolder = "decoder_tokenizer";

    private readonly EncoderDecoderModel? _model;
    private readonly ExportedSeq2Seq? _exported;
    private readonly Device _device;
    private readonly Func<IDisposable?>? _precision;

    private TextGenerator(string task, EncoderDecoderModel? model, ExportedSeq2Seq? exported, ITokenizer tokenizer, ITokenizer decoderTokenizer, Seq2SeqOptions generation,
        int maxLength, int batchSize, Device device, Func<IDisposable?>? precision)
    {
        Task = task;
        _model = model;
        _exported = exported;
        Tokenizer = tokenizer;
        DecoderTokenizer = decoderTokenizer;
        Generation = generation;
        MaxLength = maxLength;
        BatchSize = batchSize;
        _device = device;
        _precision = precision;
    }

    /// <summary>The task the model was fine-tuned for (translation, summarization).</summary>
    public string Task { get; }

    /// <summary>The encoder's tokenizer (of the sources).</summary>
    public ITokenizer Tokenizer { get; }

    /// <summary>The decoder's tokenizer (of the generated text).</summary>
    public ITokenizer DecoderTokenizer { get; }

    /// <summary>How it generates.</summary>
    public Seq2SeqOptions Generation { get; set; }

    /// <summary>Source tokens per input; longer sources are truncated.</summary>
    public int MaxLength { get; set; }

    public int BatchSize { get; set; }

    /// <summary>
    /// Loads a fine-tuned encoder-decoder folder (a run's model/), or its export folder (finetune export), which runs
    /// on ONNX Runtime (the int8 graphs with <see cref="Precision.Int8"/>) with the same generation.
    /// </summary>
    public static TextGenerator Load(string modelFolder, TextGeneratorOptions? options = null)
    {
        options ??= new TextGeneratorOptions();
        modelFolder = ModelCatalog.Resolve(modelFolder);
        if (ExportedSeq2Seq.IsExport(modelFolder)) return LoadExport(modelFolder, options);
        if (options.Precision == Configuration.Precision.Int8)
            throw new OptionException("PredictorOptions.Precision", $"int8 runs the quantized graphs of an export folder, and {modelFolder} is a model folder: export it with int8 quantization and give the export folder");
        var device = options.Setup();
        if (!EncoderDecoderFolder.Holds(modelFolder))
            throw new ModelLoadException("is not an encoder-decoder model (config.json's model_type is not \"encoder-decoder\"): fine-tune one with the translation or summarization task",
                Path.Combine(modelFolder, "config.json"), "model_type");
        var metadata = FineTuneMetadata.Load(modelFolder);
        var task = metadata?.Task is { } name && TaskRegistry.Find(name) is Seq2SeqTask t ? t : (Seq2SeqTask)TaskRegistry.Get("translation");
        var generation = options.Generation ?? task.SavedGeneration(metadata);
        generation.Validate();
        var model = EncoderDecoderFolder.Load(modelFolder, KernelOptions.Default, options.Load);
        model.to(device);
        model.eval();
        var tokenizer = Tokenizers.FromFolder(modelFolder);
        var decoderTokenizer = LoadDecoderTokenizer(modelFolder, tokenizer);
        int limit = PredictionModels.MaxLength(model.Seq2SeqConfig.Encoder, tokenizer.ModelMaxLength);
        int maxLength = Math.Min(options.MaxLength ?? (metadata?.MaxLength is int m && m > 0 ? m : limit), limit);
        return new TextGenerator(task.Name, model, null, tokenizer, decoderTokenizer, generation, maxLength, options.BatchSize, device,
            PrecisionScopes.For(options.Precision, device));
    }

    /// <summary>A saved encoder-decoder's decoder tokenizer: its own folder when the decoder has a vocabulary of its own, else <paramref name="tokenizer"/>.</summary>
    internal static ITokenizer LoadDecoderTokenizer(string modelFolder, ITokenizer tokenizer)
    {
        var decoderFolder = Path.Combine(modelFolder, DecoderTokenizerFolder);
        return Directory.Exists(decoderFolder) ? Tokenizers.FromFolder(decoderFolder) : tokenizer;
    }

    private static TextGenerator LoadExport(string folder, TextGeneratorOptions options)
    {
        ExportedTaskModel.CheckRuntime(options.Setup(), options.Precision);
        var exported = ExportedSeq2Seq.Open(folder, options.Precision == Configuration.Precision.Int8, options.Threads, "PredictorOptions.Threads");
        try
        {
            var task = TaskRegistry.Find(exported.Task) as Seq2SeqTask
                ?? throw new ModelLoadException($"holds a '{exported.Task}' model, not a translation or summarization one", Path.Combine(folder, "config.json"), "finetune.task");
            var generation = options.Generation ?? task.SavedGeneration(FineTuneMetadata.Load(folder));
            generation.Validate();
            int maxLength = Math.Min(options.MaxLength ?? exported.TrainedMaxLength ?? exported.Limit, exported.Limit);
            return new TextGenerator(task.Name, null, exported, exported.Tokenizer, exported.DecoderTokenizer, generation, maxLength, options.BatchSize, CPU, null);
        }
        catch
        {
            exported.Dispose();
            throw;
        }
    }

    /// <summary>Whether the generator runs an export folder on ONNX Runtime.</summary>
    public bool IsExport => _exported is not null;

    /// <summary>The generated text of one source.</summary>
    public string Generate(string source) => Generate([source])[0];

    /// <summary>The generated text of each source, in order.</summary>
    public IReadOnlyList<string> Generate(IReadOnlyList<string> sources) => GenerateIds(sources, out _).Select(ids => GeneratedText.Decode(DecoderTokenizer, ids)).ToList();

    /// <summary>The generated token ids of each source (decoder vocabulary, end-of-sequence excluded), and how many sources were truncated.</summary>
    internal int[][] GenerateIds(IReadOnlyList<string> sources, out int truncated)
    {
        var features = Seq2SeqFeatures.Sources(sources, Tokenizer, MaxLength, out truncated);
        if (_exported is not null) return _exported.Generate(features.Select(f => f.InputIds).ToList(), Seq2SeqTask.Settings(Generation), BatchSize);
        return Seq2SeqGeneration.Run(_model!, features, Seq2SeqTask.Settings(Generation), BatchSize, Tokenizer.PaddingTokenId, _device, _precision);
    }

    /// <summary>The model, for evaluation.</summary>
    internal EncoderDecoderModel Model => _model ?? throw new InvalidOperationException("an export folder's generator has no TorchSharp model");

    internal Device Device => _device;

    internal Func<IDisposable?>? Precision => _precision;

    public void Dispose()
    {
        _model?.Dispose();
        _exported?.Dispose();
    }
}
