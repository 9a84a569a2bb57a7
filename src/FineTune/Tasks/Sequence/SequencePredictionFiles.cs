using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using FineTune.Data;
using FineTune.Reports;

namespace FineTune.Tasks;

/// <summary>The prediction files of the sequence tasks.</summary>
internal static class SequencePredictionFiles
{
    /// <summary>
    /// Predictions on a labelled set as CSV: the source row, the text (and pair), the gold label when known, the
    /// prediction, and a probability column per label (classification).
    /// </summary>
    public static void WriteEvaluated(string path, IReadOnlyList<TextExample> examples, IReadOnlyList<SequencePrediction> predictions, SequenceReadout readout)
    {
        var sb = new StringBuilder();
        bool pairs = examples.Any(e => e.TextPair is not null);
        bool gold = examples.Any(e => e.Label is not null);
        var labels = readout.Labels;
        var header = new List<string> { "row", "text" };
        if (pairs) header.Add("text_pair");
        if (gold) header.Add("label");
        header.Add(readout.PredictionHeader);
        if (readout.HasProbabilities)
            header.AddRange(labels!.Labels.Select(l => "p_" + l));
        sb.AppendLine(Csv.Line(header));
        foreach (var p in predictions.OrderBy(p => p.ExampleIndex))
        {
            var e = examples[p.ExampleIndex];
            var row = new List<string> { e.SourceRow.ToString(CultureInfo.InvariantCulture), e.Text };
            if (pairs) row.Add(e.TextPair ?? "");
            if (gold) row.Add(Gold(e.Label, labels));
            row.Add(readout.PredictionCell(p));
            if (readout.HasProbabilities)
                row.AddRange(p.Outputs.Select(v => v.ToString("0.######", CultureInfo.InvariantCulture)));
            sb.AppendLine(Csv.Line(row));
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

    /// <summary>
    /// Predictions on unlabelled inputs: a CSV (row, text, pair, the prediction, a probability per label) or JSON
    /// Lines (one object per input) file, by its extension.
    /// </summary>
    public static void WritePredicted(string path, IReadOnlyList<TextInput> rows, IReadOnlyList<TextPrediction> predictions, SequenceReadout readout)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        bool pairs = rows.Any(r => r.Pair is not null);
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            var sb = new StringBuilder();
            for (int i = 0; i < rows.Count; i++)
            {
                var pr = predictions[i];
                var obj = new Dictionary<string, object?> { ["row"] = rows[i].SourceRow, ["text"] = rows[i].Text };
                if (pairs) obj["text_pair"] = rows[i].Pair;
                if (pr.Label is not null) { obj["label"] = pr.Label; obj["confidence"] = pr.Confidence; }
                if (pr.Labels is not null) obj["labels"] = pr.Labels;
                if (pr.Probabilities is not null) obj["probabilities"] = pr.Probabilities;
                if (pr.Value is not null) obj["value"] = pr.Value;
                sb.AppendLine(JsonSerializer.Serialize(obj, Json));
            }
            RunFiles.WriteTextAtomically(path, sb.ToString());
            return;
        }
        if (!path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
            throw new OptionException("PredictRequest.Output", $"{path}: use a .csv or .jsonl file name");
        var csv = new StringBuilder();
        var labels = readout.Labels?.Labels ?? [];
        var header = new List<string> { "row", "text" };
        if (pairs) header.Add("text_pair");
        header.Add(readout.PredictedValueHeader);
        header.AddRange(labels.Select(l => "p_" + l));
        csv.AppendLine(Csv.Line(header));
        for (int i = 0; i < rows.Count; i++)
        {
            var pr = predictions[i];
            var cells = new List<string> { rows[i].SourceRow.ToString(CultureInfo.InvariantCulture), rows[i].Text };
            if (pairs) cells.Add(rows[i].Pair ?? "");
            cells.Add(pr.Value?.ToString("R", CultureInfo.InvariantCulture) ?? pr.Label ?? string.Join(";", pr.Labels ?? []));
            if (pr.Probabilities is not null)
                cells.AddRange(labels.Select(l => pr.Probabilities[l].ToString("0.######", CultureInfo.InvariantCulture)));
            csv.AppendLine(Csv.Line(cells));
        }
        RunFiles.WriteTextAtomically(path, csv.ToString());
    }

    /// <summary>JSON as the prediction files write it: non-ASCII text as it is.</summary>
    public static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
