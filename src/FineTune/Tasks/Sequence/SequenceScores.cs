namespace FineTune.Tasks;

/// <summary>
/// How the sequence tasks read a row of head outputs, without a tensor library (the ONNX predictors share it): the
/// softmax over classes with its arg-max, the sigmoid per label with the labels at or above a threshold.
/// </summary>
internal static class SequenceScores
{
    /// <summary>
    /// Softmax probabilities of <paramref name="logits"/> divided by <paramref name="temperature"/> (1: the logits as
    /// they are) and the index of the most probable class (the first on ties).
    /// </summary>
    public static (float[] Probabilities, int Best) Softmax(ReadOnlySpan<float> logits, double temperature = 1)
    {
        float max = float.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        var p = new float[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = temperature == 1 ? MathF.Exp(logits[i] - max) : (float)Math.Exp((logits[i] - max) / temperature);
        int best = 0;
        for (int i = 0; i < p.Length; i++)
        {
            p[i] = (float)(p[i] / sum);
            if (p[i] > p[best]) best = i;
        }
        return (p, best);
    }

    /// <summary>The sigmoid of each logit, and the labels whose probability is at or above <paramref name="threshold"/>.</summary>
    public static (float[] Probabilities, int[] Chosen) Sigmoid(ReadOnlySpan<float> logits, double threshold)
    {
        var p = new float[logits.Length];
        for (int i = 0; i < p.Length; i++) p[i] = 1f / (1f + MathF.Exp(-logits[i]));
        return (p, Enumerable.Range(0, p.Length).Where(i => p[i] >= threshold).ToArray());
    }
}
