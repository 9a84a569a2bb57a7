using FineTune.Data;

namespace FineTune.Tasks;

/// <summary>
/// How entities are read from a text's token predictions, without a tensor library (the ONNX predictors share it):
/// a long text is cut into pieces at word boundaries, each word takes its first sub-token's tag and probability, and
/// entities span from the first character of their first word to the last character of their last.
/// </summary>
internal static class EntitySpans
{
    /// <summary>An entity in a text: its type, character range [Start, End), first and last word (inclusive) and mean tag probability.</summary>
    internal readonly record struct Span(string Type, int Start, int End, int FirstWord, int LastWord, double Score);

    /// <summary>
    /// Consecutive pieces of at most <paramref name="budget"/> tokens that end at word boundaries (a single word longer
    /// than the budget is cut).
    /// </summary>
    public static IEnumerable<(int From, int Count)> Pieces(IReadOnlyList<int?> wordIds, int budget)
    {
        int n = wordIds.Count, from = 0;
        while (from < n)
        {
            int end = Math.Min(from + budget, n);
            if (end < n)
            {
                int cut = end;
                while (cut > from && wordIds[cut] is { } w && w == wordIds[cut - 1]) cut--;
                if (cut > from) end = cut;
            }
            yield return (from, end - from);
            from = end;
        }
    }

    /// <summary>
    /// The entities of a text from its encoding and per token the predicted tag id and its probability (special
    /// tokens, where the encoding has them, are left out); <paramref name="tag"/> names a tag id.
    /// </summary>
    public static List<Span> Find(Text.Encoding encoding, IReadOnlyList<int> tokenLabels, IReadOnlyList<float> tokenScores, Func<int, string> tag)
    {
        var (wordFirst, wordLast) = Words(encoding);
        var tags = wordFirst.Select(t => tag(tokenLabels[t])).ToArray();
        var entities = new List<Span>();
        foreach (var span in EntityChunker.Extract(tags))
        {
            int start = encoding.Offsets[wordFirst[span.Start]].Start;
            int end = encoding.Offsets[wordLast[span.End - 1]].End;
            double score = Enumerable.Range(span.Start, span.Length).Average(w => tokenScores[wordFirst[w]]);
            entities.Add(new Span(span.Type, start, end, span.Start, span.End - 1, score));
        }
        return entities;
    }

    /// <summary>
    /// The words of an encoding: runs of tokens with the same word id, by their first and last token (special tokens
    /// are left out); each word takes its first token's tag.
    /// </summary>
    public static (List<int> First, List<int> Last) Words(Text.Encoding encoding)
    {
        var wordFirst = new List<int>();
        var wordLast = new List<int>();
        for (int t = 0; t < encoding.Length; t++)
        {
            if (encoding.SequenceIds[t] is null) continue;
            if (wordFirst.Count > 0 && encoding.WordIds[t] is { } w && w == encoding.WordIds[t - 1]) wordLast[^1] = t;
            else
            {
                wordFirst.Add(t);
                wordLast.Add(t);
            }
        }
        return (wordFirst, wordLast);
    }
}
