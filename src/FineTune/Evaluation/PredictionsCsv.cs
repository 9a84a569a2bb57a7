using System.Globalization;
using System.Text;
using FineTune.Configuration;
using FineTune.Data;

namespace FineTune.Evaluation;

/// <summary>
/// Predictions as CSV (RFC 4180 quoting): the source row, the text (and pair), the gold label when known, the
/// prediction, and a probability column per label (classification) or the predicted value (regression).
/// </summary>
public static class PredictionsCsv
{
    public static void Write(string path, IReadOnlyList<TextExample> examples, IReadOnlyList<SequencePrediction> predictions,
        LabelMap? labels, TaskKind task)
    {
        var sb = new StringBuilder();
        bool pairs = examples.Any(e => e.TextPair is not null);
        bool gold = examples.Any(e => e.Label is not null);
        var header = new List<string> { "row", "text" };
        if (pairs) header.Add("text_pair");
        if (gold) header.Add("label");
        bool scores = task is TaskKind.Regression or TaskKind.Similarity;
        header.Add(task == TaskKind.Similarity ? "cosine" : scores ? "prediction" : "predicted");
        if (!scores)
            header.AddRange(labels!.Labels.Select(l => "p_" + l));
        sb.AppendLine(string.Join(",", header.Select(Quote)));
        foreach (var p in predictions.OrderBy(p => p.ExampleIndex))
        {
            var e = examples[p.ExampleIndex];
            var row = new List<string> { e.SourceRow.ToString(CultureInfo.InvariantCulture), e.Text };
            if (pairs) row.Add(e.TextPair ?? "");
            if (gold) row.Add(Gold(e.Label, labels));
            switch (task)
            {
                case TaskKind.SingleLabelClassification:
                    row.Add(labels![p.PredictedClass!.Value]);
                    break;
                case TaskKind.MultiLabelClassification:
                    row.Add(string.Join(";", p.PredictedLabels!.Select(i => labels![i])));
                    break;
                default:
                    row.Add(p.Outputs[0].ToString("R", CultureInfo.InvariantCulture));
                    break;
            }
            if (!scores)
                row.AddRange(p.Outputs.Select(v => v.ToString("0.######", CultureInfo.InvariantCulture)));
            sb.AppendLine(string.Join(",", row.Select(Quote)));
        }
        RunFiles.WriteTextAtomically(path, sb.ToString());
    }

    private static string Gold(LabelTarget? label, LabelMap? labels) => label switch
    {
        ClassLabel c => labels![c.Id],
        MultiLabelTargets m => string.Join(";", m.PositiveIds().Select(i => labels![i])),
        RegressionTarget r => r.Value.ToString("R", CultureInfo.InvariantCulture),
        _ => "",
    };

    public static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
}
