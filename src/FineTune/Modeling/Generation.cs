using static TorchSharp.torch;

namespace FineTune.Modeling;

/// <summary>
/// How an encoder-decoder generates: greedy (<see cref="NumBeams"/> 1) or beam search with <see cref="NumBeams"/>
/// beams, a length penalty (a finished hypothesis scores its summed log-probability over its length, EOS included,
/// to the power <see cref="LengthPenalty"/>), no repeated n-grams of <see cref="NoRepeatNgramSize"/> (0: allowed), at
/// most <see cref="MaxNewTokens"/> tokens (EOS included), and early stopping (an input is done as soon as it has
/// <see cref="NumBeams"/> finished hypotheses; without it, once no running beam can beat the worst of them).
/// <see cref="UseCache"/> keeps each layer's keys and values between steps; off, every step runs the decoder over the
/// whole prefix (the same tokens, more slowly).
/// </summary>
internal sealed record GenerationSettings(int NumBeams = 1, double LengthPenalty = 1.0, int NoRepeatNgramSize = 0, int MaxNewTokens = 64,
    bool EarlyStopping = true, bool UseCache = true);

/// <summary>Greedy decoding and beam search for <see cref="EncoderDecoderModel"/>, batched over sources of different lengths.</summary>
internal static class SequenceGenerator
{
    /// <summary>
    /// The generated token ids of each source row of <paramref name="inputIds"/> [B, S] (padded, with
    /// <paramref name="attentionMask"/>), without the start token and the end-of-sequence token. The model must be
    /// in evaluation mode; call inside inference mode.
    /// </summary>
    public static List<int[]> Generate(EncoderDecoderModel model, Tensor inputIds, Tensor attentionMask, GenerationSettings settings)
    {
        Check(settings);
        using var scope = NewDisposeScope();
        using var encoded = model.Encode(new ModelInput(inputIds, attentionMask));            // [B, S, H]
        using var steps = new ModelDecoderSteps(model, encoded, attentionMask, settings.NumBeams, settings.UseCache);
        var config = model.Seq2SeqConfig;
        return Run(steps, (int)encoded.shape[0], new SpecialTokens(config.DecoderStartTokenId, config.EosTokenId, config.PadTokenId), settings);
    }

    /// <summary>
    /// Greedy decoding or beam search over any decoder (<paramref name="steps"/>, made for <paramref name="batch"/>
    /// inputs times <see cref="GenerationSettings.NumBeams"/> rows): the generated ids of each input, without the
    /// start and end-of-sequence tokens.
    /// </summary>
    public static List<int[]> Run(IDecoderSteps steps, int batch, SpecialTokens tokens, GenerationSettings settings)
    {
        Check(settings);
        return settings.NumBeams == 1 ? Greedy(steps, batch, tokens, settings) : BeamSearch(steps, batch, tokens, settings);
    }

