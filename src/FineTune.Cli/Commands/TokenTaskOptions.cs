using System.CommandLine;

namespace FineTune.Cli.Commands;

/// <summary>The options of token classification (NER) and extractive question answering; shared by train, evaluate and predict.</summary>
internal sealed class TokenTaskOptions
{
    public const int DefaultQaMaxLength = 384;

    public Option<int?> TagColumn { get; } = new("--tag-column") { Description = "NER, CoNLL files: the 0-based column of the tag (default: the last; the word is column 0)." };
    public Option<string?> TagScheme { get; } = new("--tag-scheme") { Description = "NER: the tag scheme of the files, iob1, iob2 (bio) or bioes (default: detected from the training file; evaluate: from the file evaluated)." };
    public Option<bool> LabelAllTokens { get; } = new("--label-all-tokens") { Description = "NER: train on every sub-token of a word, not only the first." };
    public Option<int?> DocStride { get; } = new("--doc-stride") { Description = "QA: context tokens shared by consecutive windows of a long context (default 128; evaluate and predict: what the model was trained with)." };
    public Option<int> NBest { get; } = new("--n-best") { Description = "QA: start and end candidates considered per window when decoding the answer.", DefaultValueFactory = _ => 20 };
    public Option<int> MaxAnswerLength { get; } = new("--max-answer-length") { Description = "QA: the longest answer, in tokens.", DefaultValueFactory = _ => 30 };

    public IEnumerable<Option> Training => [TagColumn, TagScheme, LabelAllTokens, DocStride, NBest, MaxAnswerLength];
    public IEnumerable<Option> Answering => [DocStride, NBest, MaxAnswerLength];
    public IEnumerable<Option> Evaluation => [TagColumn, TagScheme, DocStride, NBest, MaxAnswerLength];

    /// <summary>--tag-scheme parsed, or null to detect the scheme.</summary>
    public Data.TagScheme? Scheme(ParseResult p)
    {
        if (p.GetValue(TagScheme) is not { } name) return null;
        try
        {
            return Data.TagSchemes.Parse(name);
        }
        catch (FineTuneException e)
        {
            throw new FineTuneException("--tag-scheme: " + e.Message, e);
        }
    }

    public TokenClassificationOptions TokenClassification(ParseResult p)
    {
        var column = p.GetValue(TagColumn);
        if (column < 0) throw new FineTuneException($"--tag-column: must be 0 or more (0-based), got {column}");
        return new TokenClassificationOptions
        {
            TagColumn = column,
            Scheme = p.GetValue(TagScheme),
            LabelAllTokens = p.GetValue(LabelAllTokens),
        };
    }

    /// <param name="maxLength">--max-length when given; windows of <see cref="DefaultQaMaxLength"/> tokens otherwise.</param>
    public QuestionAnsweringOptions QuestionAnswering(ParseResult p, int? maxLength) => new()
    {
        MaxLength = maxLength ?? DefaultQaMaxLength,
        DocStride = p.GetValue(DocStride) ?? 128,
        NBest = p.GetValue(NBest),
        MaxAnswerLength = p.GetValue(MaxAnswerLength),
    };
}
