namespace FineTune.Modeling;

// Greedy decoding and beam search over any decoder, on plain arrays: the same code runs an EncoderDecoderModel
// (TorchSharp) and an export's ONNX graphs, in FineTune and, compiled in, in FineTune.Onnx (no TorchSharp here).

/// <summary>
/// How an encoder-decoder generates: greedy (<see cref="NumBeams"/> 1) or beam search with <see cref="NumBeams"/>
/// beams, a length penalty (a finished hypothesis scores its summed log-probability over its length, EOS included,
/// to the power <see cref="LengthPenalty"/>), no repeated n-grams of <see cref="NoRepeatNgramSize"/> (0: allowed), at
/// most <see cref="MaxNewTokens"/> tokens (EOS included), and early stopping (an input is done as soon as it has
/// <see cref="NumBeams"/> finished hypotheses; without it, once no running beam can beat the worst of them). No output
/// ends before <see cref="MinNewTokens"/> tokens (the end-of-sequence token is banned until then, as Hugging Face's
/// min_new_tokens does). <see cref="UseCache"/> keeps each layer's keys and values between steps; off, every step runs the decoder over the
/// whole prefix (the same tokens, more slowly).
/// </summary>
internal sealed record GenerationSettings(int NumBeams = 1, double LengthPenalty = 1.0, int NoRepeatNgramSize = 0, int MaxNewTokens = 64,
    bool EarlyStopping = true, bool UseCache = true, int MinNewTokens = 0)
{
    /// <summary>The most beams and the most new tokens generation takes.</summary>
    public const int MostBeams = 64, MostNewTokens = 4096;

    /// <summary>The first setting out of range: the property's name (the option of that name) and why; null when all are in range.</summary>
    public (string Setting, string Message)? Problem() =>
        NumBeams is < 1 or > MostBeams ? (nameof(NumBeams), $"must be between 1 and {MostBeams}, got {NumBeams}")
        : !double.IsFinite(LengthPenalty) ? (nameof(LengthPenalty), $"must be a finite number, got {LengthPenalty}")
        : NoRepeatNgramSize < 0 ? (nameof(NoRepeatNgramSize), $"must not be negative, got {NoRepeatNgramSize}")
        : MaxNewTokens is < 1 or > MostNewTokens ? (nameof(MaxNewTokens), $"must be between 1 and {MostNewTokens}, got {MaxNewTokens}")
        : MinNewTokens < 0 || MinNewTokens > MaxNewTokens ? (nameof(MinNewTokens), $"must be between 0 and the most new tokens ({MaxNewTokens}), got {MinNewTokens}")
        : null;
}

/// <summary>
/// How a trained encoder-decoder generates unless told otherwise, and the keys its settings have in finetune.json and
/// in an export's config.json (under "finetune"): one definition for the library and for FineTune.Onnx.
/// </summary>
internal static class TrainedGeneration
{
    public const int NumBeams = 4, NoRepeatNgramSize = 0, MaxTargetLength = 64, MinNewTokens = 0;
    public const double LengthPenalty = 1.0;
    public const bool EarlyStopping = true;

    public const string MaxTargetLengthKey = "max_target_length", NumBeamsKey = "num_beams", LengthPenaltyKey = "length_penalty",
        NoRepeatNgramKey = "no_repeat_ngram_size", MaxNewTokensKey = "max_new_tokens", EarlyStoppingKey = "early_stopping",
        MinNewTokensKey = "min_new_tokens";
}

/// <summary>The start, end-of-sequence and padding tokens of a decoder's vocabulary.</summary>
internal readonly record struct SpecialTokens(int Start, int Eos, int Pad);

/// <summary>
/// What generation asks of a decoder, whatever runs it: the logits of the next token after each row's tokens so far,
/// and keeping only some rows (beam search). Made for a batch of inputs, each repeated once per beam.
/// </summary>
internal interface IDecoderSteps : IDisposable
{
    /// <summary>The fp32 logits [N, V], row-major, of the token after each of the N sequences (start token included; all of one length).</summary>
    float[] NextLogits(IReadOnlyList<List<int>> sequences);

    /// <summary>Keeps row <c>rows[i]</c> as row i (the beams that continue).</summary>
    void Reorder(long[] rows);
}

/// <summary>Greedy decoding and beam search, batched over inputs, on any <see cref="IDecoderSteps"/>.</summary>
internal static class Decoding
{
    /// <summary>
    /// The generated ids of each of <paramref name="batch"/> inputs (<paramref name="steps"/> made for them times
    /// <see cref="GenerationSettings.NumBeams"/> rows), without the start and end-of-sequence tokens.
    /// </summary>
    public static List<int[]> Run(IDecoderSteps steps, int batch, SpecialTokens tokens, GenerationSettings settings)
    {
        Check(settings);
        return settings.NumBeams == 1 ? Greedy(steps, batch, tokens, settings) : BeamSearch(steps, batch, tokens, settings);
    }

