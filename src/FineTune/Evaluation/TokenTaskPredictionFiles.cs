using System.Globalization;
using System.Text;
using FineTune.Data;

namespace FineTune.Evaluation;

/// <summary>The test predictions of token classification and extractive QA as files of the run folder.</summary>
public static class TokenTaskPredictionFiles
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
                sb.Append(CultureInfo.InvariantCulture, $"{p.ExampleIndex + 1},{e.LineOf(w)},{PredictionsCsv.Quote(e.Words[w])},");
                sb.Append(CultureInfo.InvariantCulture, $"{e.Tags[w]},{p.Tags[w]},{p.Scores[w]:0.######}").AppendLine();
            }
        }
        RunFiles.WriteTextAtomically(path, sb.ToString());
    }

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
            sb.AppendLine(string.Join(",", fields.Select(PredictionsCsv.Quote)));
        }
        RunFiles.WriteTextAtomically(path, sb.ToString());
    }

    /// <summary>Extractive QA: {"question id": "predicted answer"}, the file SQuAD's official evaluation script reads.</summary>
    public static void WriteSquadJson(string path, IReadOnlyList<QaExample> examples, IReadOnlyList<AnswerPrediction> predictions) =>
        RunFiles.WriteJsonAtomically(path, predictions.OrderBy(p => p.ExampleIndex).ToDictionary(p => examples[p.ExampleIndex].Id, p => p.Answer.Text));
}
