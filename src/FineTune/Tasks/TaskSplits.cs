using FineTune.Data;
using FineTune.Modeling;

namespace FineTune.Tasks;

/// <summary>
/// The three splits of a run (train, validation, test), each with its examples and the features the task built from
/// them; a validation or test split without examples has no features, and is not evaluated.
/// </summary>
internal sealed class TaskSplits<TExample, TFeature> where TFeature : Feature
{
    private readonly Dictionary<string, (IReadOnlyList<TExample> Examples, List<TFeature> Features)> _splits = new(StringComparer.Ordinal);

    /// <param name="build">The features of a split's examples (called for train, and for the held-out splits that have examples).</param>
    public TaskSplits(IReadOnlyList<TExample> train, IReadOnlyList<TExample> validation, IReadOnlyList<TExample> test,
        Func<string, IReadOnlyList<TExample>, List<TFeature>> build)
    {
        foreach (var (name, examples) in new[] { ("train", train), ("validation", validation), ("test", test) })
            _splits[name] = (examples, examples.Count == 0 && name != "train" ? [] : build(name, examples));
    }

    public (IReadOnlyList<TExample> Examples, List<TFeature> Features) this[string name] => _splits[name];

    public List<TFeature> Train => _splits["train"].Features;

    public List<TFeature> Validation => _splits["validation"].Features;

    /// <summary>The held-out splits with features, in order (validation, then test), and their numbers of examples.</summary>
    public IReadOnlyList<(string Name, int Count)> HeldOut =>
        new[] { "validation", "test" }.Where(s => _splits[s].Features.Count > 0).Select(s => (s, _splits[s].Examples.Count)).ToList();
}

/// <summary>Truncation as a run reports it: counted per split into the data summary, and said for every split that had some.</summary>
internal static class Truncation
{
    /// <summary>
    /// The summary with each split's number of truncated examples, after saying it (and, for every split with
    /// truncated examples, how many of how many) through <see cref="RunContext.Info"/>.
    /// </summary>
    public static DatasetSummary Report(RunContext run, DatasetSummary summary, IReadOnlyDictionary<string, int> truncated)
    {
        foreach (var (name, count) in truncated)
            if (summary[name] is not null) summary = summary.WithTruncated(name, count);
        run.Info(summary.Describe());
        foreach (var name in new[] { "train", "validation", "test" })
            if (summary[name] is { Truncated: > 0 } split)
                run.Info($"{split.Truncated} of {split.Count} {name} examples are longer than {run.MaxLength} tokens and were truncated (TrainingOptions.MaxLength).");
        return summary;
    }
}
