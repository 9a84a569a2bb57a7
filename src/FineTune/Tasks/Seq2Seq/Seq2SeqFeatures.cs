using System.Globalization;
using FineTune.Data;
using FineTune.Modeling;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// One source/target pair, tokenized: the encoder's input ids (with the encoder tokenizer's special tokens) and the
/// target's ids in the decoder's vocabulary ending with its end-of-sequence token (the labels; the decoder reads them
/// shifted right behind its start token).
/// </summary>
internal sealed record Seq2SeqFeature(int[] InputIds, int[] TypeIds, int ExampleIndex, int[] Labels) : Feature(InputIds, TypeIds, ExampleIndex);

/// <summary>How many tokens the texts of a split take and how many are unknown, per side.</summary>
internal sealed record TokenStatistics(int Texts, long Words, long Tokens, long Unknown)
{
    public double TokensPerText => Texts == 0 ? 0 : (double)Tokens / Texts;
    public double TokensPerWord => Words == 0 ? 0 : (double)Tokens / Words;
    public double UnknownRate => Tokens == 0 ? 0 : (double)Unknown / Tokens;

    public string Describe(string side, string unit) => string.Create(CultureInfo.InvariantCulture,
        $"{side}: {TokensPerText:0.0} tokens per {unit} ({TokensPerWord:0.00} per word), {UnknownRate:P2} unknown tokens");
}

/// <summary>Tokenizes pairs and pads them into batches.</summary>
internal static class Seq2SeqFeatures
{
    /// <summary>
    /// The features of <paramref name="pairs"/>: sources cut to <paramref name="maxLength"/> tokens, targets to
    /// <paramref name="maxTargetLength"/> (end-of-sequence included); how many of each were cut, and the token
    /// statistics of both sides (before truncation, without special tokens).
    /// </summary>
    public static (List<Seq2SeqFeature> Features, int TruncatedSources, int TruncatedTargets, TokenStatistics Source, TokenStatistics Target) Build(
        IReadOnlyList<TextPair> pairs, ITokenizer encoderTokenizer, ITokenizer decoderTokenizer, int maxLength, int maxTargetLength)
    {
        var sources = encoderTokenizer.EncodeBatch(pairs.Select(p => p.Source).ToList(), EncodeOptions.Truncate(maxLength));
        var targets = decoderTokenizer.EncodeBatch(pairs.Select(p => p.Target).ToList(), new EncodeOptions { AddSpecialTokens = false });
        int eos = EndToken(decoderTokenizer);
        var features = new List<Seq2SeqFeature>(pairs.Count);
        int truncatedSources = 0, truncatedTargets = 0;
        long sourceTokens = 0, sourceUnknown = 0, targetTokens = 0, targetUnknown = 0, sourceWords = 0, targetWords = 0;
        int specials = encoderTokenizer.SpecialTokenCount(pair: false);
        for (int i = 0; i < pairs.Count; i++)
        {
            var s = sources[i];
            var t = targets[i].Ids;
            if (s.WasTruncated) truncatedSources++;
            if (t.Length + 1 > maxTargetLength) truncatedTargets++;
            var labels = t.Take(maxTargetLength - 1).Append(eos).ToArray();
            features.Add(new Seq2SeqFeature(s.Ids, s.TypeIds, i, labels));
            sourceTokens += s.Ids.Length - specials + s.TruncatedTokens;
            sourceUnknown += s.Ids.Count(id => id == encoderTokenizer.UnknownTokenId);
            targetTokens += t.Length;
            targetUnknown += t.Count(id => id == decoderTokenizer.UnknownTokenId);
            sourceWords += pairs[i].Source.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            targetWords += pairs[i].Target.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        }
        return (features, truncatedSources, truncatedTargets,
            new TokenStatistics(pairs.Count, sourceWords, sourceTokens, sourceUnknown), new TokenStatistics(pairs.Count, targetWords, targetTokens, targetUnknown));
    }

    /// <summary>The features of sources alone (prediction): labels empty.</summary>
    public static List<Seq2SeqFeature> Sources(IReadOnlyList<string> sources, ITokenizer encoderTokenizer, int maxLength, out int truncated)
    {
        var encodings = encoderTokenizer.EncodeBatch(sources, EncodeOptions.Truncate(maxLength));
        truncated = encodings.Count(e => e.WasTruncated);
        return encodings.Select((e, i) => new Seq2SeqFeature(e.Ids, e.TypeIds, i, [])).ToList();
    }

    /// <summary>The token a tokenizer's template starts a sequence with (BERT: [CLS]): the decoder's start token.</summary>
    public static int StartToken(ITokenizer tokenizer) => tokenizer.WithSpecialTokens([])[0];

    /// <summary>The token a tokenizer's template ends a sequence with (BERT: [SEP]): the decoder's end-of-sequence token.</summary>
    public static int EndToken(ITokenizer tokenizer) => tokenizer.WithSpecialTokens([])[^1];

    /// <summary>Sources padded [B, S] and, when the features have them, labels padded with -100 (ignored by the loss) [B, T].</summary>
    public static ModelInput Collate(IReadOnlyList<Seq2SeqFeature> batch, int padId, Device device)
    {
        var input = InputPadding.Collate(batch, padId, device);
        int t = batch.Max(f => f.Labels.Length);
        if (t == 0) return input;
        var labels = new long[batch.Count * t];
        Array.Fill(labels, CrossEntropyLoss.IgnoreIndex);
        for (int i = 0; i < batch.Count; i++)
            for (int j = 0; j < batch[i].Labels.Length; j++)
                labels[i * t + j] = batch[i].Labels[j];
        return input with { Labels = tensor(labels, device: device).view(batch.Count, t) };
    }
}