    public static void Check(GenerationSettings settings)
    {
        if (settings.NumBeams < 1) throw new ArgumentOutOfRangeException(nameof(settings), settings.NumBeams, "beams must be at least 1");
        if (settings.MaxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(settings), settings.MaxNewTokens, "at least one new token");
    }

    private static List<int[]> Greedy(IDecoderSteps steps, int b, SpecialTokens config, GenerationSettings settings)
    {
        var sequences = Enumerable.Range(0, b).Select(_ => new List<int> { config.Start }).ToArray();
        var finished = new bool[b];
        for (int step = 0; step < settings.MaxNewTokens && !finished.All(f => f); step++)
        {
            var logits = steps.NextLogits(sequences);                                          // [B, V]
            int vocab = logits.Length / b;
            for (int i = 0; i < b; i++)
            {
                var row = logits.AsSpan(i * vocab, vocab);
                Ban(row, sequences[i], settings.NoRepeatNgramSize);
                if (step < settings.MinNewTokens) row[config.Eos] = float.NegativeInfinity;
                // A finished row is fed padding (its cache entries are never read back for its output).
                int token = finished[i] ? config.Pad : ArgMax(row);
                sequences[i].Add(token);
                if (token == config.Eos) finished[i] = true;
            }
        }
        return sequences.Select(s => Strip(s, config.Eos)).ToList();
    }

    private static List<int[]> BeamSearch(IDecoderSteps steps, int b, SpecialTokens config, GenerationSettings settings)
    {
        int k = settings.NumBeams;
        var sequences = Enumerable.Range(0, b * k).Select(_ => new List<int> { config.Start }).ToArray();
        // Only the first beam of an input starts alive, so that the K beams do not repeat one another.
        var beamScores = new double[b * k];
        for (int i = 0; i < b * k; i++) beamScores[i] = i % k == 0 ? 0 : -1e9;
        var hypotheses = Enumerable.Range(0, b).Select(_ => new FinishedHypotheses(k, settings.LengthPenalty, settings.EarlyStopping)).ToArray();
        var done = new bool[b];
        int generated = 0;
        var candidateScores = new float[2 * k];
        var candidateIndices = new long[2 * k];
        for (int step = 0; step < settings.MaxNewTokens && !done.All(d => d); step++)
        {
            var scores = steps.NextLogits(sequences);                                          // [B·K, V]
            int vocab = scores.Length / (b * k);
            for (int r = 0; r < b * k; r++)
            {
                var row = scores.AsSpan(r * vocab, vocab);
                LogSoftmax(row);
                Ban(row, sequences[r], settings.NoRepeatNgramSize);
                if (step < settings.MinNewTokens) row[config.Eos] = float.NegativeInfinity;
                float add = (float)beamScores[r];
                for (int j = 0; j < row.Length; j++) row[j] += add;
            }
            generated++;

            var nextBeams = new long[b * k];
            var nextTokens = new int[b * k];
            var nextScores = new double[b * k];
            for (int input = 0; input < b; input++)
            {
                int filled = 0;
                if (!done[input])
                {
                    TopK(scores.AsSpan(input * k * vocab, k * vocab), candidateScores, candidateIndices);
                    for (int rank = 0; rank < 2 * k && filled < k; rank++)
                    {
                        long index = candidateIndices[rank];
                        int beam = input * k + (int)(index / vocab);
                        int token = (int)(index % vocab);
                        double score = candidateScores[rank];
                        if (token == config.Eos)
                        {
                            // Only an end among the K best candidates finishes a hypothesis.
                            if (rank < k) hypotheses[input].Add(sequences[beam].Skip(1).Append(token).ToArray(), score, generated);
                            continue;
                        }
                        nextBeams[input * k + filled] = beam;
                        nextTokens[input * k + filled] = token;
                        nextScores[input * k + filled] = score;
                        filled++;
                    }
                    done[input] = hypotheses[input].IsDone(nextScores[input * k], generated);
                }
                // A finished input keeps its beams and is fed padding.
                for (; filled < k; filled++)
                {
                    nextBeams[input * k + filled] = input * k + filled;
                    nextTokens[input * k + filled] = config.Pad;
                    nextScores[input * k + filled] = done[input] ? 0 : -1e9;
                }
            }
            var reordered = new List<int>[b * k];
            for (int i = 0; i < b * k; i++) reordered[i] = [.. sequences[nextBeams[i]], nextTokens[i]];
            sequences = reordered;
            beamScores = nextScores;
            steps.Reorder(nextBeams);
        }
        // Inputs that ran out of tokens: their running beams are hypotheses too.
        for (int input = 0; input < b; input++)
            if (!done[input])
                for (int beam = input * k; beam < input * k + k; beam++)
                    hypotheses[input].Add(sequences[beam].Skip(1).ToArray(), beamScores[beam], generated);
        return hypotheses.Select(h => Strip([config.Start, .. h.Best()], config.Eos)).ToList();
    }

