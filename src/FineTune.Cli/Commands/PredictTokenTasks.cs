using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;

namespace FineTune.Cli.Commands;

/// <summary>Where `finetune predict` reads its input for token classification and QA, and how it writes results.</summary>
internal sealed record TokenTaskPredictInput(
    string InputFile,
    string OutputFile,
    DataFileOptions File,
    string TextColumn,
    string QuestionColumn,
    string ContextColumn);

/// <summary>
/// `finetune predict` for token-classification and question-answering models: texts in, entities out (type, text,
/// character offsets, score); or question and context in, answer out (text, offsets, score). Input: CSV, TSV, JSONL or
/// Parquet with named columns, a .txt file with one text per line (NER), or a SQuAD JSON file (QA). Output: JSONL,
/// or CSV when the output file ends in .csv.
/// </summary>
internal static class PredictTokenTasks
{
    private const int Chunk = 256;

    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static bool Handles(TaskKind? task) => task is TaskKind.TokenClassification or TaskKind.QuestionAnswering;

    public static int PredictEntities(string modelFolder, TokenTaskPredictInput io, EntityPredictorOptions options)
    {
        var rows = ReadTexts(io);
        using var predictor = EntityPredictor.Load(modelFolder, options);
        bool csv = IsCsv(io.OutputFile);
        using var writer = OpenOutput(io.OutputFile);
        if (csv) writer.WriteLine("row,type,text,start,end,score");
        int entities = 0;
        foreach (var chunk in rows.Chunk(Chunk))
        {
            var predictions = predictor.Predict(chunk.Select(r => r.Text).ToList());
            for (int i = 0; i < chunk.Length; i++)
            {
                entities += predictions[i].Count;
                if (csv)
                {
                    foreach (var e in predictions[i])
                        writer.WriteLine(string.Join(",", new[] { Number(chunk[i].Row), e.Type, e.Text, Number(e.Start), Number(e.End), Score(e.Score) }.Select(PredictionsCsv.Quote)));
                }
                else
                {
                    writer.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                    {
                        ["row"] = chunk[i].Row,
                        ["text"] = chunk[i].Text,
                        ["entities"] = predictions[i].Select(e => new Dictionary<string, object>
                        {
                            ["type"] = e.Type, ["text"] = e.Text, ["start"] = e.Start, ["end"] = e.End, ["score"] = Math.Round(e.Score, 6),
                        }).ToList(),
                    }, Json));
                }
            }
        }
        Console.WriteLine($"{entities} entities in {rows.Count} texts -> {io.OutputFile}");
        return 0;
    }

    public static int PredictAnswers(string modelFolder, TokenTaskPredictInput io, AnswerPredictorOptions options)
    {
        var rows = ReadQuestions(io);
        using var predictor = AnswerPredictor.Load(modelFolder, options);
        bool csv = IsCsv(io.OutputFile);
        using var writer = OpenOutput(io.OutputFile);
        if (csv) writer.WriteLine("row,id,question,answer,start,end,score");
        // Questions carry their file and row, so that a question too long for a window is reported where it is.
        foreach (var chunk in rows.Chunk(Chunk))
        {
            var answers = predictor.Predict(chunk.Select(r => r.Example).ToList());
            for (int i = 0; i < chunk.Length; i++)
            {
                var (row, id, example) = chunk[i];
                var question = example.Question;
                var a = answers[i];
                if (csv)
                    writer.WriteLine(string.Join(",", new[] { Number(row), id ?? "", question, a.Text, a.IsEmpty ? "" : Number(a.Start), a.IsEmpty ? "" : Number(a.End), Score(a.Score) }.Select(PredictionsCsv.Quote)));
                else
                {
                    var obj = new Dictionary<string, object?> { ["row"] = row };
                    if (id is not null) obj["id"] = id;
                    obj["question"] = question;
                    obj["answer"] = a.Text;
                    obj["start"] = a.IsEmpty ? null : a.Start;
                    obj["end"] = a.IsEmpty ? null : a.End;
                    obj["score"] = Math.Round(a.Score, 6);
                    writer.WriteLine(JsonSerializer.Serialize(obj, Json));
                }
            }
        }
        Console.WriteLine($"{rows.Count} answers -> {io.OutputFile}");
        return 0;
    }

    private static List<(long Row, string Text)> ReadTexts(TokenTaskPredictInput io)
    {
        if (!File.Exists(io.InputFile)) throw new DataException("the file does not exist", io.InputFile);
        if (Path.GetExtension(io.InputFile).Equals(".txt", StringComparison.OrdinalIgnoreCase))
            return File.ReadLines(io.InputFile).Select((line, i) => ((long)i + 1, line)).Where(x => x.line.Length > 0).ToList();
        var reader = DataFileReader.Open(io.InputFile, io.File);
        if (!reader.Columns.Contains(io.TextColumn))
            throw new DataException($"there is no column '{io.TextColumn}' (--text-column); the columns are {string.Join(", ", reader.Columns)}", io.InputFile);
        var texts = new List<(long, string)>();
        foreach (var row in reader.ReadRows())
        {
            if (row.Error is not null) throw row.Error;
            texts.Add((row.SourceRow, Cell(row, io.TextColumn, io.InputFile)));
        }
        return texts;
    }

    private static List<(long Row, string? Id, QaExample Example)> ReadQuestions(TokenTaskPredictInput io)
    {
        if (!File.Exists(io.InputFile)) throw new DataException("the file does not exist", io.InputFile);
        if (Path.GetExtension(io.InputFile).Equals(".json", StringComparison.OrdinalIgnoreCase))
        {
            var squad = SquadReader.ReadSquadJson(io.InputFile, new SquadReadOptions { SkipMismatchedAnswers = true });
            return squad.Examples.Select((e, i) => ((long)i + 1, (string?)e.Id, e)).ToList();
        }
        var reader = DataFileReader.Open(io.InputFile, io.File);
        foreach (var (column, option) in new[] { (io.QuestionColumn, "--question-column"), (io.ContextColumn, "--context-column") })
            if (!reader.Columns.Contains(column))
                throw new DataException($"there is no column '{column}' ({option}); the columns are {string.Join(", ", reader.Columns)}", io.InputFile);
        bool hasId = reader.Columns.Contains("id");
        var questions = new List<(long, string?, QaExample)>();
        foreach (var row in reader.ReadRows())
        {
            if (row.Error is not null) throw row.Error;
            var id = hasId ? row["id"].Text : null;
            var example = new QaExample(id ?? row.SourceRow.ToString(CultureInfo.InvariantCulture), "", Cell(row, io.QuestionColumn, io.InputFile),
                Cell(row, io.ContextColumn, io.InputFile), [], io.InputFile, row.SourceRow);
            questions.Add((row.SourceRow, id, example));
        }
        return questions;
    }

    private static string Cell(DataRow row, string column, string file) =>
        row[column].Text ?? throw new DataException("the value is missing or not text", file, row.SourceRow, column);

    private static bool IsCsv(string path) => Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase);

    private static StreamWriter OpenOutput(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        return new StreamWriter(full, false, new UTF8Encoding(false));
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
    private static string Score(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);
}
