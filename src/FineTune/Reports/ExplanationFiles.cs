using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using FineTune.Inference;

namespace FineTune.Reports;

/// <summary>
/// The files of an explanation run: explanations.jsonl (one object per input) and explanations.html (one
/// self-contained page with every input's words shaded by the sign and size of their attributions). Written under a
/// temporary name, then renamed.
/// </summary>
internal static class ExplanationFiles
{
    public const string JsonLinesName = "explanations.jsonl";
    public const string PageName = "explanations.html";

    /// <summary>The most inputs the page shows (explanations.jsonl has all of them).</summary>
    public const int MaxPageInputs = 500;

    /// <summary>What the page says about the method, in one place.</summary>
    public sealed record Method(string Model, string Task, int Steps, string Baseline);

    /// <summary>Writes both files into <paramref name="folder"/> (created when missing) and returns their paths.</summary>
    public static IReadOnlyList<string> Write(string folder, IReadOnlyList<Explanation> explanations, Method method)
    {
        Directory.CreateDirectory(folder);
        var jsonl = Path.Combine(folder, JsonLinesName);
        var html = Path.Combine(folder, PageName);
        RunFiles.WriteTextAtomically(jsonl, JsonLines(explanations));
        RunFiles.WriteTextAtomically(html, Page(explanations, method));
        return [jsonl, html];
    }

    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// One object per input: row, text (text_pair), prediction, and the first target's label, score, words and
    /// completeness_gap at the top level (what most readers want), with every target under "targets".
    /// </summary>
    public static string JsonLines(IReadOnlyList<Explanation> explanations)
    {
        var sb = new StringBuilder();
        foreach (var e in explanations)
        {
            var pair = e.TextPair is not null;
            var first = e.Targets.Count > 0 ? e.Targets[0] : null;
            var obj = new Dictionary<string, object?> { ["row"] = e.Row, ["text"] = e.Text };
            if (pair) obj["text_pair"] = e.TextPair;
            obj["prediction"] = e.Prediction;
            foreach (var (key, value) in Target(first, pair)) obj[key] = value;
            obj["targets"] = e.Targets.Select(t => Target(t, pair)).ToList();
            obj["truncated"] = e.Truncated;
            sb.AppendLine(JsonSerializer.Serialize(obj, Json));
        }
        return sb.ToString();
    }

    private static Dictionary<string, object?> Target(TargetExplanation? t, bool pair) => new()
    {
        ["label"] = t?.Label,
        ["score"] = Finite(t?.Score),
        ["baseline_score"] = Finite(t?.BaselineScore),
        ["words"] = t is null ? Array.Empty<object>() : t.Words.Select(w => Word(w, pair)).ToArray(),
        ["completeness_gap"] = Finite(t?.CompletenessGap),
    };

    private static object Word(WordAttribution w, bool pair)
    {
        var word = new Dictionary<string, object> { ["word"] = w.Word, ["start"] = w.Start, ["end"] = w.End, ["attribution"] = w.Attribution };
        if (pair) word["sequence"] = w.Sequence;
        return word;
    }

    private static double? Finite(double? value) => value is double v && double.IsFinite(v) ? v : null;

    // ---- the page --------------------------------------------------------------------------------------------------

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Page(IReadOnlyList<Explanation> explanations, Method method)
    {
        var h = new StringBuilder();
        var (share, targets) = WordAttributions.WithinGap(explanations);
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
         .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
         .Append("<title>").Append(E($"Explanations · {method.Model}")).Append("</title>\n")
         .Append("<style>").Append(RunReportHtml.Css).Append(Css).Append("</style>\n</head>\n<body>\n<main>\n");
        h.Append("<header>\n<p class=\"kicker\">FineTune explanations</p>\n<h1>").Append(E(method.Task)).Append(" <span class=\"muted\">·</span> ")
         .Append(E(method.Model)).Append("</h1>\n<dl class=\"facts\">")
         .Append("<dt>Inputs</dt><dd>").Append(explanations.Count.ToString("N0", Inv)).Append(" (").Append(targets.ToString("N0", Inv)).Append(" explained outputs)</dd>")
         .Append("<dt>Method</dt><dd>integrated gradients on the word embeddings, ").Append(method.Steps.ToString(Inv))
         .Append(" Gauss–Legendre steps; sub-token attributions summed into words</dd>")
         .Append("<dt>Baseline</dt><dd>").Append(E(method.Baseline)).Append("</dd>")
         .Append("<dt>Completeness</dt><dd>").Append(targets > 0 ? (share * 100).ToString("0.0", Inv) + "%" : "n/a")
         .Append(" of the explained outputs have |Σ attributions − (f(x) − f(baseline))| ≤ 5% of |f(x) − f(baseline)|</dd>")
         .Append("</dl>\n<p class=\"legend\"><span class=\"w\" style=\"background:").Append(Shade(1)).Append("\">raises the output</span> ")
         .Append("<span class=\"w\" style=\"background:").Append(Shade(-1)).Append("\">lowers it</span> ")
         .Append("<span class=\"muted\">(the stronger the colour, the larger the attribution, relative to the largest of that output)</span></p>\n</header>\n");
        foreach (var e in explanations.Take(MaxPageInputs)) Input(h, e);
        if (explanations.Count > MaxPageInputs)
            h.Append("<p class=\"muted\">").Append((explanations.Count - MaxPageInputs).ToString("N0", Inv)).Append(" more inputs are in ")
             .Append(JsonLinesName).Append(".</p>\n");
        h.Append("<footer>Made by FineTune; every word's attribution is also in <code>").Append(JsonLinesName).Append("</code>.</footer>\n</main>\n</body>\n</html>\n");
        return h.ToString();
    }

