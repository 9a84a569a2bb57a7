using static TorchSharp.torch;

namespace FineTune.Modeling;

/// <summary>
/// One model input: token ids and type ids (unpadded), and the index of the example it was built from (several
/// windows of a long context share one). A task derives its own feature with what it is trained against.
/// </summary>
internal record Feature(int[] InputIds, int[] TypeIds, int ExampleIndex)
{
    public int Length => InputIds.Length;

    /// <summary>The token ids of every sequence the feature gives the model (both texts of a pair encoded apart).</summary>
    public virtual IEnumerable<int[]> Sequences => [InputIds];
}

/// <summary>Pads features into a batch: the longest one's length, the padding id, attention mask 1 for real tokens.</summary>
internal static class InputPadding
{
    /// <summary>Token ids, attention mask and type ids [B, T] of <paramref name="batch"/> on <paramref name="device"/>, without labels.</summary>
    public static ModelInput Collate(IReadOnlyList<Feature> batch, int padId, Device device)
    {
        int b = batch.Count, t = batch.Max(f => f.Length);
        var ids = new long[b * t];
        var types = new long[b * t];
        var mask = new long[b * t];
        if (padId != 0) Array.Fill(ids, padId);
        for (int i = 0; i < b; i++)
        {
            var f = batch[i];
            for (int j = 0; j < f.Length; j++)
            {
                ids[i * t + j] = f.InputIds[j];
                types[i * t + j] = f.TypeIds[j];
                mask[i * t + j] = 1;
            }
        }
        return new ModelInput(
            tensor(ids, device: device).view(b, t),
            tensor(mask, device: device).view(b, t),
            tensor(types, device: device).view(b, t));
    }
}

/// <summary>
/// The training examples as the trainer sees them: how many, how long each is (for batches of similar length), and
/// a batch of them as model input with its labels.
/// </summary>
internal interface ITrainingSet
{
    int Count { get; }

    /// <summary>The number of tokens of example <paramref name="index"/>.</summary>
    int LengthOf(int index);

    /// <summary>The examples at <paramref name="indices"/> as one padded batch with labels, on <paramref name="device"/>.</summary>
    ModelInput Collate(IReadOnlyList<int> indices, Device device);

    /// <summary>The token ids of every training input (<see cref="Feature.Sequences"/>), for statistics over the tokens.</summary>
    IEnumerable<int[]> Sequences { get; }
}

/// <summary>
/// The validation set as the trainer sees it: the model's metrics on it, and which way each metric improves. The
/// trainer reaches evaluation only through this (training and evaluation do not use each other).
/// </summary>
internal interface IValidationSet
{
    int Count { get; }

    /// <summary>The metrics of <paramref name="model"/> over the whole set (in evaluation mode; the model's mode is restored).</summary>
    IReadOnlyDictionary<string, double> Evaluate(TaskModel model, Device device);

    /// <summary>Whether a larger value of <paramref name="metric"/> is better.</summary>
    bool HigherIsBetter(string metric);

    /// <summary>The names of the metrics <see cref="Evaluate"/> reports (known before any evaluation, so a metric for the best model can be checked first).</summary>
    IReadOnlyList<string> MetricNames { get; }
}

/// <summary>A task's features as an <see cref="ITrainingSet"/>, collated by the task's own function.</summary>
internal sealed class FeatureSet<TFeature>(IReadOnlyList<TFeature> features, Func<IReadOnlyList<TFeature>, Device, ModelInput> collate) : ITrainingSet
    where TFeature : Feature
{
    public IReadOnlyList<TFeature> Features { get; } = features;

    public int Count => Features.Count;

    public int LengthOf(int index) => Features[index].Length;

    public ModelInput Collate(IReadOnlyList<int> indices, Device device) => collate(indices.Select(i => Features[i]).ToList(), device);

    public IEnumerable<int[]> Sequences => Features.SelectMany(f => f.Sequences);
}
