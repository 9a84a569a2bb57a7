namespace FineTune.Text;

/// <summary>
/// A token matched whole in the original text before normalization, as Hugging Face's added tokens with
/// <c>normalized=false</c>, <c>single_word=false</c>, <c>lstrip=false</c>, <c>rstrip=false</c> (how BERT's special tokens are added).
/// </summary>
internal sealed record AddedToken(int Id, string Content, bool Special = true);

/// <summary>Token ids of a batch, padded to one length, as the flat row-major [batch, length] arrays a model takes.</summary>
public sealed record TokenBatch(int BatchSize, int SequenceLength, long[] InputIds, long[] TokenTypeIds, long[] AttentionMask)
{
    /// <summary>The shape of each array: [BatchSize, SequenceLength].</summary>
    public long[] Shape => [BatchSize, SequenceLength];
}
