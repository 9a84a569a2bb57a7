namespace FineTune.Tasks;

/// <summary>
/// The model's output for one window (feature) of a question: a start and an end logit per token, and per token
/// its character range [start, end) in the context, or null for tokens outside the context (the question, special
/// tokens, padding). Logits may be longer than the offsets (padding); tokens past the offsets are never chosen.
/// </summary>
internal sealed record QaWindowOutput(IReadOnlyList<float> StartLogits, IReadOnlyList<float> EndLogits, IReadOnlyList<(int Start, int End)?> Offsets);

/// <summary>
/// A candidate answer: the text cut from the context by character offsets [<see cref="StartChar"/>, <see cref="EndChar"/>),
/// its score (start logit + end logit), its probability (softmax over the kept candidates) and where it came from.
/// </summary>
public sealed record AnswerCandidate(
    string Text,
    int StartChar,
    int EndChar,
    float Score,
    float StartLogit,
    float EndLogit,
    double Probability,
    int Window,
    int StartToken,
    int EndToken)
{
    /// <summary>The answer when no span qualifies: empty text, score 0, probability 1, window -1.</summary>
    public static AnswerCandidate Empty { get; } = new("", 0, 0, 0, 0, 0, 1, -1, -1, -1);

    public bool IsEmpty => Window < 0;
}

/// <summary>
/// Chooses the answer span of a question from the start/end logits of all its windows, as Hugging Face's
/// <c>postprocess_qa_predictions</c> does for SQuAD v1.
/// </summary>
/// <remarks>
/// <para>
/// In each window take the <see cref="NBest"/> highest start logits and the <see cref="NBest"/> highest end logits
/// (ties: the lower token index first). Every pair is a candidate unless a token lies outside the context (null or
/// missing offset), the end comes before the start, or the span has more than <see cref="MaxAnswerLength"/> tokens.
/// A candidate's score is its start logit plus its end logit. Candidates of all windows are ordered by score (ties
/// keep window, start, end order), the first <see cref="NBest"/> kept, their probabilities are the softmax of their
/// scores, and their text is cut from the original context by the character offsets.
/// </para>
/// <para>When no candidate qualifies the answer is <see cref="AnswerCandidate.Empty"/> (Hugging Face puts the text "empty" there).</para>
/// </remarks>
internal sealed class AnswerDecoder
{
    public AnswerDecoder(int nBest = 20, int maxAnswerLength = 30)
    {
        if (nBest < 1) throw new ArgumentOutOfRangeException(nameof(nBest), "n_best must be at least 1.");
        if (maxAnswerLength < 1) throw new ArgumentOutOfRangeException(nameof(maxAnswerLength), "The maximum answer length must be at least 1 token.");
        NBest = nBest;
        MaxAnswerLength = maxAnswerLength;
    }

    /// <summary>How many start and end positions per window, and how many candidates in the end, are considered.</summary>
    public int NBest { get; }

    /// <summary>The longest answer, in tokens.</summary>
    public int MaxAnswerLength { get; }

    /// <summary>The best answer over all windows of a question (see the remarks).</summary>
    public AnswerCandidate Decode(string context, IReadOnlyList<QaWindowOutput> windows)
    {
        var candidates = Candidates(context, windows);
        return candidates.Count > 0 ? candidates[0] : AnswerCandidate.Empty;
    }

    /// <summary>Up to <see cref="NBest"/> candidates, best first, with softmax probabilities; empty when none qualifies.</summary>
    public IReadOnlyList<AnswerCandidate> Candidates(string context, IReadOnlyList<QaWindowOutput> windows)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(windows);
        var found = new List<(int Window, int Start, int End, int StartChar, int EndChar, float StartLogit, float EndLogit, float Score)>();
        for (var w = 0; w < windows.Count; w++)
        {
            var window = windows[w];
            Check(window, w, context);
            var offsets = window.Offsets;
            foreach (var start in TopIndexes(window.StartLogits, NBest))
            {
                foreach (var end in TopIndexes(window.EndLogits, NBest))
                {
                    if (start >= offsets.Count || end >= offsets.Count) continue;
                    if (offsets[start] is not { } startSpan || offsets[end] is not { } endSpan) continue;
                    if (end < start || end - start + 1 > MaxAnswerLength) continue;
                    var startLogit = window.StartLogits[start];
                    var endLogit = window.EndLogits[end];
                    found.Add((w, start, end, startSpan.Start, endSpan.End, startLogit, endLogit, startLogit + endLogit));
                }
            }
        }
        if (found.Count == 0) return [];

        var best = found.OrderByDescending(c => c.Score).Take(NBest).ToArray();
        var max = best[0].Score;
        var exps = best.Select(c => Math.Exp((double)c.Score - max)).ToArray();
        var sum = exps.Sum();
        var result = new AnswerCandidate[best.Length];
        for (var i = 0; i < best.Length; i++)
        {
            var c = best[i];
            var endChar = Math.Max(c.StartChar, c.EndChar);
            result[i] = new AnswerCandidate(context[c.StartChar..endChar], c.StartChar, endChar, c.Score, c.StartLogit, c.EndLogit,
                exps[i] / sum, c.Window, c.Start, c.End);
        }
        return result;
    }

    /// <summary>The indexes of the <paramref name="count"/> largest values, largest first; ties: lower index first.</summary>
    internal static int[] TopIndexes(IReadOnlyList<float> values, int count)
    {
        var indexes = Enumerable.Range(0, values.Count).ToArray();
        Array.Sort(indexes, (a, b) =>
        {
            var byValue = values[b].CompareTo(values[a]);
            return byValue != 0 ? byValue : a.CompareTo(b);
        });
        return indexes.Length <= count ? indexes : indexes[..count];
    }

    private static void Check(QaWindowOutput window, int index, string context)
    {
        ArgumentNullException.ThrowIfNull(window);
        if (window.StartLogits.Count != window.EndLogits.Count)
            throw new ArgumentException($"Window {index} has {window.StartLogits.Count} start logits but {window.EndLogits.Count} end logits.");
        if (window.Offsets.Count > window.StartLogits.Count)
            throw new ArgumentException($"Window {index} has offsets for {window.Offsets.Count} tokens but logits for {window.StartLogits.Count}.");
        for (var t = 0; t < window.Offsets.Count; t++)
        {
            if (window.Offsets[t] is { } span && (span.Start < 0 || span.End < span.Start || span.End > context.Length))
                throw new ArgumentException($"Window {index}, token {t}: offsets ({span.Start}, {span.End}) lie outside a context of {context.Length} characters.");
        }
    }
}
