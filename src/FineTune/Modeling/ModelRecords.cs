using static TorchSharp.torch;

namespace FineTune.Modeling;

/// <summary>
/// One batch for an encoder: token ids [B, T], the attention mask [B, T] (1 = token, 0 = padding), optional
/// token type ids [B, T], and for a task model optional labels (shape by task). Position ids are derived.
/// </summary>
internal sealed record ModelInput(Tensor InputIds, Tensor AttentionMask, Tensor? TokenTypeIds = null, Tensor? Labels = null)
{
    /// <summary>Sentence pairs for a bi-encoder: rows [0, B) are the first texts and rows [B, 2B) the second ones.</summary>
    public bool PairedRows { get; init; }

    /// <summary>
    /// A decoder step with a key/value cache: the tokens already in the cache, so that these ids take positions
    /// [PastLength, PastLength + T). 0 for an encoder input.
    /// </summary>
    public int PastLength { get; init; }

    /// <summary>
    /// Word embeddings [B, T, E] to use instead of looking <see cref="InputIds"/> up (Hugging Face's inputs_embeds):
    /// position and token-type embeddings are still added, and positions still come from the ids. Attribution methods
    /// pass points between two inputs' word embeddings here.
    /// </summary>
    public Tensor? WordEmbeddings { get; init; }
}

/// <summary>What an encoder returns: the last hidden state [B, T, H] and, with a pooler, the pooled output [B, H].</summary>
internal sealed record EncoderOutput(Tensor LastHiddenState, Tensor? PooledOutput);

/// <summary>
/// What a task model returns: logits ([B, C] for sequence tasks, [B, T, C] for token classification, [B, T, 2] for
/// QA start/end), and the loss when labels were given. <see cref="LossSum"/> is the loss summed over the examples
/// (or labelled tokens) of the batch and <see cref="LossDenominator"/> what the mean divides by (their number, or
/// the sum of their class weights), so that gradient accumulation normalises by the true count over several batches.
/// </summary>
internal sealed record ModelOutput(Tensor Logits, Tensor? Loss = null, Tensor? LossSum = null, double LossDenominator = 0);
