using System.ComponentModel;
using FineTune.Modeling;

namespace FineTune.Tasks;

/// <summary>
/// Options of the sequence-to-sequence tasks (translation, summarization): where the source and target texts are,
/// the model (an encoder-decoder warm-started from BERT-family checkpoints), its loss and how it generates.
/// </summary>
public sealed record Seq2SeqOptions : TaskOptions
{
    [Description("The column with the source text (CSV, TSV, JSONL, Parquet); predict: the column to generate from.")]
    [UsedByPrediction]
    public string SourceColumn { get; init; } = "source";

    [Description("The column with the target text (a translation, a summary).")]
    [UsedByPrediction]
    public string TargetColumn { get; init; } = "target";

    [Description("Training data as two line-aligned plain-text files (.gz read as it is): the source side (instead of the training file). " +
        "A validation or test file is then the source side of a pair, its target named as the target file is named after this one (val.de.gz -> val.en.gz).")]
    public string? SourceFile { get; init; }

    [Description("The target side of the source file, line for line (evaluate: the target side of the data file).")]
    [UsedByPrediction]
    public string? TargetFile { get; init; }

    [Description("The checkpoint the decoder is warm-started from (a catalog name or a Hugging Face folder of a BERT model); default: the encoder's.")]
    public string? DecoderModel { get; init; }

    [Description("Share the encoder's and the decoder's weights (Rothe et al.'s BERTShare); the two must have the same vocabulary.")]
    public bool TieEncoderDecoder { get; init; }

    [Description("Let the decoder copy source tokens: a copy layer (a pointer-generator) mixes the vocabulary's distribution with an attention over the source's tokens; " +
        "source and output need one vocabulary. Default: on for summarization when the encoder and the decoder share a vocabulary, off for translation; " +
        "a trained model keeps what it was trained with.")]
    public bool? CopyFromSource { get; init; }

    [Description("Initialise every weight at random (the same architecture, no pretrained weights): the baseline a warm start is measured against.")]
    public bool FromScratch { get; init; }

    [Description("Label smoothing of the cross-entropy over target tokens.")]
    public double LabelSmoothing { get; init; } = 0.1;

    [Description("The most target tokens (with the end-of-sequence token); longer targets are truncated, counted and reported.")]
    public int MaxTargetLength { get; init; } = TrainedGeneration.MaxTargetLength;

    [Description("Beams of beam search (1: greedy decoding).")]
    [UsedByPrediction]
    public int NumBeams { get; init; } = TrainedGeneration.NumBeams;

    [Description("Beam search: a finished hypothesis scores its log-probability over its length to this power (above 1 favours longer outputs).")]
    [UsedByPrediction]
    public double LengthPenalty { get; init; } = TrainedGeneration.LengthPenalty;

    [Description("Never repeat an n-gram of this size in an output (0: no limit).")]
    [UsedByPrediction]
    public int NoRepeatNgramSize { get; init; } = TrainedGeneration.NoRepeatNgramSize;

    [Description("The most tokens generated per output (end-of-sequence included); default: the max target length.")]
    [UsedByPrediction]
    public int? MaxNewTokens { get; init; }

    [Description("The fewest tokens generated per output before it may end (the end-of-sequence token is banned until then; 0: no minimum).")]
    [UsedByPrediction]
    public int MinNewTokens { get; init; } = TrainedGeneration.MinNewTokens;

    [Description("Beam search: an input is done once it has as many finished hypotheses as beams (off: once no running beam can beat them).")]
    [UsedByPrediction]
    public bool EarlyStopping { get; init; } = TrainedGeneration.EarlyStopping;

    [Description("ROUGE: Porter-stem words before matching (rouge-score's use_stemmer).")]
    [UsedByPrediction]
    public bool UseStemmer { get; init; } = true;

    public override void Validate()
    {
        Check(!string.IsNullOrEmpty(SourceColumn), nameof(SourceColumn), "is empty");
        Check(!string.IsNullOrEmpty(TargetColumn), nameof(TargetColumn), "is empty");
        Check(SourceColumn != TargetColumn, nameof(TargetColumn), $"is the source column too ('{SourceColumn}')");
        Check(LabelSmoothing is >= 0 and < 1, nameof(LabelSmoothing), $"must be in [0, 1), got {LabelSmoothing}");
        Check(MaxTargetLength is >= 2 and <= GenerationSettings.MostNewTokens, nameof(MaxTargetLength), $"must be between 2 and {GenerationSettings.MostNewTokens}, got {MaxTargetLength}");
        if (Seq2SeqTask.Settings(this).Problem() is { } problem) Check(false, problem.Setting, problem.Message);
        Check(!(FromScratch && DecoderModel is not null), nameof(FromScratch), "loads no checkpoint, so a decoder model cannot be given with it");
    }

    /// <summary>The tokens generated at most: <see cref="MaxNewTokens"/>, else <see cref="MaxTargetLength"/>.</summary>
    internal int NewTokens => MaxNewTokens ?? MaxTargetLength;
}
