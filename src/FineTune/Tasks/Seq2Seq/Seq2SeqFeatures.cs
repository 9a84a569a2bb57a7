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

/// <summary>
/// How many tokens the texts of a split take, per side: per text, per white-space word, the share of the tokenizer's
/// words (punctuation apart) cut into several pieces, and the share of unknown tokens.
/// </summary>
internal sealed record TokenStatistics(int Texts, long Words, long Tokens, long Unknown, long TokenizerWords, long SplitWords)
{
    public double TokensPerText => Texts == 0 ? 0 : (double)Tokens / Texts;
    public double TokensPerWord => Words == 0 ? 0 : (double)Tokens / Words;
    public double UnknownRate => Tokens == 0 ? 0 : (double)Unknown / Tokens;
    public double SplitWordRate => TokenizerWords == 0 ? 0 : (double)SplitWords / TokenizerWords;

    public string Describe(string side, string unit) => string.Create(CultureInfo.InvariantCulture,
        $"{side}: {TokensPerText:0.0} tokens per {unit} ({TokensPerWord:0.00} per word, {SplitWordRate:P1} of words in several pieces), {UnknownRate:P2} unknown tokens");

    /// <summary>The statistics of encodings without truncation or special tokens.</summary>
    public static TokenStatistics Of(IReadOnlyList<string> texts, IReadOnlyList<Encoding> encodings, int unknownId)
    {
        long words = 0, tokens = 0, unknown = 0, tokenizerWords = 0, split = 0;
        for (int i = 0; i < texts.Count; i++)
        {
            var e = encodings[i];
            words += texts[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            tokens += e.Ids.Length;
            unknown += e.Ids.Count(id => id == unknownId);
            foreach (var pieces in e.WordIds.Where(w => w is not null).GroupBy(w => w))
            {
                tokenizerWords++;
                if (pieces.Count() > 1) split++;
            }
        }
        return new TokenStatistics(texts.Count, words, tokens, unknown, tokenizerWords, split);
    }
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
        var sourceTexts = pairs.Select(p => p.Source).ToList();
        var targetTexts = pairs.Select(p => p.Target).ToList();
        var sources = encoderTokenizer.EncodeBatch(sourceTexts, EncodeOptions.Truncate(maxLength));
        var targets = decoderTokenizer.EncodeBatch(targetTexts, new EncodeOptions { AddSpecialTokens = false });
        int eos = EndToken(decoderTokenizer);
        var features = new List<Seq2SeqFeature>(pairs.Count);
        int truncatedSources = 0, truncatedTargets = 0;
        for (int i = 0; i < pairs.Count; i++)
        {
            var s = sources[i];
            var t = targets[i].Ids;
            if (s.WasTruncated) truncatedSources++;
            if (t.Length + 1 > maxTargetLength) truncatedTargets++;
            var labels = t.Take(maxTargetLength - 1).Append(eos).ToArray();
            features.Add(new Seq2SeqFeature(s.Ids, s.TypeIds, i, labels));
        }
        // The sources' statistics before truncation, without special tokens.
        var whole = encoderTokenizer.EncodeBatch(sourceTexts, new EncodeOptions { AddSpecialTokens = false });
        return (features, truncatedSources, truncatedTargets,
            TokenStatistics.Of(sourceTexts, whole, encoderTokenizer.UnknownTokenId), TokenStatistics.Of(targetTexts, targets, decoderTokenizer.UnknownTokenId));
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
