using FineTune.Configuration;
using FineTune.Data;
using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Training;

/// <summary>
/// One model input: token ids and type ids (unpadded) and what it is trained against. <see cref="ExampleIndex"/>
/// points back to the source example (several QA windows share one).
/// </summary>
public sealed record Feature(int[] InputIds, int[] TypeIds, int ExampleIndex)
{
    /// <summary>Sequence tasks: the class, label vector or value.</summary>
    public LabelTarget? Label { get; init; }

    /// <summary>Token classification: one label id per token, -100 where the loss ignores it.</summary>
    public int[]? TokenLabels { get; init; }

    /// <summary>QA: the answer's start and end token (0, 0 = [CLS] when the window does not hold the answer).</summary>
    public (int Start, int End)? AnswerSpan { get; init; }

    /// <summary>Similarity: the second text, encoded on its own.</summary>
    public Feature? Second { get; init; }

    public int Length => InputIds.Length;
}

/// <summary>Builds padded batches (pad to the longest in the batch) as tensors on a device.</summary>
public static class Collator
{
    /// <summary>Pads <paramref name="batch"/> to its longest feature and builds the inputs and, when present, the labels.</summary>
    public static BertInput Collate(IReadOnlyList<Feature> batch, TaskKind task, int padId, Device device, bool withLabels = true)
    {
        if (task == TaskKind.Similarity && batch.All(f => f.Second is not null))
        {
            // Both sides of every pair in one batch: first texts, then second texts.
            var sides = Collate(batch.Concat(batch.Select(f => f.Second!)).ToList(), TaskKind.Regression, padId, device, withLabels: false);
            var scores = withLabels && batch.All(f => f.Label is RegressionTarget)
                ? tensor(batch.Select(f => ((RegressionTarget)f.Label!).Value).ToArray(), device: device)
                : null;
            return sides with { Labels = scores, PairedRows = true };
        }
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
        var labels = withLabels ? Labels(batch, task, t, device) : null;
        return new BertInput(
            tensor(ids, device: device).view(b, t),
            tensor(mask, device: device).view(b, t),
            tensor(types, device: device).view(b, t),
            labels);
    }

    private static Tensor? Labels(IReadOnlyList<Feature> batch, TaskKind task, int t, Device device)
    {
        int b = batch.Count;
        switch (task)
        {
            case TaskKind.SingleLabelClassification:
                if (batch.Any(f => f.Label is not ClassLabel)) return null;
                return tensor(batch.Select(f => (long)((ClassLabel)f.Label!).Id).ToArray(), device: device);
            case TaskKind.MultiLabelClassification:
                if (batch.Any(f => f.Label is not MultiLabelTargets)) return null;
                int c = ((MultiLabelTargets)batch[0].Label!).Targets.Length;
                return tensor(batch.SelectMany(f => ((MultiLabelTargets)f.Label!).Targets).ToArray(), device: device).view(b, c);
            case TaskKind.Regression:
                if (batch.Any(f => f.Label is not RegressionTarget)) return null;
                return tensor(batch.Select(f => ((RegressionTarget)f.Label!).Value).ToArray(), device: device);
            case TaskKind.TokenClassification:
                if (batch.Any(f => f.TokenLabels is null)) return null;
                var tokens = new long[b * t];
                Array.Fill(tokens, CrossEntropyLoss.IgnoreIndex);
                for (int i = 0; i < b; i++)
                    for (int j = 0; j < batch[i].TokenLabels!.Length; j++)
                        tokens[i * t + j] = batch[i].TokenLabels![j];
                return tensor(tokens, device: device).view(b, t);
            case TaskKind.QuestionAnswering:
                if (batch.Any(f => f.AnswerSpan is null)) return null;
                return tensor(batch.SelectMany(f => new long[] { f.AnswerSpan!.Value.Start, f.AnswerSpan!.Value.End }).ToArray(), device: device).view(b, 2);
            default:
                return null;
        }
    }
}