    private static void Check(GenerationSettings settings)
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
            using var stepScope = NewDisposeScope();
            using var logits = steps.NextLogits(sequences);                                   // [B, V] fp32
            Ban(logits, sequences, settings.NoRepeatNgramSize);
            var next = logits.argmax(1).data<long>().ToArray();
            for (int i = 0; i < b; i++)
            {
                // A finished row is fed padding (its cache entries are never read back for its output).
                int token = finished[i] ? config.Pad : (int)next[i];
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
        for (int step = 0; step < settings.MaxNewTokens && !done.All(d => d); step++)
        {
            using var stepScope = NewDisposeScope();
            using var logits = steps.NextLogits(sequences);                                   // [B·K, V] fp32
            using var logProbs = logits.log_softmax(1);
            Ban(logProbs, sequences, settings.NoRepeatNgramSize);
            long vocab = logProbs.shape[1];
            using var scores = logProbs + tensor(beamScores, dtype: ScalarType.Float32).unsqueeze(1);   // [B·K, V]
            using var flat = scores.view(b, k * vocab);                                       // [B, K·V]
            var (topScores, topIndices) = flat.topk(2 * k, 1);                                // [B, 2K]
            var candidateScores = topScores.data<float>().ToArray();
            var candidateIndices = topIndices.data<long>().ToArray();
            generated++;

            var nextBeams = new long[b * k];
            var nextTokens = new int[b * k];
            var nextScores = new double[b * k];
            for (int input = 0; input < b; input++)
            {
                int filled = 0;
                if (!done[input])
                {
                    for (int rank = 0; rank < 2 * k && filled < k; rank++)
                    {
                        long index = candidateIndices[input * 2 * k + rank];
                        int beam = input * k + (int)(index / vocab);
                        int token = (int)(index % vocab);
                        double score = candidateScores[input * 2 * k + rank];
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

    /// <summary>Sets to −∞ the scores of tokens that would repeat an n-gram of the sequence (start token included), as Hugging Face's no_repeat_ngram_size.</summary>
    internal static void Ban(Tensor scores, IReadOnlyList<List<int>> sequences, int n)
    {
        if (n <= 0) return;
        for (int row = 0; row < sequences.Count; row++)
        {
            var s = sequences[row];
            if (s.Count + 1 < n) continue;
            foreach (var token in BannedTokens(s, n))
                scores[row, token].fill_(float.NegativeInfinity);
        }
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

/// <summary>The start, end-of-sequence and padding tokens of a decoder's vocabulary.</summary>
internal readonly record struct SpecialTokens(int Start, int Eos, int Pad);

/// <summary>
/// What generation asks of a decoder, whatever runs it: the logits of the next token after each row's tokens so far,
/// and keeping only some rows (beam search). Made for a batch of inputs, each repeated once per beam.
/// </summary>
internal interface IDecoderSteps : IDisposable
{
    /// <summary>The fp32 logits [N, V] (on the CPU) of the token after each of the N sequences (start token included; all of one length).</summary>
    Tensor NextLogits(IReadOnlyList<List<int>> sequences);

    /// <summary>Keeps row <c>rows[i]</c> as row i (the beams that continue).</summary>
    void Reorder(long[] rows);
}

/// <summary>
/// The decoder steps of an <see cref="EncoderDecoderModel"/>: the encoder's states repeated per beam, and a key/value
/// cache (one new token per step) or, without it, the whole prefix every step.
/// </summary>
internal sealed class ModelDecoderSteps : IDecoderSteps
{
    private readonly EncoderDecoderModel _model;
    private readonly Tensor _encoded, _mask;
    private readonly DecoderCache? _cache;

    public ModelDecoderSteps(EncoderDecoderModel model, Tensor encoded, Tensor mask, int beams, bool useCache)
    {
        _model = model;
        _encoded = beams == 1 ? encoded.alias() : encoded.repeat_interleave(beams, 0);        // [B, S, H] -> [B·K, S, H]
        _mask = beams == 1 ? mask.alias() : mask.repeat_interleave(beams, 0);                 // [B·K, S]
        _cache = useCache ? model.NewCache() : null;
    }

    public Tensor NextLogits(IReadOnlyList<List<int>> sequences)
    {
        var device = _encoded.device;
        int n = sequences.Count;
        Tensor logits;
        if (_cache is not null)
        {
            using var ids = tensor(sequences.Select(s => (long)s[^1]).ToArray(), device: device).view(n, 1);   // [N, 1]
            logits = _model.DecodeStep(ids, _cache.Length, _encoded, _mask, _cache);                          // [N, 1, V]
        }
        else
        {
            int t = sequences[0].Count;
            using var ids = tensor(sequences.SelectMany(s => s.Select(x => (long)x)).ToArray(), device: device).view(n, t);  // [N, T]
            logits = _model.DecodeStep(ids, 0, _encoded, _mask, null);                                          // [N, T, V]
        }
        using var _ = logits;
        using var last = logits.select(1, -1);                                                                  // [N, V]
        return last.to(ScalarType.Float32).cpu();
    }

    public void Reorder(long[] rows)
    {
        if (_cache is null) return;
        using var index = tensor(rows, device: _encoded.device);
        _cache.Reorder(index);
    }

    public void Dispose()
    {
        _cache?.Dispose();
        _encoded.Dispose();
        _mask.Dispose();
    }
}
