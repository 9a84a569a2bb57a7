namespace FineTune.Text.Pipeline;

/// <summary>A tokenizer.json added token with all of Hugging Face's settings.</summary>
internal sealed record PipelineAddedToken(int Id, string Content, bool Special, bool SingleWord, bool LeftStrip, bool RightStrip, bool Normalized);

/// <summary>
/// Hugging Face's added vocabulary: tokens matched whole before the model sees the text. Tokens with
/// <c>normalized=false</c> are found in the original text, before normalization; the others in the normalized text,
/// as their own normalized form. A match is leftmost-longest; <c>single_word</c> needs no word character on either
/// side (a refused match is skipped whole); <c>lstrip</c>/<c>rstrip</c> take the whitespace before/after into the token.
/// </summary>
internal sealed class AddedVocabulary
{
    private readonly Matcher _raw;
    private readonly Matcher _normalized;

    public AddedVocabulary(IReadOnlyList<PipelineAddedToken> tokens, Normalizer? normalizer)
    {
        Tokens = tokens;
        _raw = new Matcher(tokens.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalized = new Matcher(tokens.Where(t => t.Normalized).Select(t => (NormalizedForm(t.Content, normalizer), t)));
    }

    public IReadOnlyList<PipelineAddedToken> Tokens { get; }

    private static string NormalizedForm(string content, Normalizer? normalizer)
    {
        if (normalizer is null) return content;
        var n = NormalizedText.FromOriginal(content, 0, content.Length);
        normalizer.Normalize(n);
        return n.ToString();
    }

    /// <summary>
    /// The pieces of <paramref name="text"/> [<paramref name="start"/>, <paramref name="end"/>): added tokens found in
    /// the original, the rest normalized, then added tokens found in the normalized text.
    /// </summary>
    public List<Split> ExtractAndNormalize(string text, int start, int end, Normalizer? normalizer)
    {
        var splits = new List<Split>();
        var whole = NormalizedText.FromOriginal(text, start, end);
        var first = _raw.IsEmpty ? [new Split(whole)] : _raw.SplitPieces(whole);
        foreach (var s in first)
        {
            if (s.IsAddedToken)
            {
                splits.Add(s);
                continue;
            }
            normalizer?.Normalize(s.Text);
            if (_normalized.IsEmpty)
            {
                if (!s.Text.IsEmpty) splits.Add(s);
                continue;
            }
            foreach (var piece in _normalized.SplitPieces(s.Text)) splits.Add(piece);
        }
        return splits;
    }

    private sealed class Matcher
    {
        private readonly Dictionary<char, (string Content, PipelineAddedToken Token)[]> _byFirstChar = new();

        public Matcher(IEnumerable<(string Content, PipelineAddedToken Token)> tokens)
        {
            foreach (var group in tokens.Where(t => t.Content.Length > 0).GroupBy(t => t.Content[0]))
                _byFirstChar[group.Key] = group.OrderByDescending(t => t.Content.Length).ToArray();
        }

        public bool IsEmpty => _byFirstChar.Count == 0;

        /// <summary>The leftmost-longest match at or after <paramref name="from"/>: (start, end, token) or null.</summary>
        private (int Start, int End, PipelineAddedToken Token)? NextMatch(ReadOnlySpan<char> s, int from)
        {
            for (int i = from; i < s.Length; i++)
            {
                if (!_byFirstChar.TryGetValue(s[i], out var candidates)) continue;
                foreach (var (content, token) in candidates)
                    if (s[i..].StartsWith(content, StringComparison.Ordinal))
                        return (i, i + content.Length, token);
            }
            return null;
        }

        public List<Split> SplitPieces(NormalizedText text)
        {
            var result = new List<Split>();
            var s = text.Span;
            int startOffset = 0;
            for (int from = 0; NextMatch(s, from) is var (start, stop, token);)
            {
                from = stop;
                if (token.SingleWord)
                {
                    bool startSpace = start == 0 || !EndsWithWord(s[..start]);
                    bool stopSpace = stop == s.Length || !StartsWithWord(s[stop..]);
                    if (!startSpace || !stopSpace) continue;
                }
                if (token.LeftStrip)
                {
                    int newStart = start;
                    while (newStart > 0 && PreTokenizer.IsWhitespace(Utf16.CodePointBefore(s, newStart, out _)))
                    {
                        Utf16.CodePointBefore(s, newStart, out int units);
                        newStart -= units;
                    }
                    start = Math.Max(newStart, startOffset);
                }
                if (token.RightStrip)
                {
                    while (stop < s.Length && PreTokenizer.IsWhitespace(Utf16.CodePointAt(s, stop, out int units))) stop += units;
                    from = stop;
                }
                if (startOffset < start) result.Add(new Split(text.Slice(startOffset, start)!));
                result.Add(new Split(text.Slice(start, stop)!, token.Id));
                startOffset = stop;
            }
            if (startOffset < s.Length) result.Add(new Split(startOffset == 0 ? text : text.Slice(startOffset, s.Length)!));
            return result;
        }

        private static bool EndsWithWord(ReadOnlySpan<char> s) => s.Length > 0 && WhitespacePreTokenizer.IsWord(Utf16.CodePointBefore(s, s.Length, out _));

        private static bool StartsWithWord(ReadOnlySpan<char> s) => s.Length > 0 && WhitespacePreTokenizer.IsWord(Utf16.CodePointAt(s, 0, out _));
    }
}
