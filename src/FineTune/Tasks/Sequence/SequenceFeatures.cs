using FineTune.Data;
using FineTune.Modeling;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>One text (or text pair) of a sequence task, tokenized, with its label when it has one.</summary>
internal sealed record SequenceFeature(int[] InputIds, int[] TypeIds, int ExampleIndex, LabelTarget? Label) : Feature(InputIds, TypeIds, ExampleIndex);

/// <summary>Tokenizes the examples of a sequence task and pads them into batches with their labels.</summary>
internal static class SequenceFeatures
{
    /// <summary>One feature per example (text, or text pair truncated longest-first), and how many were truncated.</summary>
    public static (List<SequenceFeature> Features, int Truncated) Build(IReadOnlyList<TextExample> examples, ITokenizer tokenizer, int maxLength)
    {
        var options = EncodeOptions.Truncate(maxLength);
        var encodings = tokenizer.EncodeBatch(examples.Select(e => (e.Text, e.TextPair)).ToList(), options);
        var features = new List<SequenceFeature>(examples.Count);
        int truncated = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var e = encodings[i];
            if (e.WasTruncated) truncated++;
            features.Add(new SequenceFeature(e.Ids, e.TypeIds, i, examples[i].Label));
        }
        return (features, truncated);
    }

    /// <summary>
    /// A padded batch; its labels, when every feature has one, by <paramref name="labels"/> (class ids [B], label
    /// vectors [B, C] or values [B]).
    /// </summary>
    public static ModelInput Collate(IReadOnlyList<SequenceFeature> batch, int padId, Device device, Func<IReadOnlyList<LabelTarget>, Device, Tensor> labels)
    {
        var input = InputPadding.Collate(batch, padId, device);
        return batch.All(f => f.Label is not null) ? input with { Labels = labels(batch.Select(f => f.Label!).ToList(), device) } : input;
    }

    /// <summary>Class ids [B].</summary>
    public static Tensor ClassIds(IReadOnlyList<LabelTarget> targets, Device device) =>
        tensor(targets.Select(t => (long)((ClassLabel)t).Id).ToArray(), device: device);

    /// <summary>0/1 label vectors [B, C].</summary>
    public static Tensor LabelVectors(IReadOnlyList<LabelTarget> targets, Device device)
    {
        int c = ((MultiLabelTargets)targets[0]).Targets.Length;
        return tensor(targets.SelectMany(t => ((MultiLabelTargets)t).Targets).ToArray(), device: device).view(targets.Count, c);
    }

    /// <summary>Values [B].</summary>
    public static Tensor Values(IReadOnlyList<LabelTarget> targets, Device device) =>
        tensor(targets.Select(t => ((RegressionTarget)t).Value).ToArray(), device: device);
}
