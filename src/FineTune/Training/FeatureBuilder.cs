using FineTune.Data;
using FineTune.Text;

namespace FineTune.Training;

/// <summary>Tokenizes examples into features, truncating to a maximum length and counting what was truncated.</summary>
public static class FeatureBuilder
{
    /// <summary>Sequence tasks: one feature per example (text, or text pair truncated longest-first).</summary>
    public static (List<Feature> Features, int Truncated) ForSequences(IReadOnlyList<TextExample> examples, BertTokenizer tokenizer, int maxLength)
    {
        var options = EncodeOptions.Truncate(maxLength);
        var encodings = tokenizer.EncodeBatch(examples.Select(e => (e.Text, e.TextPair)).ToList(), options);
        var features = new List<Feature>(examples.Count);
        int truncated = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var e = encodings[i];
            if (e.WasTruncated) truncated++;
            features.Add(new Feature(e.Ids, e.TypeIds, i) { Label = examples[i].Label });
        }
        return (features, truncated);
    }

    /// <summary>
    /// Similarity (bi-encoder): each text of a pair encoded on its own, the score divided by <paramref name="scoreScale"/>
    /// (e.g. 5 for STS-B's 0–5) so the target is on the cosine's scale.
    /// </summary>
    public static (List<Feature> Features, int Truncated) ForSeparatePairs(IReadOnlyList<TextExample> examples, BertTokenizer tokenizer,
        int maxLength, double scoreScale)
    {
        var options = EncodeOptions.Truncate(maxLength);
        var firsts = tokenizer.EncodeBatch(examples.Select(e => e.Text).ToList(), options);
        var seconds = tokenizer.EncodeBatch(examples.Select(e => e.TextPair ?? throw new DataException(
            "similarity needs a second text in every row (--text-pair-column)", e.SourceFile, e.SourceRow)).ToList(), options);
        var features = new List<Feature>(examples.Count);
        int truncated = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            if (firsts[i].WasTruncated || seconds[i].WasTruncated) truncated++;
            var label = examples[i].Label is RegressionTarget r ? new RegressionTarget((float)(r.Value / scoreScale)) : examples[i].Label;
            features.Add(new Feature(firsts[i].Ids, firsts[i].TypeIds, i)
            {
                Label = label,
                Second = new Feature(seconds[i].Ids, seconds[i].TypeIds, i),
            });
        }
        return (features, truncated);
    }
}
