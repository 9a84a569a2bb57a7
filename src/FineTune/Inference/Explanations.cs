using FineTune.Text;

namespace FineTune.Inference;

/// <summary>
/// One word of an explained input and its attribution: the sum over its sub-tokens of their integrated gradients.
/// <see cref="Start"/> and <see cref="End"/> are UTF-16 indices into the text it is in (the first text, or with
/// <see cref="Sequence"/> 1 the second text of a pair: a question answering model's context), so
/// <c>text[Start..End] == Word</c>. Positive: the word raised the explained output; negative: it lowered it.
/// </summary>
public sealed record WordAttribution(string Word, int Start, int End, double Attribution, int Sequence = 0);

/// <summary>
/// The explanation of one output of the model for one input: what is explained (<see cref="Label"/>: a class, a
/// label, "value", an entity, "start" or "end" of an answer), the output at the input (<see cref="Score"/>) and at
/// the baseline (<see cref="BaselineScore"/>), each word's attribution, and the completeness gap
/// |Σ attributions − (score − baseline score)| / |score − baseline score|.
/// </summary>
public sealed record TargetExplanation(string Label, double Score, double BaselineScore, IReadOnlyList<WordAttribution> Words, double CompletenessGap);

/// <summary>
/// The explanations of one input: its source row, its text (and second text), what the model predicts for it, and
/// one <see cref="TargetExplanation"/> per explained output (none when there is nothing to explain, as a text
/// without entities).
/// </summary>
public sealed record Explanation(long Row, string Text, string? TextPair, string Prediction, IReadOnlyList<TargetExplanation> Targets, bool Truncated);

/// <summary>What an explanation run wrote.</summary>
/// <param name="Explanations">One per input, in input order.</param>
/// <param name="Files">explanations.jsonl and explanations.html.</param>
/// <param name="Summary">A line or two: how many inputs and targets, and how many have a completeness gap within 5%.</param>
public sealed record ExplanationOutcome(IReadOnlyList<Explanation> Explanations, IReadOnlyList<string> Files, string Summary);

/// <summary>Token attributions as word attributions.</summary>
internal static class WordAttributions
{
    /// <summary>
    /// Merges token attributions into words: consecutive tokens of the same sequence and word id (the tokenizer's
    /// words: whitespace- and punctuation-delimited pieces) form a word, spanning from its first token's start to
    /// its last token's end; special tokens are left out. <paramref name="texts"/> holds the first text and, for a
    /// pair, the second.
    /// </summary>
    public static List<WordAttribution> Merge(Encoding encoding, IReadOnlyList<double> attributions, IReadOnlyList<string> texts)
    {
        var words = new List<WordAttribution>();
        int? sequence = null, word = null;
        int start = 0, end = 0;
        double sum = 0;
        void Flush()
        {
            if (sequence is int s) words.Add(new WordAttribution(texts[s][start..end], start, end, sum, s));
        }
        for (int t = 0; t < encoding.Length; t++)
        {
            if (encoding.SequenceIds[t] is not int s || encoding.AttentionMask[t] == 0) continue;
            var offset = encoding.Offsets[t];
            if (s == sequence && encoding.WordIds[t] == word)
            {
                end = Math.Max(end, offset.End);
                sum += attributions[t];
                continue;
            }
            Flush();
            (sequence, word, start, end, sum) = (s, encoding.WordIds[t], offset.Start, offset.End, attributions[t]);
        }
        Flush();
        return words;
    }

    /// <summary>The share of targets whose completeness gap is at most <paramref name="limit"/>, and how many targets there are.</summary>
    public static (double Share, int Targets) WithinGap(IEnumerable<Explanation> explanations, double limit = 0.05)
    {
        var gaps = explanations.SelectMany(e => e.Targets).Select(t => t.CompletenessGap).ToList();
        return (gaps.Count == 0 ? 0 : (double)gaps.Count(g => g <= limit) / gaps.Count, gaps.Count);
    }
}
