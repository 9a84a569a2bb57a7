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
}
