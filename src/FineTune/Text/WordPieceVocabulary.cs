namespace FineTune.Text;

/// <summary>A WordPiece vocabulary: token strings by id, and span lookups for whole words and continuation pieces.</summary>
internal sealed class WordPieceVocabulary
{
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int> _suffixes;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _idLookup;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _suffixLookup;

    /// <summary>The number of ids (one more than the largest).</summary>
    public int Count { get; }

    public string ContinuingSubwordPrefix { get; }

    /// <summary>The longest token, in UTF-16 code units (longer pieces cannot match).</summary>
    public int MaxTokenLength { get; }

    /// <summary>The longest continuation token without its prefix, in UTF-16 code units.</summary>
    public int MaxSuffixLength { get; }

    /// <param name="tokensById">Token strings by id; null where no token has the id. A token on several ids maps to the last, as in Hugging Face.</param>
    public WordPieceVocabulary(string?[] tokensById, string continuingSubwordPrefix)
    {
        Count = tokensById.Length;
        ContinuingSubwordPrefix = continuingSubwordPrefix;
        _ids = new Dictionary<string, int>(tokensById.Length, StringComparer.Ordinal);
        _suffixes = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < tokensById.Length; id++)
            if (tokensById[id] is string token)
                _ids[token] = id;
        foreach (var (token, id) in _ids)
        {
            MaxTokenLength = Math.Max(MaxTokenLength, token.Length);
            if (continuingSubwordPrefix.Length > 0 && token.Length > continuingSubwordPrefix.Length
                && token.StartsWith(continuingSubwordPrefix, StringComparison.Ordinal))
            {
                var suffix = token[continuingSubwordPrefix.Length..];
                _suffixes[suffix] = id;
                MaxSuffixLength = Math.Max(MaxSuffixLength, suffix.Length);
            }
        }
        if (continuingSubwordPrefix.Length == 0) MaxSuffixLength = MaxTokenLength;
        _idLookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        _suffixLookup = _suffixes.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    public bool TryGetId(ReadOnlySpan<char> token, out int id) => _idLookup.TryGetValue(token, out id);

    /// <summary>Looks up a continuation piece given without its prefix ("ing" for "##ing").</summary>
    public bool TryGetSuffixId(ReadOnlySpan<char> piece, out int id)
    {
        if (ContinuingSubwordPrefix.Length == 0) return _idLookup.TryGetValue(piece, out id);
        return _suffixLookup.TryGetValue(piece, out id);
    }

    /// <summary>
    /// WordPiece's step: the id and end of the longest piece of <paramref name="chars"/> starting at
    /// <paramref name="begin"/> that is in the vocabulary (a continuation piece after the start), never ending inside a
    /// surrogate pair; false when there is none.
    /// </summary>
    public bool TryLongestMatch(ReadOnlySpan<char> chars, int begin, out int id, out int end)
    {
        int limit = begin == 0 ? MaxTokenLength : MaxSuffixLength;
        end = Math.Min(chars.Length, begin + limit);
        if (end < chars.Length && end > begin && char.IsLowSurrogate(chars[end]) && char.IsHighSurrogate(chars[end - 1])) end--;
        while (end > begin)
        {
            var piece = chars[begin..end];
            if (begin == 0 ? TryGetId(piece, out id) : TryGetSuffixId(piece, out id)) return true;
            end -= end - begin >= 2 && char.IsLowSurrogate(chars[end - 1]) && char.IsHighSurrogate(chars[end - 2]) ? 2 : 1;
        }
        id = -1;
        return false;
    }

    /// <summary>Reads vocab.txt: one token per line (LF or CRLF), the id is the line number; trailing whitespace is trimmed as Hugging Face does.</summary>
    public static string[] ReadVocabLines(TextReader reader)
    {
        var tokens = new List<string>(32000);
        while (reader.ReadLine() is { } line)
            tokens.Add(line.TrimEnd());
        return tokens.ToArray();
    }
}