    private static void Input(StringBuilder h, Explanation e)
    {
        h.Append("<section class=\"input\">\n<p class=\"head\"><span class=\"muted\">row ").Append(e.Row.ToString(Inv)).Append("</span> · predicted <strong>")
         .Append(E(e.Prediction)).Append("</strong>").Append(e.Truncated ? " <span class=\"muted\">(truncated: the words past the model's length are not shown)</span>" : "")
         .Append("</p>\n");
        if (e.Targets.Count == 0)
            h.Append("<p class=\"text\">").Append(E(e.Text)).Append("</p><p class=\"muted\">Nothing to explain.</p>\n");
        foreach (var t in e.Targets)
        {
            h.Append("<div class=\"target\"><p class=\"label\">").Append(E(t.Label)).Append(" <span class=\"muted\">score ")
             .Append(t.Score.ToString("0.####", Inv)).Append(", baseline ").Append(t.BaselineScore.ToString("0.####", Inv))
             .Append(", completeness gap ").Append(double.IsFinite(t.CompletenessGap) ? (t.CompletenessGap * 100).ToString("0.##", Inv) + "%" : "n/a")
             .Append("</span></p>\n");
            double max = t.Words.Select(w => Math.Abs(w.Attribution)).DefaultIfEmpty(0).Max();
            Shaded(h, e.Text, t.Words.Where(w => w.Sequence == 0), max);
            if (e.TextPair is not null)
                Shaded(h, e.TextPair, t.Words.Where(w => w.Sequence == 1), max, pair: true);
            h.Append("</div>\n");
        }
        h.Append("</section>\n");
    }

    /// <summary>The text as it is, each word a span shaded by its attribution relative to <paramref name="max"/>.</summary>
    private static void Shaded(StringBuilder h, string text, IEnumerable<WordAttribution> words, double max, bool pair = false)
    {
        h.Append(pair ? "<p class=\"text pair\">" : "<p class=\"text\">");
        int at = 0;
        foreach (var w in words.OrderBy(w => w.Start))
        {
            if (w.Start < at) continue;
            h.Append(E(text[at..w.Start]));
            double relative = max > 0 ? w.Attribution / max : 0;
            h.Append("<span class=\"w\" style=\"background:").Append(Shade(relative)).Append("\" title=\"")
             .Append(w.Attribution.ToString("0.####", Inv)).Append("\">").Append(E(text[w.Start..w.End])).Append("</span>");
            at = w.End;
        }
        h.Append(E(text[at..])).Append("</p>\n");
    }

    /// <summary>Green for a positive attribution, red for a negative one, as opaque as its size (−1 … 1).</summary>
    internal static string Shade(double relative)
    {
        double alpha = Math.Round(Math.Min(Math.Abs(relative), 1) * 0.85, 2);
        return relative >= 0
            ? $"rgba(22,163,74,{alpha.ToString("0.##", Inv)})"
            : $"rgba(220,38,38,{alpha.ToString("0.##", Inv)})";
    }

    private static string E(string? text) => RunReportHtml.E(text);

    private const string Css = """
        section.input{padding:14px 20px;margin:0 0 12px}
        .input .head{margin:0 0 6px}
        .target{margin:6px 0 10px}
        .target .label{margin:0 0 2px;font-weight:600}
        p.text{margin:2px 0;line-height:1.9;white-space:pre-wrap;overflow-wrap:anywhere}
        p.text.pair{border-left:3px solid var(--line);padding-left:10px}
        span.w{border-radius:3px;padding:1px 1px}
        .legend{margin:12px 0 0}
        """;
}
