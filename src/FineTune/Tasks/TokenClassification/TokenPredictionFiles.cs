using System.Globalization;
using System.Text;
using System.Text.Json;
using FineTune.Data;
using FineTune.Reports;

namespace FineTune.Tasks;

/// <summary>The prediction files of token classification.</summary>
internal static class TokenPredictionFiles
{
    /// <summary>
    /// Token classification: one CSV row per word (sentence number, file line, word, gold tag, predicted tag and its
    /// probability), sentences in file order; the tags are IOB2, as the model predicts them.
    /// </summary>
    public static void WriteWordTags(string path, IReadOnlyList<TokenExample> examples, IReadOnlyList<WordTagPrediction> predictions)
    {
        var sb = new StringBuilder();
        sb.AppendLine("sentence,line,word,gold,predicted,score");
        foreach (var p in predictions.OrderBy(p => p.ExampleIndex))
        {
            var e = examples[p.ExampleIndex];
            for (int w = 0; w < e.Words.Count; w++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"{p.ExampleIndex + 1},{e.LineOf(w)},{Csv.Quote(e.Words[w])},");
                sb.Append(CultureInfo.InvariantCulture, $"{e.Tags[w]},{p.Tags[w]},{p.Scores[w]:0.######}").AppendLine();
            }
        }
        RunFiles.WriteTextAtomically(path, sb.ToString());
    }

    /// <summary>
    /// Entities found in unlabelled texts: one CSV row per entity (row, type, text, start, end, score) or one JSON line
    /// per text (row, text, entities), by the output file's extension. Returns how many entities were written.
    /// </summary>
    public static int WriteEntities(string path, IReadOnlyList<TextInput> rows, IReadOnlyList<IReadOnlyList<Entity>> entities)
    {
        bool csv = Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase);
        var sb = new StringBuilder();
        if (csv) sb.AppendLine("row,type,text,start,end,score");
        int count = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            count += entities[i].Count;
            if (csv)
            {
                foreach (var e in entities[i])
                    sb.AppendLine(Csv.Line([Number(rows[i].SourceRow), e.Type, e.Text, Number(e.Start), Number(e.End), Score(e.Score)]));
                continue;
            }
            sb.AppendLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["row"] = rows[i].SourceRow,
                ["text"] = rows[i].Text,
                ["entities"] = entities[i].Select(e => new Dictionary<string, object>
                {
                    ["type"] = e.Type, ["text"] = e.Text, ["start"] = e.Start, ["end"] = e.End, ["score"] = Math.Round(e.Score, 6),
                }).ToList(),
            }, SequencePredictionFiles.Json));
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        RunFiles.WriteTextAtomically(path, sb.ToString());
        return count;
    }

    internal static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
    internal static string Score(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);
}
