using static TorchSharp.torch;

namespace FineTune.Modeling;

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
        Decoding.Check(settings);
        using var scope = NewDisposeScope();
        using var encoded = model.Encode(new ModelInput(inputIds, attentionMask));            // [B, S, H]
        using var steps = new ModelDecoderSteps(model, encoded, attentionMask, inputIds, settings.NumBeams, settings.UseCache);
        var config = model.Seq2SeqConfig;
        return Decoding.Run(steps, (int)encoded.shape[0], new SpecialTokens(config.DecoderStartTokenId, config.EosTokenId, config.PadTokenId), settings);
    }
}

/// <summary>
/// The decoder steps of an <see cref="EncoderDecoderModel"/>: the encoder's states repeated per beam, and a key/value
/// cache (one new token per step) or, without it, the whole prefix every step.
/// </summary>
internal sealed class ModelDecoderSteps : IDecoderSteps
{
    private readonly EncoderDecoderModel _model;
    private readonly Tensor _encoded, _mask, _source;
    private readonly DecoderCache? _cache;

    public ModelDecoderSteps(EncoderDecoderModel model, Tensor encoded, Tensor mask, Tensor sourceIds, int beams, bool useCache)
    {
        _model = model;
        _encoded = beams == 1 ? encoded.alias() : encoded.repeat_interleave(beams, 0);        // [B, S, H] -> [B·K, S, H]
        _mask = beams == 1 ? mask.alias() : mask.repeat_interleave(beams, 0);                 // [B·K, S]
        _source = beams == 1 ? sourceIds.alias() : sourceIds.repeat_interleave(beams, 0);     // [B·K, S] (the tokens a copy layer copies)
        _cache = useCache ? model.NewCache() : null;
    }

    public float[] NextLogits(IReadOnlyList<List<int>> sequences)
    {
        using var scope = NewDisposeScope();
        var device = _encoded.device;
        int n = sequences.Count;
        Tensor logits;
        if (_cache is not null)
        {
            using var ids = tensor(sequences.Select(s => (long)s[^1]).ToArray(), device: device).view(n, 1);   // [N, 1]
            logits = _model.DecodeStep(ids, _cache.Length, _encoded, _mask, _source, _cache);                        // [N, 1, V]
        }
        else
        {
            int t = sequences[0].Count;
            using var ids = tensor(sequences.SelectMany(s => s.Select(x => (long)x)).ToArray(), device: device).view(n, t);  // [N, T]
            logits = _model.DecodeStep(ids, 0, _encoded, _mask, _source, null);                                        // [N, T, V]
        }
        using var _ = logits;
        using var last = logits.select(1, -1);                                                                  // [N, V]
        using var cpu = last.to(ScalarType.Float32).cpu().contiguous();
        return cpu.data<float>().ToArray();
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
        _source.Dispose();
    }
}
