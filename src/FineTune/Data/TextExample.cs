namespace FineTune.Data;

/// <summary>What an example is labelled with; the task decides which kind.</summary>
public abstract record LabelTarget;

/// <summary>Single-label classification: the class id in the <see cref="LabelMap"/>.</summary>
public sealed record ClassLabel(int Id) : LabelTarget;

/// <summary>Multi-label classification: one 0/1 target per label of the <see cref="LabelMap"/>, in id order.</summary>
public sealed record MultiLabelTargets(float[] Targets) : LabelTarget
{
    public bool Equals(MultiLabelTargets? other) =>
        other is not null && Targets.AsSpan().SequenceEqual(other.Targets);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var t in Targets) hash.Add(t);
        return hash.ToHashCode();
    }

    /// <summary>The ids of the labels whose target is 1.</summary>
    public IEnumerable<int> PositiveIds()
    {
        for (var i = 0; i < Targets.Length; i++)
            if (Targets[i] >= 0.5f) yield return i;
    }
}

/// <summary>Regression: the target value.</summary>
public sealed record RegressionTarget(float Value) : LabelTarget;

/// <summary>
/// One example: its text (and the second text of a pair), its label (null for unlabelled prediction input), and the
/// file and 1-based row it was read from, so every later error and report can point at the source line.
/// </summary>
public sealed record TextExample(string Text, string? TextPair, LabelTarget? Label, string SourceFile, long SourceRow)
{
    /// <summary>The class id; throws when the example is not labelled for single-label classification.</summary>
    public int ClassId => Label is ClassLabel c ? c.Id
        : throw new InvalidOperationException($"{SourceFile}:{SourceRow}: the example has no class label");
}
