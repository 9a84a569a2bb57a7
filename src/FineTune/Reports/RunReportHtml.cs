using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text;
using FineTune.Evaluation;

namespace FineTune.Reports;

/// <summary>
/// report.html: one self-contained page (inline CSS, plots as data: URIs, no scripts, nothing fetched) with the run's
/// header, data, settings, training curves, metrics per split, per-class reports, confusion matrices and most confident
/// errors. A section without data is left out, so the page fits every task; metrics may have any names.
/// </summary>
internal static class RunReportHtml
{
    private const int MaxLabelRows = 50;
    private const int MaxErrorText = 600;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Build(RunRecord record, IReadOnlyList<RenderedPlot> plots, IReadOnlyDictionary<string, string> failedPlots,
        IReadOnlySet<string> plotFiles, IReadOnlyList<string> notes)
    {
        var page = new Page(record, plots.ToDictionary(p => p.Name, StringComparer.Ordinal), failedPlots, plotFiles);
        var h = page.Html;
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
         .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
         .Append("<title>").Append(E($"{TaskTitle(record)} · {record.Model} · FineTune run report")).Append("</title>\n")
         .Append("<style>").Append(Css).Append("</style>\n</head>\n<body>\n<main>\n");
        page.Header();
        page.Navigation();
        if (notes.Count > 0)
        {
            h.Append("<div class=\"notes\"><strong>Notes</strong><ul>");
            foreach (var note in notes) h.Append("<li>").Append(E(note)).Append("</li>");
            h.Append("</ul></div>\n");
        }
        page.Data();
        page.Settings();
        page.Training();
        page.Results();
        page.Errors();
        h.Append("<footer>Made by FineTune ").Append(E(Version())).Append(" from ").Append(RunFiles.RecordName)
         .Append("; re-create it with <code>finetune report RUN_FOLDER</code>.")
         .Append(plotFiles.Count > 0 ? " The plots are also in <code>plots/</code> as PNG and SVG." : "").Append("</footer>\n");
        h.Append("</main>\n</body>\n</html>\n");
        return h.ToString();
    }

    private sealed class Page(RunRecord record, Dictionary<string, RenderedPlot> plots, IReadOnlyDictionary<string, string> failedPlots, IReadOnlySet<string> plotFiles)
    {
        public StringBuilder Html { get; } = new();
        private readonly string? _best = RunHistory.BestMetric(record);
        // Older run.json files have no errors_by: only regression ordered its errors by their size then.
        private readonly bool _regression = (record.ErrorsBy ?? (record.Task == "regression" ? "error" : "confidence")) == "error";

