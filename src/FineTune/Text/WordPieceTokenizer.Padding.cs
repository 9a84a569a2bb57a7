using System.Text;

namespace FineTune.Text;

internal sealed partial class WordPieceTokenizer
{
    /// <summary>
    /// A copy of <paramref name="encoding"/> padded on the right to <paramref name="length"/> tokens with the padding id,
    /// type id 0, attention 0, offsets (0, 0) and no sequence or word. Longer encodings are returned as they are.
    /// </summary>
    public Encoding Pad(Encoding encoding, int length)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        int n = encoding.Length;
        if (n >= length) return encoding;
        var ids = new int[length];
        encoding.Ids.CopyTo(ids, 0);
        ids.AsSpan(n).Fill(PaddingTokenId);
        var typeIds = new int[length];
        encoding.TypeIds.CopyTo(typeIds, 0);
        var mask = new int[length];
        encoding.AttentionMask.CopyTo(mask, 0);
        var offsets = new TokenOffset[length];
        encoding.Offsets.CopyTo(offsets, 0);
        var sequenceIds = new int?[length];
        encoding.SequenceIds.CopyTo(sequenceIds, 0);
        var wordIds = new int?[length];
        encoding.WordIds.CopyTo(wordIds, 0);
        return new Encoding(ids, typeIds, mask, offsets, sequenceIds, wordIds, encoding.TruncatedTokens, _displayTokens);
    }

    /// <summary>
    /// Pads every encoding to the longest of the batch (or to <paramref name="length"/> when given), rounded up to a
    /// multiple of <paramref name="multipleOf"/> when given.
    /// </summary>
    public Encoding[] PadBatch(IReadOnlyList<Encoding> encodings, int? length = null, int? multipleOf = null)
    {
        int target = EncodingSupport.PaddedLength(encodings, length, multipleOf);
        return encodings.Select(e => Pad(e, target)).ToArray();
    }

    /// <summary>The ids, type ids and attention masks of a batch, padded as <see cref="PadBatch"/> does, as flat [batch, length] arrays.</summary>
    public TokenBatch ToBatch(IReadOnlyList<Encoding> encodings, int? length = null, int? multipleOf = null) =>
        EncodingSupport.ToBatch(encodings, length, multipleOf, PaddingTokenId);

    /// <summary>
    /// Text from token ids, as Hugging Face's WordPiece decoder: continuation pieces join the previous token, others
    /// are separated by a space, and (when the tokenizer's clean_up_tokenization_spaces is set) " ." becomes "." and so on.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        bool firstToken = true;
        var prefix = Options.ContinuingSubwordPrefix;
        foreach (var id in ids)
        {
            if (skipSpecialTokens && _specialIds.Contains(id)) continue;
            var token = IdToToken(id);
            string piece;
            if (firstToken) piece = token;
            else if (prefix.Length > 0 && token.StartsWith(prefix, StringComparison.Ordinal)) piece = token[prefix.Length..];
            else piece = " " + token;
            if (Options.CleanUpTokenizationSpaces) piece = CleanUp(piece);
            sb.Append(piece);
            firstToken = false;
        }
        return sb.ToString();
    }

    private static string CleanUp(string s) => s
        .Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
        .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" do not", " don't").Replace(" 's", "'s")
        .Replace(" 've", "'ve").Replace(" 're", "'re");
}