    /// <summary>The index of the largest value (the first of equal ones).</summary>
    internal static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++)
            if (row[j] > row[best]) best = j;
        return best;
    }

    /// <summary>log(softmax(row)) in place: row − (max + log Σ exp(row − max)).</summary>
    internal static void LogSoftmax(Span<float> row)
    {
        float max = float.NegativeInfinity;
        foreach (var x in row) max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in row) sum += Math.Exp(x - max);
        float shift = (float)(max + Math.Log(sum));
        for (int j = 0; j < row.Length; j++) row[j] -= shift;
    }

    /// <summary>The <c>scores.Length</c> largest values of <paramref name="values"/>, largest first (equal ones in index order), and their indices.</summary>
    internal static void TopK(ReadOnlySpan<float> values, float[] scores, long[] indices)
    {
        int n = 0, k = scores.Length;
        for (int j = 0; j < values.Length; j++)
        {
            float v = values[j];
            if (n == k && !(v > scores[k - 1])) continue;
            int at = n < k ? n++ : k - 1;
            // Shift the smaller kept values down; an equal kept value stays ahead of this later index.
            while (at > 0 && v > scores[at - 1])
            {
                scores[at] = scores[at - 1];
                indices[at] = indices[at - 1];
                at--;
            }
            scores[at] = v;
            indices[at] = j;
        }
    }

    /// <summary>Sets to −∞ the scores of tokens that would repeat an n-gram of the sequence (start token included), as Hugging Face's no_repeat_ngram_size.</summary>
    internal static void Ban(Span<float> row, IReadOnlyList<int> sequence, int n)
    {
        if (n <= 0 || sequence.Count + 1 < n) return;
        foreach (var token in BannedTokens(sequence, n)) row[token] = float.NegativeInfinity;
    }

    /// <summary>The tokens that would complete an n-gram already in <paramref name="sequence"/>.</summary>
    internal static IEnumerable<int> BannedTokens(IReadOnlyList<int> sequence, int n)
    {
        int start = sequence.Count - (n - 1);                                                  // the last n − 1 tokens
        var banned = new HashSet<int>();
        for (int i = 0; i + n <= sequence.Count; i++)
        {
            bool same = true;
            for (int j = 0; j < n - 1 && same; j++) same = sequence[i + j] == sequence[start + j];
            if (same) banned.Add(sequence[i + n - 1]);
        }
        return banned;
    }

    /// <summary>The generated tokens: after the start token, up to the first end-of-sequence token.</summary>
    private static int[] Strip(IReadOnlyList<int> sequence, int eos)
    {
        var tokens = new List<int>();
        for (int i = 1; i < sequence.Count && sequence[i] != eos; i++) tokens.Add(sequence[i]);
        return tokens.ToArray();
    }

    /// <summary>An input's finished hypotheses: the best <c>K</c> by length-penalised score.</summary>
    private sealed class FinishedHypotheses(int beams, double lengthPenalty, bool earlyStopping)
    {
        private readonly List<(double Score, int[] Tokens)> _kept = [];

        public void Add(int[] tokens, double logProbability, int length)
        {
            double score = logProbability / Math.Pow(Math.Max(length, 1), lengthPenalty);
            if (_kept.Count == beams && score <= _kept.Min(h => h.Score)) return;
            _kept.Add((score, tokens));
            if (_kept.Count > beams) _kept.RemoveAt(_kept.FindIndex(h => h.Score == _kept.Min(x => x.Score)));
        }

        /// <summary>
        /// Whether no running beam can still enter the list: it is full and early stopping is on, or the best running
        /// beam's score (<paramref name="bestRunning"/>, at <paramref name="length"/> tokens) is below the worst kept.
        /// </summary>
        public bool IsDone(double bestRunning, int length)
        {
            if (_kept.Count < beams) return false;
            if (earlyStopping) return true;
            return _kept.Min(h => h.Score) >= bestRunning / Math.Pow(Math.Max(length, 1), lengthPenalty);
        }

        public int[] Best() => _kept.Count == 0 ? [] : _kept.MaxBy(h => h.Score).Tokens;
    }
}
