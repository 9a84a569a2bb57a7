using System.Globalization;
using System.Text;
using System.Text.Json;
using FineTune.Data;
using FineTune.Reports;

namespace FineTune.Tasks;

/// <summary>The prediction files of extractive question answering.</summary>
internal static class AnswerPredictionFiles
{
    /// <summary>
    /// Extractive QA: one CSV row per question (id, title, question, predicted answer, its score and character offsets
    /// in the context, the reference answers joined by " | ", exact match and F1 on a 0–1 scale), in file order.
    /// </summary>
    public static void WriteAnswers(string path, IReadOnlyList<QaExample> examples, IReadOnlyList<AnswerPrediction> predictions)
    {
        var sb = new StringBuilder();
        sb.AppendLine("id,title,question,prediction,score,start,end,answers,exact_match,f1");
        foreach (var p in predictions.OrderBy(p => p.ExampleIndex))
        {
            var e = examples[p.ExampleIndex];
            var a = p.Answer;
            var fields = new[]
            {
                e.Id, e.Title, e.Question, a.Text, p.Score.ToString("0.######", CultureInfo.InvariantCulture),
                a.IsEmpty ? "" : a.StartChar.ToString(CultureInfo.InvariantCulture), a.IsEmpty ? "" : a.EndChar.ToString(CultureInfo.InvariantCulture),
                string.Join(" | ", e.Answers.Select(x => x.Text)),
                p.ExactMatch.ToString("0", CultureInfo.InvariantCulture), p.F1.ToString("0.####", CultureInfo.InvariantCulture),
            };
            sb.AppendLine(string.Join(",", fields.Select(Csv.Quote)));
        }
        RunFiles.WriteTextAtomically(path, sb.ToString());
    }

    /// <summary>Extractive QA: {"question id": "predicted answer"}, the file SQuAD's official evaluation script reads.</summary>
    public static void WriteSquadJson(string path, IReadOnlyList<QaExample> examples, IReadOnlyList<AnswerPrediction> predictions) =>
        RunFiles.WriteJsonAtomically(path, predictions.OrderBy(p => p.ExampleIndex).ToDictionary(p => examples[p.ExampleIndex].Id, p => p.Answer.Text));
}

internal static class AnswerPredictionWriter
{
    /// <summary>
    /// Answers to unlabelled questions: one CSV row (row, id, question, answer, start, end, score) or one JSON line per
    /// question, by the output file's extension.
    /// </summary>
    public static void Write(string path, IReadOnlyList<(long Row, string? Id, QaExample Example)> rows, IReadOnlyList<Answer> answers)
    {
        bool csv = Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase);
        var sb = new StringBuilder();
        if (csv) sb.AppendLine("row,id,question,answer,start,end,score");
        for (int i = 0; i < rows.Count; i++)
        {
            var (row, id, example) = rows[i];
            var a = answers[i];
            if (csv)
            {
                sb.AppendLine(Csv.Line([TokenPredictionFiles.Number(row), id ?? "", example.Question, a.Text,
                    a.IsEmpty ? "" : TokenPredictionFiles.Number(a.Start), a.IsEmpty ? "" : TokenPredictionFiles.Number(a.End), TokenPredictionFiles.Score(a.Score)]));
                continue;
            }
            var obj = new Dictionary<string, object?> { ["row"] = row };
            if (id is not null) obj["id"] = id;
            obj["question"] = example.Question;
            obj["answer"] = a.Text;
            obj["start"] = a.IsEmpty ? null : a.Start;
            obj["end"] = a.IsEmpty ? null : a.End;
            obj["score"] = Math.Round(a.Score, 6);
            sb.AppendLine(JsonSerializer.Serialize(obj, SequencePredictionFiles.Json));
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        RunFiles.WriteTextAtomically(path, sb.ToString());
    }
}
