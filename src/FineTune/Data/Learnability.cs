using System.Globalization;

namespace FineTune.Data;

/// <summary>
/// Training data that a loss cannot learn from, caught before training: one class, a label per row (an id or text
/// column taken for the label), a constant target. These are errors; classes that mostly have a single example are
/// a warning.
/// </summary>
internal static class Learnability
{
    /// <summary>Below this many examples, a label per example is not taken for a wrong column.</summary>
    private const int MinExamplesForUniqueLabelCheck = 10;

    /// <summary>Throws a <see cref="DataException"/> for data nothing can be learnt from; returns warnings.</summary>
    public static IReadOnlyList<string> Check(IReadOnlyList<TextExample> examples, LabelMap? labels, LabelKind kind, string file, ColumnMapping columns)
    {
        var warnings = new List<string>();
        var column = columns.Label;
        switch (kind)
        {
            case LabelKind.Class:
            {
                var counts = examples.Select(e => e.Label).OfType<ClassLabel>().GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.Count());
                if (counts.Count == 1)
                    throw new DataException(
                        $"all {examples.Count} training examples have the label '{labels![counts.Keys.Single()]}': a classifier needs examples of at least two classes",
                        file, column: column);
                if (counts.Count == examples.Count && examples.Count >= MinExamplesForUniqueLabelCheck)
                    throw new DataException(
                        $"each of the {examples.Count} training examples has a label of its own ({counts.Count} classes): is this an id or text column rather than the label?",
                        file, column: column);
                int singles = counts.Values.Count(c => c == 1);
                if (counts.Count >= MinExamplesForUniqueLabelCheck && singles * 2 > counts.Count)
                    warnings.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{singles} of the {counts.Count} classes have a single training example; a classifier learns little about them"));
                break;
            }
            case LabelKind.Number:
            {
                var values = examples.Select(e => e.Label).OfType<RegressionTarget>().Select(t => t.Value).Distinct().Take(2).ToList();
                if (values.Count == 1 && examples.Count > 1)
                    throw new DataException(
                        string.Create(CultureInfo.InvariantCulture, $"all {examples.Count} training targets are {values[0]}: there is nothing to learn"),
                        file, column: column);
                break;
            }
            case LabelKind.Classes when labels is not null:
            {
                var positive = new int[labels.Count];
                foreach (var m in examples.Select(e => e.Label).OfType<MultiLabelTargets>())
                    foreach (var id in m.PositiveIds()) positive[id]++;
                var never = Enumerable.Range(0, labels.Count).Where(i => positive[i] == 0).Select(i => labels[i]).ToList();
                var always = Enumerable.Range(0, labels.Count).Where(i => positive[i] == examples.Count).Select(i => labels[i]).ToList();
                if (never.Count == labels.Count)
                    throw new DataException($"no training example has any of the {labels.Count} labels: there is nothing to learn", file, column: column);
                if (never.Count > 0)
                    warnings.Add($"{never.Count} label(s) never occur in the training data ({Names(never)}): the model will never predict them");
                if (always.Count > 0 && examples.Count > 1)
                    warnings.Add($"{always.Count} label(s) are on every training example ({Names(always)}): the model learns nothing about them");
                break;
            }
        }
        return warnings;
    }

    private static string Names(IReadOnlyList<string> labels) =>
        string.Join(", ", labels.Take(5)) + (labels.Count > 5 ? ", ..." : "");
}
