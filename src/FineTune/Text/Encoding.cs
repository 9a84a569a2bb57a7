namespace FineTune.Text;

/// <summary>
/// A tokenized text or text pair, as Hugging Face's <c>Encoding</c>: one entry per token in every array.
/// </summary>
public sealed class Encoding
{
    private readonly string[] _vocabulary;
    private string[]? _tokens;

    internal Encoding(int[] ids, int[] typeIds, int[] attentionMask, TokenOffset[] offsets, int?[] sequenceIds, int?[] wordIds,
        int truncatedTokens, string[] vocabulary)
    {
        Ids = ids;
        TypeIds = typeIds;
        AttentionMask = attentionMask;
        Offsets = offsets;
        SequenceIds = sequenceIds;
        WordIds = wordIds;
        TruncatedTokens = truncatedTokens;
        _vocabulary = vocabulary;
    }

    /// <summary>Token ids (input_ids).</summary>
    public int[] Ids { get; }

    /// <summary>Segment ids (token_type_ids): 0 for the first sequence and its special tokens, 1 for the second.</summary>
    public int[] TypeIds { get; }

    /// <summary>1 for real tokens, 0 for padding.</summary>
    public int[] AttentionMask { get; }

    /// <summary>Character ranges of the tokens in the original text (UTF-16 indices); (0, 0) for special tokens and padding.</summary>
    public TokenOffset[] Offsets { get; }

    /// <summary>0 or 1 for tokens of the first or second sequence; null for special tokens and padding.</summary>
    public int?[] SequenceIds { get; }

    /// <summary>The index of the word each token belongs to, within its sequence; null for special tokens and padding.</summary>
    public int?[] WordIds { get; }

    /// <summary>How many tokens of the input were cut off by truncation (0 when it fitted).</summary>
    public int TruncatedTokens { get; }

    /// <summary>True when truncation cut tokens off.</summary>
    public bool WasTruncated => TruncatedTokens > 0;

    /// <summary>The number of tokens, padding included.</summary>
    public int Length => Ids.Length;

    /// <summary>The tokens' strings from the vocabulary (for display and debugging).</summary>
    public IReadOnlyList<string> Tokens => _tokens ??= Array.ConvertAll(Ids, id => _vocabulary[id]);

    /// <summary>The index of the first token whose offsets in sequence <paramref name="sequence"/> contain character <paramref name="charIndex"/>, or null.</summary>
    public int? CharToToken(int charIndex, int sequence = 0)
    {
        for (int i = 0; i < Ids.Length; i++)
            if (SequenceIds[i] == sequence && Offsets[i].Start <= charIndex && charIndex < Offsets[i].End)
                return i;
        return null;
    }

    public override string ToString() => string.Join(" ", Tokens);
}