        private IEnumerable<(string Name, SplitResult Result)> Splits => record.Splits
            .OrderBy(kv => kv.Key switch { "validation" => 0, "test" => 1, _ => 2 }).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, kv.Value));

        // ---- header ----------------------------------------------------------------------------------------------

        public void Header()
        {
            Html.Append("<header>\n<p class=\"kicker\">FineTune run report</p>\n<h1>").Append(E(TaskTitle(record)))
                .Append(" <span class=\"muted\">·</span> ").Append(E(record.Model)).Append("</h1>\n");
            Html.Append("<div class=\"cards\">");
            if (_best is not null)
                foreach (var (name, result) in Splits)
                    if (result.Metrics.TryGetValue(_best, out var value))
                        Card($"{name} {_best}", FormatMetric(value), "metric for best");
            var counts = record.Data.Splits.Where(s => s.Examples > 0).ToList();
            if (counts.Count > 0)
                Card("examples", Count(counts.Sum(s => (long)s.Examples)), string.Join(" · ", counts.Select(s => $"{Count(s.Examples)} {s.Name}")));
            if (record.GlobalStep > 0)
                Card("steps", Count(record.GlobalStep), record.BestStep is { } b ? $"best at step {Count(b)}" + (record.StoppedEarly ? ", stopped early" : "") : record.StoppedEarly ? "stopped early" : "");
            if (record.ElapsedSeconds > 0)
                Card("time", Duration(record.ElapsedSeconds), $"{Duration(record.TrainingSeconds)} training");
            Html.Append("</div>\n<dl class=\"facts\">");
            Fact("Task", E(record.Task));
            Fact("Model", E(record.Model) + (record.ModelFolder != record.Model ? $" <span class=\"path\">{E(record.ModelFolder)}</span>" : ""));
            Fact("Saved model", $"<span class=\"path\">{E(record.OutputModel)}</span>");
            Fact("Started", E(record.Started.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", Inv) + " UTC"));
            if (record.ElapsedSeconds > 0)
                Fact("Took", E($"{Duration(record.ElapsedSeconds)} in all, {Duration(record.TrainingSeconds)} of training"));
            if (record.GlobalStep > 0)
            {
                var steps = $"{Count(record.GlobalStep)} optimizer steps";
                if (record.BestStep is { } best) steps += $"; best model at step {Count(best)}";
                if (record.StoppedEarly) steps += "; stopped early";
                Fact("Steps", E(steps));
            }
            if (_best is not null)
                Fact("Metric for best", E($"{_best} ({(MetricNames.HigherIsBetter(_best) ? "higher" : "lower")} is better), on validation"));
            var throughput = RunHistory.Train(record, "examples_per_second");
            if (!throughput.IsEmpty)
                Fact("Throughput", E($"{throughput.Values.Average().ToString("0.#", Inv)} examples/s (mean over the logged windows)"));
            Html.Append("</dl>\n</header>\n");
        }

        public void Navigation()
        {
            Html.Append("<nav>");
            foreach (var (id, title) in new[] { ("data", "Data"), ("settings", "Settings"), ("training", "Training"), ("results", "Results"), ("errors", "Errors") })
                if (id switch { "settings" => HasSettings, "training" => HasTraining, "results" => record.Splits.Count > 0, "errors" => HasErrors, _ => true })
                    Html.Append("<a href=\"#").Append(id).Append("\">").Append(title).Append("</a>");
            Html.Append("</nav>\n");
        }

        private void Card(string label, string value, string detail) =>
            Html.Append("<div class=\"card\"><div class=\"label\">").Append(E(label)).Append("</div><div class=\"value\">").Append(E(value))
                .Append("</div><div class=\"detail\">").Append(E(detail)).Append("</div></div>");

        private void Fact(string name, string html) => Html.Append("<dt>").Append(E(name)).Append("</dt><dd>").Append(html).Append("</dd>");

        // ---- data ------------------------------------------------------------------------------------------------

        public void Data()
        {
            var d = record.Data;
            Html.Append("<section id=\"data\">\n<h2>Data</h2>\n<dl class=\"facts\">");
            Fact("Training file", $"<span class=\"path\">{E(d.TrainFile)}</span>");
            Fact("Validation", SourceOf(d.ValidationFile, "validation"));
            Fact("Test", SourceOf(d.TestFile, "test"));
            var columns = d.Columns.Where(c => !string.IsNullOrEmpty(c.Value)).Select(c => $"{E(c.Key)}: <code>{E(c.Value!)}</code>").ToList();
            if (columns.Count > 0) Fact("Columns", string.Join(", ", columns));
            if (d.MaxLength > 0) Fact("Max length", E($"{Count(d.MaxLength)} tokens (longer examples are truncated)"));
            Html.Append("</dl>\n");

            if (d.Splits.Count > 0)
            {
                Html.Append("<table class=\"num\"><thead><tr><th>split</th><th>examples</th><th>truncated</th></tr></thead><tbody>");
                foreach (var s in d.Splits)
                    Html.Append("<tr><td>").Append(E(s.Name)).Append("</td><td>").Append(Count(s.Examples)).Append("</td><td>")
                        .Append(s.Truncated > 0 ? $"{Count(s.Truncated)} <span class=\"muted\">({Percent(s.Truncated, s.Examples)})</span>" : "0").Append("</td></tr>");
                Html.Append("</tbody></table>\n");
            }
            LabelDistribution(d);
            if (record.DataAnalysis is { } analysis) DataAnalysisPages.Section(Html, analysis);
            if (d.SkippedRows > 0)
            {
                Html.Append("<p><strong>").Append(Count(d.SkippedRows)).Append(" rows were skipped</strong>")
                    .Append(d.SkippedReasons.Count > 0 ? ", for example:" : ".").Append("</p>");
                if (d.SkippedReasons.Count > 0)
                {
                    Html.Append("<ul class=\"reasons\">");
                    foreach (var reason in d.SkippedReasons) Html.Append("<li>").Append(E(reason)).Append("</li>");
                    Html.Append("</ul>");
                }
            }
            else
            {
                Html.Append("<p class=\"muted\">No rows were skipped.</p>");
            }
            Html.Append("\n</section>\n");
        }

        private string SourceOf(string? file, string split)
        {
            if (file is not null) return $"<span class=\"path\">{E(file)}</span>";
            return record.Data.Splits.Any(s => s.Name == split && s.Examples > 0) ? "held out from the training file" : "none";
        }

        private void LabelDistribution(RunData d)
        {
            var splits = d.Splits.Where(s => s.LabelCounts.Count > 0).ToList();
            if (splits.Count == 0) return;
            var labels = (record.Labels ?? []).Concat(splits.SelectMany(s => s.LabelCounts.Keys)).Distinct().ToList();
            Html.Append("<h3>Label distribution</h3>\n<table class=\"num\"><thead><tr><th>label</th>");
            foreach (var s in splits) Html.Append("<th>").Append(E(s.Name)).Append("</th>");
            Html.Append("</tr></thead><tbody>");
            foreach (var label in labels.Take(MaxLabelRows))
            {
                Html.Append("<tr><td class=\"label\">").Append(E(label)).Append("</td>");
                foreach (var s in splits)
                {
                    int count = s.LabelCounts.GetValueOrDefault(label);
                    int total = s.LabelCounts.Values.Sum();
                    Html.Append("<td>").Append(Count(count)).Append(" <span class=\"muted\">").Append(Percent(count, total)).Append("</span>")
                        .Append(Bar(total > 0 ? (double)count / total : 0)).Append("</td>");
                }
                Html.Append("</tr>");
            }
            Html.Append("</tbody></table>\n");
            if (labels.Count > MaxLabelRows)
                Html.Append("<p class=\"muted\">").Append(Count(labels.Count - MaxLabelRows)).Append(" more labels are not shown.</p>\n");
        }

        // ---- settings --------------------------------------------------------------------------------------------

        private bool HasSettings => record.Settings.Count > 0 || !string.IsNullOrWhiteSpace(record.LoadReport) || record.Labels is { Count: > 0 };

        public void Settings()
        {
            if (!HasSettings) return;
            Html.Append("<section id=\"settings\">\n<h2>Settings</h2>\n");
            if (record.Settings.Count > 0)
            {
                Html.Append("<dl class=\"settings\">");
                foreach (var (key, value) in record.Settings)
                    Html.Append("<div><dt>").Append(E(key)).Append("</dt><dd>").Append(E(FormatSetting(value))).Append("</dd></div>");
                Html.Append("</dl>\n");
            }
            if (!string.IsNullOrWhiteSpace(record.LoadReport))
                Html.Append("<h3>Loading the pretrained model</h3>\n<pre>").Append(E(record.LoadReport)).Append("</pre>\n");
            if (record.Labels is { Count: > 0 } labels)
                Html.Append("<p><strong>Labels</strong> (in the model's order): ").Append(string.Join(", ", labels.Select(l => $"<code>{E(l)}</code>"))).Append("</p>\n");
            Html.Append("</section>\n");
        }

        // ---- training --------------------------------------------------------------------------------------------

        private bool HasTraining => record.LogHistory.Count > 0;

        public void Training()
        {
            if (!HasTraining) return;
            Html.Append("<section id=\"training\">\n<h2>Training</h2>\n");
            Plot(RunPlots.Loss);
            Plot(RunPlots.LearningRate);
            Plot(RunPlots.ValidationMetrics);
            EvaluationHistory();
            Html.Append("</section>\n");
        }

        private void EvaluationHistory()
        {
            var entries = RunHistory.EvalEntries(record);
            if (entries.Count == 0) return;
            var metrics = RunHistory.EvalMetricNames(record).OrderBy(n => n == _best ? 0 : n == MetricNames.Loss ? 1 : 2).ToList();
            Html.Append(entries.Count > 12 ? "<details>" : "<details open>")
                .Append("<summary>Evaluations on the validation set (").Append(Count(entries.Count)).Append(")</summary>\n");
            Html.Append("<div class=\"scroll\"><table class=\"num\"><thead><tr><th>step</th><th>epoch</th>");
            foreach (var m in metrics) Html.Append(m == _best ? "<th class=\"best\">" : "<th>").Append(E(m)).Append("</th>");
            Html.Append("</tr></thead><tbody>");
            for (int i = 0; i < entries.Count; i++)
            {
                var e = entries[i];
                double step = RunHistory.StepOf(e, i);
                bool bestRow = record.BestStep is { } b && b == step;
                Html.Append(bestRow ? "<tr class=\"best\">" : "<tr>").Append("<td>").Append(E(FormatNumber(step)))
                    .Append(bestRow ? " ★" : "").Append("</td><td>").Append(e.TryGetValue("epoch", out var epoch) ? E(FormatNumber(epoch)) : "").Append("</td>");
                foreach (var m in metrics)
                    Html.Append("<td>").Append(e.TryGetValue(RunHistory.EvalPrefix + m, out var v) ? E(FormatMetric(v)) : "").Append("</td>");
                Html.Append("</tr>");
            }
            Html.Append("</tbody></table></div>\n");
            if (record.BestStep is not null) Html.Append("<p class=\"muted\">★ the evaluation that picked the saved model.</p>");
            Html.Append("</details>\n");
        }

        // ---- results ---------------------------------------------------------------------------------------------

        public void Results()
        {
            if (record.Splits.Count == 0) return;
            var splits = Splits.ToList();
            Html.Append("<section id=\"results\">\n<h2>Results</h2>\n");
            var metrics = new List<string>();
            if (_best is not null && splits.Any(s => s.Result.Metrics.ContainsKey(_best))) metrics.Add(_best);
            foreach (var (_, r) in splits)
                foreach (var name in r.Metrics.Keys)
                    if (!metrics.Contains(name)) metrics.Add(name);
            Html.Append("<table class=\"num metrics\"><thead><tr><th>metric</th>");
            foreach (var (name, _) in splits) Html.Append("<th>").Append(E(name)).Append("</th>");
            Html.Append("</tr></thead><tbody>");
            foreach (var m in metrics)
            {
                bool best = m == _best;
                Html.Append(best ? "<tr class=\"best\">" : "<tr>").Append("<td>").Append(E(m))
                    .Append(" <span class=\"muted\" title=\"").Append(MetricNames.HigherIsBetter(m) ? "higher is better\">↑" : "lower is better\">↓").Append("</span>")
                    .Append(best ? " <span class=\"tag\">metric for best</span>" : "").Append("</td>");
                foreach (var (_, r) in splits)
                    Html.Append("<td>").Append(r.Metrics.TryGetValue(m, out var v) ? E(FormatMetric(v)) : "").Append("</td>");
                Html.Append("</tr>");
            }
            Html.Append("</tbody></table>\n");

            foreach (var (name, r) in splits)
                if (r.PerClass is { Count: > 0 } perClass) PerClass(name, perClass);

            var confusion = RunPlots.ConfusionSplit(record);
            if (confusion is not null)
            {
                Html.Append("<h3>Confusion matrix</h3>\n<p class=\"muted\">Rows are the actual labels, columns the predicted ones; ")
                    .Append("a cell's colour is its share of the row (the recall of the row's label on the diagonal).</p>\n");
                Plot(RunPlots.Confusion);
                foreach (var (name, r) in splits)
                    if (r.ConfusionMatrix is { Length: > 0 } m && m.All(row => row.Length == m.Length))
                        ConfusionTable(name, m, open: name == confusion && !plots.ContainsKey(RunPlots.Confusion));
            }
            if (RunPlots.RegressionSplit(record) is not null)
            {
                Html.Append("<h3>Predicted against actual values</h3>\n");
                Plot(RunPlots.PredictedVsActual);
            }
            Calibration(splits);
            foreach (var (name, r) in splits)
                if (r.Slices is { Slices.Count: > 0 } slices) Slices(name, slices);
            Html.Append("</section>\n");
        }

        private void Calibration(List<(string Name, SplitResult Result)> splits)
        {
            var calibrated = splits.Where(s => s.Result.Calibration is not null).ToList();
            if (calibrated.Count == 0) return;
            Html.Append("<h3>Calibration</h3>\n<p class=\"muted\">How far the probability of the predicted class is from how often it is right: ")
                .Append("the expected calibration error (ECE) over ").Append(calibrated[0].Result.Calibration!.Bins.Count.ToString(Inv))
                .Append(" equal-width bins of confidence, 0 for a perfectly calibrated model.</p>\n<table class=\"num\"><thead><tr><th>split</th><th>ECE</th>");
            bool scaled = calibrated.Any(s => s.Result.Calibration!.EceUncalibrated is not null);
            if (scaled) Html.Append("<th>before temperature scaling</th><th>temperature</th>");
            Html.Append("</tr></thead><tbody>");
            foreach (var (name, r) in calibrated)
            {
                var c = r.Calibration!;
                Html.Append("<tr><td>").Append(E(name)).Append("</td><td>").Append(FormatMetric(c.Ece)).Append("</td>");
                if (scaled)
                    Html.Append("<td>").Append(c.EceUncalibrated is double u ? FormatMetric(u) : "").Append("</td><td>").Append(FormatNumber(c.Temperature)).Append("</td>");
                Html.Append("</tr>");
            }
            Html.Append("</tbody></table>\n");
            Plot(RunPlots.Reliability);
        }

        private void Slices(string split, SliceReport report)
        {
            var metrics = new[] { report.Metric }.Concat(report.Slices.SelectMany(s => s.Metrics.Keys).Distinct()
                .Where(m => m != report.Metric && m is MetricNames.Accuracy or MetricNames.F1Macro or MetricNames.F1Micro or MetricNames.Ece or MetricNames.Pearson or MetricNames.Mae))
                .Take(4).ToList();
            Html.Append("<h3>Slices of ").Append(E(split)).Append(" by <code>").Append(E(report.Column)).Append("</code></h3>\n<p class=\"muted\">")
                .Append(report.Worst is null
                    ? $"No slice has {SliceReport.MinWorstCount} examples or more to be called the worst."
                    : $"The worst slice by {report.Metric} (among those with at least {SliceReport.MinWorstCount} examples) is highlighted.")
                .Append("</p>\n<div class=\"scroll\"><table class=\"num\"><thead><tr><th>slice</th><th>examples</th>");
            foreach (var m in metrics) Html.Append("<th>").Append(E(m)).Append("</th>");
            Html.Append("</tr></thead><tbody>");
            foreach (var slice in report.Slices.Take(MaxLabelRows))
            {
                bool worst = slice.Name == report.Worst;
                Html.Append(worst ? "<tr class=\"worst\">" : "<tr>").Append("<td class=\"label\">").Append(E(slice.Name))
                    .Append(worst ? " <span class=\"tag worst\">worst slice</span>" : "").Append("</td><td>").Append(Count(slice.Count)).Append("</td>");
                foreach (var m in metrics)
                    Html.Append("<td>").Append(slice.Metrics.TryGetValue(m, out var v) ? E(FormatMetric(v)) : "").Append("</td>");
                Html.Append("</tr>");
            }
            Html.Append("</tbody></table></div>\n");
            if (report.Slices.Count > MaxLabelRows)
                Html.Append("<p class=\"muted\">").Append(Count(report.Slices.Count - MaxLabelRows)).Append(" more slices are in metrics.json.</p>\n");
        }

        private void PerClass(string split, IReadOnlyList<ClassReport> perClass)
        {
            Html.Append("<h3>Per-class report: ").Append(E(split)).Append("</h3>\n<div class=\"scroll\"><table class=\"num\"><thead><tr>")
                .Append("<th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead><tbody>");
            foreach (var c in perClass)
                Html.Append("<tr><td class=\"label\">").Append(E(c.Label)).Append("</td><td>").Append(FormatMetric(c.Precision))
                    .Append("</td><td>").Append(FormatMetric(c.Recall)).Append("</td><td>").Append(FormatMetric(c.F1)).Append(Bar(c.F1))
                    .Append("</td><td>").Append(Count(c.Support)).Append("</td></tr>");
            Html.Append("</tbody></table></div>\n");
        }

        private void ConfusionTable(string split, long[][] matrix, bool open)
        {
            var labels = RunPlots.ConfusionLabels(record, matrix.Length);
            Html.Append(open ? "<details open>" : "<details>").Append("<summary>Confusion matrix as a table: ").Append(E(split)).Append("</summary>\n")
                .Append("<div class=\"scroll\"><table class=\"num confusion\"><thead><tr><th>actual \\ predicted</th>");
            foreach (var l in labels) Html.Append("<th>").Append(E(l)).Append("</th>");
            Html.Append("</tr></thead><tbody>");
            for (int a = 0; a < matrix.Length; a++)
            {
                long total = matrix[a].Sum();
                Html.Append("<tr><th>").Append(E(labels[a])).Append("</th>");
                for (int p = 0; p < matrix.Length; p++)
                {
                    double share = total > 0 ? (double)matrix[a][p] / total : 0;
                    int alpha = (int)Math.Round(share * 70);
                    Html.Append("<td").Append(a == p ? " class=\"diag\"" : "")
                        .Append(alpha > 0 ? $" style=\"background:rgba(8,81,156,{(alpha / 100.0).ToString("0.00", Inv)})\"" : "")
                        .Append('>').Append(Count(matrix[a][p])).Append("</td>");
                }
                Html.Append("</tr>");
            }
            Html.Append("</tbody></table></div></details>\n");
        }

        // ---- errors ----------------------------------------------------------------------------------------------

        private bool HasErrors => record.Splits.Values.Any(s => s.TopErrors is { Count: > 0 });

        public void Errors()
        {
            if (!HasErrors) return;
            Html.Append("<section id=\"errors\">\n<h2>").Append(_regression ? "Largest errors" : "Most confident errors").Append("</h2>\n<p class=\"muted\">")
                .Append(_regression
                    ? "The examples the model was furthest off on, largest absolute error first."
                    : "Wrong predictions the model was most sure of: often label noise, ambiguous text, or a pattern the model has not learned.")
                .Append("</p>\n");
            foreach (var (name, r) in Splits)
            {
                if (r.TopErrors is not { Count: > 0 } errors) continue;
                Html.Append("<h3>").Append(E(name)).Append(" <span class=\"muted\">(").Append(Count(errors.Count)).Append(")</span></h3>\n")
                    .Append("<div class=\"scroll\"><table class=\"errors\"><thead><tr><th>row</th><th>text</th><th>actual</th><th>predicted</th><th>")
                    .Append(_regression ? "abs. error" : "confidence").Append("</th></tr></thead><tbody>");
                foreach (var e in errors)
                {
                    Html.Append("<tr><td class=\"n\">").Append(e.SourceRow.ToString(Inv)).Append("</td><td class=\"text\">").Append(E(Clip(e.Text)));
                    if (!string.IsNullOrEmpty(e.TextPair))
                        Html.Append("<div class=\"pair\"><span class=\"muted\">pair:</span> ").Append(E(Clip(e.TextPair))).Append("</div>");
                    Html.Append("</td><td class=\"label\">").Append(E(e.Actual)).Append("</td><td class=\"label\">").Append(E(e.Predicted))
                        .Append("</td><td class=\"n\">").Append(E(_regression ? FormatNumber(e.Confidence) : (e.Confidence * 100).ToString("0.0", Inv) + "%"))
                        .Append("</td></tr>");
                }
                Html.Append("</tbody></table></div>\n");
            }
            Html.Append("</section>\n");
        }

        // ---- plots -----------------------------------------------------------------------------------------------

        private void Plot(string name)
        {
            if (plots.TryGetValue(name, out var plot))
            {
                Html.Append("<figure><img src=\"data:image/png;base64,").Append(Convert.ToBase64String(plot.Png)).Append("\" width=\"")
                    .Append(plot.Width.ToString(Inv)).Append("\" height=\"").Append(plot.Height.ToString(Inv)).Append("\" alt=\"").Append(E(plot.Title))
                    .Append("\"><figcaption>").Append(E(plot.Title));
                if (plotFiles.Contains(name))
                    Html.Append(" · <a href=\"").Append(RunReport.PlotsFolder).Append('/').Append(name).Append(".png\">PNG</a> · <a href=\"")
                        .Append(RunReport.PlotsFolder).Append('/').Append(name).Append(".svg\">SVG</a>");
                Html.Append("</figcaption></figure>\n");
            }
            else if (failedPlots.TryGetValue(name, out var why))
            {
                Html.Append("<p class=\"note\">This plot could not be drawn: ").Append(E(why)).Append("</p>\n");
            }
        }
    }

    // ---- formatting ----------------------------------------------------------------------------------------------

    /// <summary>Escapes text for HTML content and attribute values; control characters become U+FFFD.</summary>
    internal static string E(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var sb = new StringBuilder(text.Length + 16);
        foreach (var c in text)
            sb.Append(c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                '\n' or '\t' => c.ToString(),
                '\r' => "",
                _ when char.IsControl(c) => "\uFFFD",
                _ => c.ToString(),
            });
        return sb.ToString();
    }

    internal static string TaskTitle(RunRecord record) => record.TaskTitle ?? record.Task;

    internal static string FormatMetric(double value) =>
        double.IsNaN(value) ? "n/a"
        : double.IsInfinity(value) ? (value > 0 ? "∞" : "−∞")
        : Math.Abs(value) >= 1000 ? value.ToString("#,0.#", Inv)
        : Math.Abs(value) > 1 ? value.ToString("0.###", Inv)
        : value != 0 && Math.Abs(value) < 1e-3 ? value.ToString("0.###e0", Inv)
        : value.ToString("0.0000", Inv);

    internal static string FormatNumber(double value) =>
        !double.IsFinite(value) ? FormatMetric(value)
        : value == Math.Round(value) && Math.Abs(value) < 1e15 ? ((long)value).ToString(Inv)
        : value != 0 && Math.Abs(value) < 1e-3 ? value.ToString("0.###e0", Inv)
        : value.ToString("0.####", Inv);

    internal static string FormatSetting(object? value) => value switch
    {
        null => "—",
        bool b => b ? "true" : "false",
        double d => FormatNumber(d),
        float f => FormatNumber(f),
        int or long or short or byte => Convert.ToInt64(value, Inv).ToString(Inv),
        string s => s,
        JsonElement j => j.ValueKind switch
        {
            JsonValueKind.Null or JsonValueKind.Undefined => "—",
            JsonValueKind.String => j.GetString() ?? "",
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Number => j.TryGetInt64(out var l) ? l.ToString(Inv) : FormatNumber(j.GetDouble()),
            JsonValueKind.Array => string.Join(", ", j.EnumerateArray().Select(x => FormatSetting(x))),
            _ => j.GetRawText(),
        },
        System.Collections.IEnumerable list => string.Join(", ", list.Cast<object?>().Select(FormatSetting)),
        IFormattable f => f.ToString(null, Inv),
        _ => value.ToString() ?? "",
    };

    private static string Count(long n) => n.ToString("N0", Inv);

    private static string Percent(long part, long total) => total > 0 ? ((double)part / total * 100).ToString("0.#", Inv) + "%" : "";

    private static string Bar(double share) =>
        $"<span class=\"bar\"><span style=\"width:{(Math.Clamp(double.IsFinite(share) ? share : 0, 0, 1) * 100).ToString("0.#", Inv)}%\"></span></span>";

    private static string Clip(string text) => text.Length <= MaxErrorText ? text : text[..MaxErrorText] + "…";

    private static string Duration(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0) return "n/a";
        if (seconds < 60) return seconds.ToString(seconds < 10 ? "0.0" : "0", Inv) + " s";
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours} h {t.Minutes:00} min" : $"{t.Minutes} min {t.Seconds:00} s";
    }

    private static string Version()
    {
        var assembly = typeof(RunReportHtml).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? assembly.GetName().Version?.ToString() ?? "";
        int plus = version.IndexOf('+');
        return plus > 0 ? version[..plus] : version;
    }

    /// <summary>The style sheet of the report pages (report.html, explanations.html).</summary>
    internal const string Css = """
        :root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--accent:#1d4ed8;--best:#fef3c7}
        *{box-sizing:border-box}
        body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
        main{max-width:1160px;margin:0 auto;padding:24px 28px 48px}
        header,section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:20px 24px;margin:0 0 20px}
        h1{font-size:26px;margin:0 0 14px}
        h2{font-size:20px;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
        h3{font-size:16px;margin:22px 0 8px}
        .kicker{margin:0;color:var(--muted);text-transform:uppercase;letter-spacing:.06em;font-size:12px}
        .muted{color:var(--muted)}
        .cards{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 16px}
        .card{flex:1 1 180px;border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:#fbfdff}
        .card .label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
        .card .value{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
        .card .detail{font-size:12px;color:var(--muted)}
        dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}
        dl.facts dt{color:var(--muted)}
        dl.facts dd{margin:0;overflow-wrap:anywhere}
        dl.settings{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:0 20px;margin:0}
        dl.settings div{display:flex;justify-content:space-between;gap:10px;border-bottom:1px dotted var(--line);padding:3px 0}
        dl.settings dt{color:var(--muted)}
        dl.settings dd{margin:0;font-variant-numeric:tabular-nums;text-align:right;overflow-wrap:anywhere}
        .path,code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
        .path{color:#374151;overflow-wrap:anywhere}
        pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px 12px;white-space:pre-wrap;overflow-wrap:anywhere}
        nav{display:flex;gap:8px;margin:0 0 20px}
        nav a{padding:5px 12px;border:1px solid var(--line);border-radius:999px;background:#fff;color:var(--accent);text-decoration:none;font-size:14px}
        a{color:var(--accent)}
        table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
        th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        thead th{background:#f1f5f9;font-weight:600;white-space:nowrap}
        table.num td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        table.num td.label,table.num td:first-child{text-align:left}
        tr.best td{background:var(--best)}
        tr.worst td{background:#fee2e2}
        .tag.worst{background:#dc2626}
        th.best{background:var(--best)}
        .tag{display:inline-block;font-size:11px;padding:0 6px;border-radius:999px;background:#f59e0b;color:#fff;vertical-align:middle}
        .bar{display:inline-block;width:60px;height:8px;margin-left:8px;background:#e5e7eb;border-radius:4px;vertical-align:middle;overflow:hidden}
        .bar span{display:block;height:100%;background:#3b82f6}
        table.confusion td.diag{font-weight:700}
        table.confusion tbody th{text-align:left}
        table.errors{width:100%}
        table.errors td.text{white-space:pre-wrap;overflow-wrap:anywhere;min-width:320px}
        table.errors td.label{white-space:nowrap}
        table.errors td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        .pair{margin-top:4px}
        .scroll{overflow-x:auto}
        figure{margin:10px 0 18px}
        figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
        figcaption{font-size:13px;color:var(--muted)}
        details{margin:8px 0}
        summary{cursor:pointer;color:var(--accent)}
        .notes,.note{background:#fff7ed;border:1px solid #fdba74;border-radius:8px;padding:10px 14px;margin:0 0 20px}
        .notes ul{margin:4px 0 0;padding-left:20px}
        .reasons{font-size:14px}
        footer{color:var(--muted);font-size:13px;text-align:center}
        """;
}
