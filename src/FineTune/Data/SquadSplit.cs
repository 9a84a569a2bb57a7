using System.Globalization;

namespace FineTune.Data;

/// <summary>Extractive-QA questions split into train, validation and test by article, with the counts of each part.</summary>
internal sealed record QaSplit(
    IReadOnlyList<QaExample> Train,
    IReadOnlyList<QaExample> Validation,
    IReadOnlyList<QaExample> Test,
    int TrainTitles,
    int ValidationTitles,
    int TestTitles)
{
    /// <summary>One line for logs: titles and questions per part.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"train {Train.Count} questions ({TrainTitles} titles), validation {Validation.Count} questions ({ValidationTitles} titles), test {Test.Count} questions ({TestTitles} titles)");
}

/// <summary>
/// Splits extractive-QA questions by article title, so that no article (and no context) is in two parts.
/// </summary>
/// <remarks>
/// Titles are taken in the order they first appear in the data; the first ones go to train, the next to validation,
/// the last to test. The number of titles of test and validation is <c>fraction × titles</c> rounded half away
/// from zero, at least 1 when the fraction is above 0; train keeps the rest and must keep at least one. The split
/// is deterministic: the same data and fractions give the same parts. A question without a title is grouped by its
/// context instead, so questions on the same passage stay together.
/// </remarks>
internal static class QaSplitter
{
    /// <summary>Splits by title: e.g. <c>ByTitle(examples, 0.2)</c> gives the first 80 % of titles to train and the rest to test.</summary>
    public static QaSplit ByTitle(IReadOnlyList<QaExample> examples, double testFraction = 0.2, double validationFraction = 0)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (!(testFraction >= 0 && testFraction < 1)) throw new FineTuneException($"The test fraction must be at least 0 and below 1, not {testFraction}.");
        if (!(validationFraction >= 0 && validationFraction < 1)) throw new FineTuneException($"The validation fraction must be at least 0 and below 1, not {validationFraction}.");
        if (testFraction + validationFraction >= 1) throw new FineTuneException($"The test and validation fractions add up to {testFraction + validationFraction}; they must leave titles for training.");

        var order = new List<string>();
        var groups = new Dictionary<string, List<QaExample>>(StringComparer.Ordinal);
        foreach (var example in examples)
        {
            var key = GroupKey(example);
            if (!groups.TryGetValue(key, out var group))
            {
                groups[key] = group = [];
                order.Add(key);
            }
            group.Add(example);
        }

        var titles = order.Count;
        var testTitles = Count(testFraction, titles);
        var validationTitles = Count(validationFraction, titles);
        var trainTitles = titles - testTitles - validationTitles;
        if (titles > 0 && trainTitles < 1)
            throw new FineTuneException($"The data has {titles} titles, too few to give train, validation ({validationFraction}) and test ({testFraction}) at least one each.");

        var parts = new[] { new List<QaExample>(), new List<QaExample>(), new List<QaExample>() };
        for (var i = 0; i < titles; i++)
        {
            var part = i < trainTitles ? 0 : i < trainTitles + validationTitles ? 1 : 2;
            parts[part].AddRange(groups[order[i]]);
        }
        return new QaSplit(parts[0], parts[1], parts[2], trainTitles, validationTitles, testTitles);
    }

    private static string GroupKey(QaExample example) =>
        example.Title.Length > 0 ? "title:" + example.Title : "context:" + example.Context;

    private static int Count(double fraction, int titles)
    {
        if (fraction <= 0 || titles == 0) return 0;
        return Math.Max(1, (int)Math.Round(fraction * titles, MidpointRounding.AwayFromZero));
    }
}
