using System.Globalization;
using System.Text;
using FineTune.Analysis;

namespace FineTune.Reports;

/// <summary>
/// The data report as text (what the tool prints), as a section of a page (report.html's data section, and
/// analysis.html), and as files (analysis.json and analysis.html, written under a temporary name, then renamed).
/// </summary>
internal static class DataAnalysisPages
{
    public const string JsonName = "analysis.json";
    public const string PageName = "analysis.html";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes analysis.json and analysis.html into <paramref name="folder"/> (created when missing) and returns their paths.</summary>
    public static IReadOnlyList<string> Write(string folder, DataAnalysis analysis, string title)
    {
        Directory.CreateDirectory(folder);
        var json = Path.Combine(folder, JsonName);
        var html = Path.Combine(folder, PageName);
        RunFiles.WriteJsonAtomically(json, analysis);
        var page = new StringBuilder();
        page.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(E("Data report · " + title)).Append("</title>\n<style>").Append(RunReportHtml.Css).Append("</style>\n</head>\n<body>\n<main>\n")
            .Append("<header>\n<p class=\"kicker\">FineTune data report</p>\n<h1>").Append(E(title)).Append("</h1>\n<dl class=\"facts\">");
        foreach (var s in analysis.Splits)
            page.Append("<dt>").Append(E(s.Name)).Append("</dt><dd>").Append(s.Examples.ToString("N0", Inv)).Append(" examples</dd>");
        page.Append("</dl>\n</header>\n<section>\n");
        Section(page, analysis, heading: "h2");
        page.Append("</section>\n<footer>Made by FineTune; every number is also in <code>").Append(JsonName).Append("</code>.</footer>\n</main>\n</body>\n</html>\n");
        RunFiles.WriteTextAtomically(html, page.ToString());
        return [json, html];
    }

    /// <summary>The findings in a few lines: labels and imbalance, truncation, duplicates and leakage, conflicts, shortcuts.</summary>
    public static IReadOnlyList<string> Describe(DataAnalysis a)
    {
        var lines = new List<string>();
        foreach (var s in a.Splits)
        {
            var labels = s.LabelCounts.Count == 0 ? "" : "; " + string.Join(", ", s.LabelCounts.OrderByDescending(kv => kv.Value).Take(8).Select(kv => $"{kv.Key} {kv.Value}"))
                + (s.LabelCounts.Count > 8 ? $", … ({s.LabelCounts.Count} {a.LabelKind}s)" : "");
            lines.Add($"{s.Name}: {s.Examples} examples{labels}; tokens median {Number(s.Lengths.Median)}, p95 {Number(s.Lengths.P95)}, max {s.Lengths.Max}; " +
                $"{s.Truncated} ({Percent(s.TruncationRate)}) longer than {a.MaxLength}");
        }
        if (a.ImbalanceRatio is double ratio) lines.Add($"imbalance ratio (train, most / least frequent {a.LabelKind}): {Number(ratio)}");
        foreach (var d in a.ExactDuplicates) lines.Add("exact duplicates " + Finding(d));
        foreach (var d in a.NearDuplicates) lines.Add($"near duplicates (Jaccard ≥ {Number(a.NearDuplicateThreshold)}) " + Finding(d));
        if (a.ConflictingLabels is { } c) lines.Add($"identical texts with conflicting labels: {c.Groups} texts, {c.ExamplesInvolved} examples");
        if (a.ShortcutRule is not null)
            lines.Add($"possible shortcuts: {a.ShortcutRule}" + (a.Shortcuts.Count > 0
                ? ": " + string.Join(", ", a.Shortcuts.Take(10).Select(t => $"'{t.Token}' -> {t.Label} ({Percent(t.LabelShare)} of {t.Count})"))
                : ""));
        return lines;
    }

