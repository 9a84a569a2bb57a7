using FineTune.Modeling;

namespace FineTune.Onnx;

/// <summary>
/// Options of <see cref="TextGenerator"/>: which graphs, threads, batch and source length, and how to generate; a
/// generation setting left null is the one the model was trained with (config.json's finetune section), else the
/// library's default.
/// </summary>
public sealed record TextGeneratorOptions
{
    public OnnxPrecision Precision { get; init; } = OnnxPrecision.Fp32;

    /// <summary>ONNX Runtime's threads within an operator (null: its default, one per core).</summary>
    public int? Threads { get; init; }

    /// <summary>Sources per run.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Source tokens (null: the length the model was trained with, else what it takes).</summary>
    public int? MaxLength { get; init; }

    /// <summary>Beams of beam search (1: greedy decoding).</summary>
    public int? NumBeams { get; init; }

    /// <summary>Beam search: a finished hypothesis scores its log-probability over its length to this power.</summary>
    public double? LengthPenalty { get; init; }

    /// <summary>No n-gram of this size twice in an output (0: allowed).</summary>
    public int? NoRepeatNgramSize { get; init; }

    /// <summary>The most tokens generated (the end-of-sequence token included).</summary>
    public int? MaxNewTokens { get; init; }

    /// <summary>Beam search: an input is done as soon as it has as many finished hypotheses as beams.</summary>
    public bool? EarlyStopping { get; init; }

    /// <summary>The fewest tokens generated before an output may end (0: no minimum).</summary>
    public int? MinNewTokens { get; init; }
}

/// <summary>
/// An exported translation or summarization model (finetune export of an encoder-decoder) run with ONNX Runtime:
/// source texts in, generated texts out, with the greedy decoding and beam search FineTune's TextGenerator uses on the
/// model folder, so the same text.
/// </summary>
public sealed class TextGenerator : IDisposable
{
    private readonly Inference.ExportedSeq2Seq _export;
    private readonly GenerationSettings _settings;

    private TextGenerator(Inference.ExportedSeq2Seq export, GenerationSettings settings, int maxLength, int batchSize)
    {
        _export = export;
        _settings = settings;
        MaxLength = maxLength;
        BatchSize = batchSize;
    }

    /// <summary>Opens an export folder of a translation or summarization model.</summary>
    public static TextGenerator Load(string exportFolder, TextGeneratorOptions? options = null)
    {
        options ??= new TextGeneratorOptions();
        ArgumentNullException.ThrowIfNull(exportFolder);
        if (!Directory.Exists(exportFolder)) throw new ModelLoadException("the export folder does not exist", exportFolder);
        if (!Inference.ExportedSeq2Seq.IsExport(exportFolder))
            throw new ModelLoadException("is not the export of a translation or summarization model (no onnx/encoder_model.onnx beside config.json)", exportFolder);
        if (options.BatchSize < 1) throw new OptionException("TextGeneratorOptions.BatchSize", $"must be at least 1, got {options.BatchSize}");
        var export = Inference.ExportedSeq2Seq.Open(exportFolder, options.Precision == OnnxPrecision.Int8, options.Threads, "TextGeneratorOptions.Threads");
        try
        {
            var m = export.Metadata;
            int Int(int? given, string key, int fallback) => given ?? Inference.ExportFolder.Number(m[key]) ?? fallback;
            var settings = new GenerationSettings(
                NumBeams: Int(options.NumBeams, TrainedGeneration.NumBeamsKey, TrainedGeneration.NumBeams),
                LengthPenalty: options.LengthPenalty ?? Inference.ExportFolder.Real(m[TrainedGeneration.LengthPenaltyKey]) ?? TrainedGeneration.LengthPenalty,
                NoRepeatNgramSize: Int(options.NoRepeatNgramSize, TrainedGeneration.NoRepeatNgramKey, TrainedGeneration.NoRepeatNgramSize),
                MaxNewTokens: Int(options.MaxNewTokens, TrainedGeneration.MaxNewTokensKey, Int(null, TrainedGeneration.MaxTargetLengthKey, TrainedGeneration.MaxTargetLength)),
                EarlyStopping: options.EarlyStopping ?? (Inference.ExportFolder.Number(m[TrainedGeneration.EarlyStoppingKey]) is { } early ? early != 0 : TrainedGeneration.EarlyStopping),
                MinNewTokens: Int(options.MinNewTokens, TrainedGeneration.MinNewTokensKey, TrainedGeneration.MinNewTokens));
            if (settings.Problem() is { } problem) throw new OptionException("TextGeneratorOptions." + problem.Setting, problem.Message);
            if (options.MaxLength is < 2) throw new OptionException("TextGeneratorOptions.MaxLength", $"must be at least 2, got {options.MaxLength}");
            int maxLength = Math.Min(options.MaxLength ?? export.TrainedMaxLength ?? export.Limit, export.Limit);
            return new TextGenerator(export, settings, maxLength, options.BatchSize);
        }
        catch
        {
            export.Dispose();
            throw;
        }
    }

    /// <summary>translation or summarization.</summary>
    public string Task => _export.Task;

    /// <summary>Source tokens per input; longer sources are truncated.</summary>
    public int MaxLength { get; }

    public int BatchSize { get; }

    /// <summary>Beams of beam search (1: greedy decoding).</summary>
    public int NumBeams => _settings.NumBeams;

    public string Generate(string source) => Generate([source])[0];

    /// <summary>The generated text of each source, in order, in batches of similar length.</summary>
    public IReadOnlyList<string> Generate(IReadOnlyList<string> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var encodings = _export.Tokenizer.EncodeBatch(sources, Text.EncodeOptions.Truncate(MaxLength));
        var generated = _export.Generate(encodings.Select(e => e.Ids).ToList(), _settings, BatchSize);
        return generated.Select(ids => Tasks.GeneratedText.Decode(_export.DecoderTokenizer, ids)).ToList();
    }

    public void Dispose() => _export.Dispose();
}
