namespace FineTune.Data;

/// <summary>Which sub-tokens of a word carry its label in training.</summary>
internal enum SubwordLabeling
{
    /// <summary>Only the first sub-token of each word; the others get <see cref="SubwordAlignment.IgnoreIndex"/> (Hugging Face's default).</summary>
    FirstSubword,

    /// <summary>
    /// Every sub-token (Hugging Face's <c>label_all_tokens</c>): the first carries the word's label, the others its
    /// continuation label, which for a <c>B-X</c> word is <c>I-X</c> (as run_ner.py maps B- to I- for them) and otherwise
    /// the word's own label.
    /// </summary>
    AllSubwords,
}

/// <summary>
/// Word-level labels to sub-token labels and back, as pure functions over the word index of each sub-token
/// (the tokenizer's word ids: null for special tokens such as [CLS], [SEP] and padding).
/// </summary>
/// <remarks>
/// A sub-token is the first of its word when its word id differs from the previous sub-token's, as in Hugging Face's
/// <c>tokenize_and_align_labels</c>; a window that starts inside a word therefore labels the word's first sub-token in that window.
/// </remarks>
internal static class SubwordAlignment
{
    /// <summary>The label of positions the loss ignores (PyTorch's cross-entropy default).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>
    /// Label ids per sub-token: <see cref="IgnoreIndex"/> for special tokens; the word's label for its first sub-token;
    /// for the others <see cref="IgnoreIndex"/> (<see cref="SubwordLabeling.FirstSubword"/>) or
    /// <paramref name="continuation"/> of the word's label (<see cref="SubwordLabeling.AllSubwords"/>; identity when null).
    /// </summary>
    public static int[] AlignLabels(IReadOnlyList<int?> wordIds, IReadOnlyList<int> wordLabels,
        SubwordLabeling labeling = SubwordLabeling.FirstSubword, Func<int, int>? continuation = null)
    {
        ArgumentNullException.ThrowIfNull(wordIds);
        ArgumentNullException.ThrowIfNull(wordLabels);
        var labels = new int[wordIds.Count];
        int? previous = null;
        for (var t = 0; t < labels.Length; t++)
        {
            var word = wordIds[t];
            if (word is not { } w)
            {
                labels[t] = IgnoreIndex;
            }
            else
            {
                if (w < 0 || w >= wordLabels.Count)
                    throw new ArgumentException($"Sub-token {t} belongs to word {w}, but the sentence has {wordLabels.Count} words.", nameof(wordIds));
                if (w != previous) labels[t] = wordLabels[w];
                else labels[t] = labeling == SubwordLabeling.AllSubwords ? (continuation?.Invoke(wordLabels[w]) ?? wordLabels[w]) : IgnoreIndex;
            }
            previous = word;
        }
        return labels;
    }

    /// <summary>
    /// Per-word predictions from per-sub-token predictions: each word takes the prediction of its first sub-token.
    /// Words that have no sub-token (cut off by truncation) are null.
    /// </summary>
    public static int?[] WordPredictions(IReadOnlyList<int?> wordIds, IReadOnlyList<int> tokenPredictions, int wordCount)
    {
        ArgumentNullException.ThrowIfNull(wordIds);
        ArgumentNullException.ThrowIfNull(tokenPredictions);
        if (tokenPredictions.Count < wordIds.Count)
            throw new ArgumentException($"{tokenPredictions.Count} predictions for {wordIds.Count} sub-tokens.", nameof(tokenPredictions));
        var words = new int?[wordCount];
        int? previous = null;
        for (var t = 0; t < wordIds.Count; t++)
        {
            var word = wordIds[t];
            if (word is { } w && w != previous)
            {
                if (w < 0 || w >= wordCount)
                    throw new ArgumentException($"Sub-token {t} belongs to word {w}, but the sentence has {wordCount} words.", nameof(wordIds));
                words[w] ??= tokenPredictions[t];
            }
            previous = word;
        }
        return words;
    }
}
