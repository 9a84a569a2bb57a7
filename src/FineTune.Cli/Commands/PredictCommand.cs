using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;
using FineTune.Training;

namespace FineTune.Cli.Commands;

/// <summary>`finetune predict`: labels and probabilities (or scores) for every row of a file.</summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var model = new Option<string>("--model", "-m") { Description = "The fine-tuned model folder (RUN/model).", Required = true };
        var input = new Option<string>("--input", "-i") { Description = "Texts to predict: CSV, TSV, JSONL, Parquet, or .txt with one text per line.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the predictions: .csv or .jsonl.", Required = true };
        var batchSize = new Option<int>("--batch-size") { Description = "Texts per batch.", DefaultValueFactory = _ => 64 };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per text (default: the model's limit)." };
        var threshold = new Option<double?>("--threshold") { Description = "Multi-label: probability from which a label is predicted (default: the one the model was trained with, else 0.5)." };
        var device = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N with a CUDA build of libtorch.", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch." };
        var precision = new Option<string>("--precision") { Description = "fp32 or bf16.", DefaultValueFactory = _ => "fp32" };
        var command = new Command("predict", """
            Predict labels and probabilities (classification) or values (regression) for every text of a file.
            Example: finetune predict --model runs/spam/model --input new-messages.csv --text-column text --output predictions.csv
            """) { model, input, output, batchSize, maxLength, threshold, device, threads, precision };
        foreach (var o in new Option[] { data.Format, data.Columns, data.Quoting, data.TextColumn, data.TextPairColumn }) command.Options.Add(o);
        command.SetAction(p =>
        {
            Runtime.TorchRuntime.SetThreads(p.GetValue(threads));
            using var classifier = TextClassifier.Load(p.GetValue(model)!, p.GetValue(device)!, TrainCommand.ParseEnum<Precision>(p.GetValue(precision)!, "--precision"));
            classifier.BatchSize = p.GetValue(batchSize);
            classifier.MaxLength = p.GetValue(maxLength) ?? classifier.MaxLength;
            classifier.Threshold = p.GetValue(threshold) ?? classifier.Threshold;
            var inputPath = p.GetValue(input)!;
            var rows = ReadInputs(inputPath, data, p);
            var predictions = classifier.Predict(rows.Select(r => (r.Text, r.Pair)).ToList());
            var outputPath = p.GetValue(output)!;
            Write(outputPath, rows, predictions, classifier);
            Console.WriteLine($"Wrote {predictions.Count} predictions to {Path.GetFullPath(outputPath)}");
            return 0;
        });
        return command;
    }

    internal sealed record InputRow(long SourceRow, string Text, string? Pair);

    internal static List<InputRow> ReadInputs(string path, DataOptions data, ParseResult p)
    {
        if (!File.Exists(path)) throw new DataException("input file not found", path);
        if (path.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
            return File.ReadLines(path).Select((line, i) => new InputRow(i + 1, line, null)).Where(r => r.Text.Length > 0).ToList();
        var reader = DataFileReader.Open(path, data.FileOptions(p));
        var textColumn = p.GetValue(data.TextColumn)!;
        var pairColumn = p.GetValue(data.TextPairColumn);
        foreach (var column in new[] { textColumn, pairColumn })
            if (column is not null && !reader.Columns.Contains(column))
                throw new DataException($"no such column; the file's columns are: {string.Join(", ", reader.Columns)} (choose with --text-column)", path, column: column);
        var rows = new List<InputRow>();
        foreach (var row in reader.ReadRows())
        {
            if (row.Error is not null) throw row.Error;
            var text = row[textColumn].Text ?? throw new DataException("missing text", path, row.SourceRow, textColumn);
            rows.Add(new InputRow(row.SourceRow, text, pairColumn is null ? null : row[pairColumn].Text ?? throw new DataException("missing text", path, row.SourceRow, pairColumn)));
        }
        return rows;
    }

    private static void Write(string path, IReadOnlyList<InputRow> rows, IReadOnlyList<TextPrediction> predictions, TextClassifier c)
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
                sb.AppendLine(JsonSerializer.Serialize(obj));
            }
            RunFiles.WriteTextAtomically(path, sb.ToString());
            return;
        }
        if (!path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
            throw new FineTuneException($"--output {path}: use a .csv or .jsonl file name");
        var csv = new StringBuilder();
        var labels = c.Labels?.Labels ?? [];
        var header = new List<string> { "row", "text" };
        if (pairs) header.Add("text_pair");
        header.Add(c.Task == Configuration.TaskKind.Regression ? "value" : c.Task == Configuration.TaskKind.MultiLabelClassification ? "labels" : "label");
        header.AddRange(labels.Select(l => "p_" + l));
        csv.AppendLine(string.Join(",", header.Select(PredictionsCsv.Quote)));
        for (int i = 0; i < rows.Count; i++)
        {
            var pr = predictions[i];
            var cells = new List<string> { rows[i].SourceRow.ToString(CultureInfo.InvariantCulture), rows[i].Text };
            if (pairs) cells.Add(rows[i].Pair ?? "");
            cells.Add(pr.Value?.ToString("R", CultureInfo.InvariantCulture) ?? pr.Label ?? string.Join(";", pr.Labels ?? []));
            if (pr.Probabilities is not null)
                cells.AddRange(labels.Select(l => pr.Probabilities[l].ToString("0.######", CultureInfo.InvariantCulture)));
            csv.AppendLine(string.Join(",", cells.Select(PredictionsCsv.Quote)));
        }
        RunFiles.WriteTextAtomically(path, csv.ToString());
    }
}
