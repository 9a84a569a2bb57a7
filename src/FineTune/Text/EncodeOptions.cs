namespace FineTune.Text;

/// <summary>How a text (or text pair) longer than <see cref="EncodeOptions.MaxLength"/> is cut, with Hugging Face's semantics.</summary>
public enum TruncationStrategy
{
    /// <summary>Cut the longer sequence of a pair first, splitting the budget as Hugging Face does; a single text is cut at the end.</summary>
    LongestFirst,
    /// <summary>Cut only the first sequence; an error when that is not enough.</summary>
    OnlyFirst,
    /// <summary>Cut only the second sequence (the context of a question); an error when that is not enough or there is no pair.</summary>
    OnlySecond,
    /// <summary>Never cut, whatever <see cref="EncodeOptions.MaxLength"/> says.</summary>
    DoNotTruncate,
}

/// <summary>Options of <see cref="WordPieceTokenizer.Encode(string, string?, EncodeOptions?)"/>.</summary>
public sealed record EncodeOptions
{
    /// <summary>The default: special tokens added, no truncation.</summary>
    public static EncodeOptions Default { get; } = new();

    /// <summary>The most tokens in the result, special tokens included; null for no limit.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Which sequence loses tokens when the input is longer than <see cref="MaxLength"/>.</summary>
    public TruncationStrategy Truncation { get; init; } = TruncationStrategy.LongestFirst;

    /// <summary>Wrap the input as <c>[CLS] A [SEP]</c> or <c>[CLS] A [SEP] B [SEP]</c>.</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>Options that cut to <paramref name="maxLength"/> tokens with the given strategy.</summary>
    public static EncodeOptions Truncate(int maxLength, TruncationStrategy strategy = TruncationStrategy.LongestFirst) =>
        new() { MaxLength = maxLength, Truncation = strategy };
}

/// <summary>
/// Where a token comes from: the half-open range [<see cref="Start"/>, <see cref="End"/>) of UTF-16 code units
/// (the indices of .NET strings) in the original text. Special tokens added by the template have (0, 0).
/// Tokens of pre-split words (<see cref="WordPieceTokenizer.EncodeWords"/>) are relative to their word, as in Hugging Face.
/// </summary>
public readonly record struct TokenOffset(int Start, int End)
{
    /// <summary>The number of UTF-16 code units covered.</summary>
    public int Length => End - Start;

    public override string ToString() => $"({Start}, {End})";
}
