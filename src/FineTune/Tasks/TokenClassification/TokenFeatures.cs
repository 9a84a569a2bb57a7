using FineTune.Data;
using FineTune.Modeling;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// One sentence of a token-classification set, tokenized: per token its label id (-100 where the loss ignores it;
/// null when the sentence is not labelled) and the index of its word (null for special tokens).
/// </summary>
internal sealed record TokenFeature(int[] InputIds, int[] TypeIds, int ExampleIndex, int[]? TokenLabels, int?[] WordIds)
    : Feature(InputIds, TypeIds, ExampleIndex);

/// <summary>Token classification: one feature per sentence, its word labels aligned to sub-words.</summary>
internal static class TokenClassificationFeatures
{
    /// <summary>
    /// Tokenizes each sentence's words (Hugging Face's <c>is_split_into_words</c>), truncated to <paramref name="maxLength"/>,
    /// and labels its tokens (<see cref="TokenLabelMap.AlignLabels"/>). Returns the features and how many sentences lost
    /// words to truncation. A tag the label map lacks is a <see cref="DataException"/> naming the file and line.
    /// </summary>
    public static (List<TokenFeature> Features, int Truncated) Build(IReadOnlyList<TokenExample> examples, ITokenizer tokenizer,
        TokenLabelMap labels, int maxLength, SubwordLabeling labeling = SubwordLabeling.FirstSubword)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var options = EncodeOptions.Truncate(maxLength);
        var features = new List<TokenFeature>(examples.Count);
        int truncated = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var example = examples[i];
            var encoding = tokenizer.EncodeWords(example.Words, options);
            if (encoding.WasTruncated) truncated++;
            features.Add(new TokenFeature(encoding.Ids, encoding.TypeIds, i, labels.AlignLabels(example, encoding.WordIds, labeling), encoding.WordIds));
        }
        return (features, truncated);
    }

    /// <summary>A padded batch with the token labels [B, T] (-100 at padding) when every sentence has them.</summary>
    public static ModelInput Collate(IReadOnlyList<TokenFeature> batch, int padId, Device device)
    {
        var input = InputPadding.Collate(batch, padId, device);
        if (batch.Any(f => f.TokenLabels is null)) return input;
        int b = batch.Count, t = (int)input.InputIds.shape[1];
        var tokens = new long[b * t];
        Array.Fill(tokens, CrossEntropyLoss.IgnoreIndex);
        for (int i = 0; i < b; i++)
            for (int j = 0; j < batch[i].TokenLabels!.Length; j++)
                tokens[i * t + j] = batch[i].TokenLabels![j];
        return input with { Labels = tensor(tokens, device: device).view(b, t) };
    }
}

