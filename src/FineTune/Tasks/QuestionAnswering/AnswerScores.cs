namespace FineTune.Tasks;

/// <summary>How sure a QA model is of an answer.</summary>
internal static class AnswerScores
{
    /// <summary>
    /// The probability of the answer's span in its window, as Hugging Face's question-answering pipeline scores it:
    /// the softmax of the start logits over the window's context tokens at the start, times that of the end logits at
    /// the end. 0 for the empty answer.
    /// </summary>
    public static double Probability(IReadOnlyList<QaWindowOutput> windows, AnswerCandidate answer)
    {
        if (answer.IsEmpty) return 0;
        var window = windows[answer.Window];
        return Math.Exp(LogSoftmaxAt(window.StartLogits, window.Offsets, answer.StartToken) + LogSoftmaxAt(window.EndLogits, window.Offsets, answer.EndToken));
    }

    private static double LogSoftmaxAt(IReadOnlyList<float> logits, IReadOnlyList<(int Start, int End)?> offsets, int index)
    {
        double max = double.NegativeInfinity;
        for (int t = 0; t < offsets.Count; t++)
            if (offsets[t] is not null) max = Math.Max(max, logits[t]);
        double sum = 0;
        for (int t = 0; t < offsets.Count; t++)
            if (offsets[t] is not null) sum += Math.Exp(logits[t] - max);
        return logits[index] - max - Math.Log(sum);
    }
}