    private static string Finding(DuplicateFinding d) => d.Splits.Count == 1
        ? $"within {d.Splits[0]}: {d.Groups} groups, {d.ExamplesInvolved} examples ({Percent(d.Share)})"
        : $"across splits: {d.ExamplesInvolved} {d.Splits[1]} examples ({Percent(d.Share)} of {d.Splits[1]}) also in {d.Splits[0]}";

    /// <summary>The report's section: labels, lengths, duplicates and leakage, conflicting labels, possible shortcuts.</summary>
    public static void Section(StringBuilder h, DataAnalysis a, string heading = "h3")
    {
        string sub = heading == "h2" ? "h3" : "h4";
        h.Append('<').Append(heading).Append(" id=\"data-report\">Data report</").Append(heading).Append(">\n<p class=\"muted\">Texts are compared after lower-casing and ")
         .Append("collapsing white space; near duplicates by the Jaccard similarity of their character 5-grams (MinHash with LSH, each pair checked exactly).</p>\n");

        // Labels and lengths.
        if (a.ImbalanceRatio is double ratio)
            h.Append("<p><strong>Imbalance ratio</strong> (train, the most frequent ").Append(E(a.LabelKind)).Append("'s count over the rarest's): ")
             .Append(Number(ratio)).Append("</p>\n");
        h.Append('<').Append(sub).Append(">Token lengths</").Append(sub).Append(">\n<table class=\"num\"><thead><tr><th>split</th><th>examples</th><th>mean</th><th>median</th><th>p95</th><th>max</th><th>longer than ")
         .Append(a.MaxLength.ToString(Inv)).Append("</th></tr></thead><tbody>");
        foreach (var s in a.Splits)
            h.Append("<tr><td>").Append(E(s.Name)).Append("</td><td>").Append(Count(s.Examples)).Append("</td>").Append(LengthCells(s.Lengths))
             .Append("<td>").Append(Count(s.Truncated)).Append(" <span class=\"muted\">(").Append(Percent(s.TruncationRate)).Append(")</span></td></tr>");
        h.Append("</tbody></table>\n");
        if (a.Splits.FirstOrDefault(s => s.LengthsPerLabel.Count > 0) is { } perLabel)
        {
            h.Append("<details><summary>Token lengths per ").Append(E(a.LabelKind)).Append(" (").Append(E(perLabel.Name)).Append(")</summary>\n<div class=\"scroll\"><table class=\"num\"><thead><tr><th>")
             .Append(E(a.LabelKind)).Append("</th><th>examples</th><th>mean</th><th>median</th><th>p95</th><th>max</th></tr></thead><tbody>");
            foreach (var (label, stats) in perLabel.LengthsPerLabel.Take(60))
                h.Append("<tr><td class=\"label\">").Append(E(label)).Append("</td><td>").Append(Count(stats.Count)).Append("</td>").Append(LengthCells(stats)).Append("</tr>");
            h.Append("</tbody></table></div></details>\n");
        }

        // Duplicates and leakage.
        h.Append('<').Append(sub).Append(">Duplicates and leakage</").Append(sub).Append(">\n<table class=\"num\"><thead><tr><th>finding</th><th>groups or pairs</th><th>examples</th><th>share</th></tr></thead><tbody>");
        foreach (var (kind, findings) in new[] { ("exact", a.ExactDuplicates), ($"near (Jaccard ≥ {Number(a.NearDuplicateThreshold)})", a.NearDuplicates) })
            foreach (var d in findings)
            {
                bool leak = d.Splits.Count == 2 && d.ExamplesInvolved > 0;
                h.Append(leak ? "<tr class=\"worst\">" : "<tr>").Append("<td class=\"label\">").Append(E(kind)).Append(' ')
                 .Append(E(d.Splits.Count == 1 ? $"duplicates within {d.Splits[0]}" : $"{d.Splits[1]} examples also in {d.Splits[0]}"))
                 .Append("</td><td>").Append(Count(d.Groups)).Append("</td><td>").Append(Count(d.ExamplesInvolved)).Append("</td><td>").Append(Percent(d.Share)).Append("</td></tr>");
            }
        h.Append("</tbody></table>\n");
        var samples = a.ExactDuplicates.Concat(a.NearDuplicates).Where(d => d.Samples.Count > 0).ToList();
        if (samples.Count > 0)
        {
            h.Append("<details><summary>Examples of duplicates</summary>\n<div class=\"scroll\"><table class=\"errors\"><thead><tr><th>where</th><th>texts</th><th>rows</th><th>Jaccard</th></tr></thead><tbody>");
            foreach (var d in samples)
                foreach (var s in d.Samples)
                    h.Append("<tr><td class=\"label\">").Append(E(string.Join(" / ", d.Splits))).Append("</td><td class=\"text\">")
                     .Append(string.Join("<br>", s.Texts.Select(t => E(Clip(t))))).Append("</td><td class=\"label\">").Append(E(string.Join(", ", s.Rows)))
                     .Append("</td><td class=\"n\">").Append(Number(s.Jaccard)).Append("</td></tr>");
            h.Append("</tbody></table></div></details>\n");
        }

        // Conflicting labels.
        if (a.ConflictingLabels is { } c)
        {
            h.Append('<').Append(sub).Append(">Conflicting labels</").Append(sub).Append(">\n<p>").Append(Count(c.Groups)).Append(" texts occur with different ")
             .Append(E(a.LabelKind)).Append("s (").Append(Count(c.ExamplesInvolved)).Append(" examples).</p>\n");
            if (c.Samples.Count > 0)
            {
                h.Append("<div class=\"scroll\"><table class=\"errors\"><thead><tr><th>text</th><th>labels (copies)</th><th>rows</th></tr></thead><tbody>");
                foreach (var s in c.Samples)
                    h.Append("<tr><td class=\"text\">").Append(E(Clip(s.Text))).Append("</td><td class=\"label\">")
                     .Append(E(string.Join("; ", s.Labels.Select(kv => $"{kv.Key} ×{kv.Value}")))).Append("</td><td class=\"label\">").Append(E(string.Join(", ", s.Rows))).Append("</td></tr>");
                h.Append("</tbody></table></div>\n");
            }
        }

        // Shortcuts.
        if (a.ShortcutRule is not null)
        {
            h.Append('<').Append(sub).Append(">Possible shortcuts</").Append(sub).Append(">\n<p class=\"muted\">Words that predict a ").Append(E(a.LabelKind))
             .Append(" almost alone: ").Append(E(a.ShortcutRule)).Append(" (more than that ").Append(E(a.LabelKind))
             .Append("'s share overall). A real cue or an artefact of how the data was collected: check the strongest.</p>\n");
            if (a.Shortcuts.Count > 0)
            {
                h.Append("<div class=\"scroll\"><table class=\"num\"><thead><tr><th>word</th><th>").Append(E(a.LabelKind))
                 .Append("</th><th>examples</th><th>share</th><th>PMI (bits)</th></tr></thead><tbody>");
                foreach (var t in a.Shortcuts)
                    h.Append("<tr><td class=\"label\"><code>").Append(E(t.Token)).Append("</code></td><td class=\"label\">").Append(E(t.Label)).Append("</td><td>")
                     .Append(Count(t.Count)).Append("</td><td>").Append(Percent(t.LabelShare)).Append("</td><td>").Append(Number(t.Pmi)).Append("</td></tr>");
                h.Append("</tbody></table></div>\n");
            }
        }
    }

    private static string LengthCells(LengthStats s) =>
        $"<td>{Number(s.Mean)}</td><td>{Number(s.Median)}</td><td>{Number(s.P95)}</td><td>{s.Max.ToString(Inv)}</td>";

    private static string E(string? text) => RunReportHtml.E(text);
    private static string Count(long n) => n.ToString("N0", Inv);
    private static string Number(double v) => v.ToString("0.##", Inv);
    private static string Percent(double share) => (share * 100).ToString("0.##", Inv) + "%";
    private static string Clip(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
