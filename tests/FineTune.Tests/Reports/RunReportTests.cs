using System.Text.RegularExpressions;
using FineTune.Evaluation;
using FineTune.Reports;
using SkiaSharp;

namespace FineTune.Tests.Reports;

public class RunReportTests
{
    private static readonly string[] Sections = ["id=\"data\"", "id=\"settings\"", "id=\"training\"", "id=\"results\"", "id=\"errors\""];

    [Fact]
    public void Classification_writes_plots_and_a_self_contained_page()
    {
        using var dir = new TestSupport.TempDir();
        var result = RunReport.Write(dir.Path, ReportRecords.Classification());

        Assert.Empty(result.Warnings);
        Assert.Equal(dir.File(RunReport.ReportName), result.ReportPath);
        foreach (var name in new[] { "loss", "learning_rate", "validation_metrics", "confusion_matrix" })
        {
            AssertPng(Path.Combine(dir.Path, "plots", name + ".png"), minWidth: 400, minHeight: 300);
            var svg = File.ReadAllText(Path.Combine(dir.Path, "plots", name + ".svg"));
            Assert.StartsWith("<?xml", svg);
            Assert.Contains("<svg", svg);
        }
        Assert.False(File.Exists(Path.Combine(dir.Path, "plots", "predicted_vs_actual.png")));
        Assert.Equal(8, result.PlotFiles.Count);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));

        var html = File.ReadAllText(dir.File("report.html"));
        foreach (var section in Sections) Assert.Contains(section, html);
        Assert.Contains("Most confident errors", html);
        Assert.Contains("Per-class report: validation", html);
        Assert.Contains("Per-class report: test", html);
        Assert.Contains("metric for best", html);
        Assert.Contains("0.8600", html); // validation accuracy
        Assert.Contains("2026-03-14 09:26:53 UTC", html);
        Assert.Contains("/runs/reviews/model", html);
        Assert.Contains("2 rows were skipped", html);
        Assert.Contains("line 942: &lt;unknown&gt; label &#39;maybe&#39; &amp; more", html);
        Assert.Equal(4, Regex.Matches(html, "<img src=\"data:image/png;base64,").Count);
        AssertEscaped(html);
        AssertSelfContained(html);
    }

    [Fact]
    public void Text_from_the_data_is_escaped_everywhere()
    {
        var html = RunReportHtml.Build(ReportRecords.Classification(), [], new Dictionary<string, string>(), new HashSet<string>(), ["a <note> & more"]);
        AssertEscaped(html);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Tom &amp; Jerry said &quot;hi&quot;", html);
        Assert.Contains("positive &amp; &lt;b&gt;great&lt;/b&gt;", html);
        Assert.Contains("a &lt;pair&gt; text", html);
        Assert.Contains("stars &amp; &lt;sentiment&gt;", html);
        Assert.Contains("a &lt;note&gt; &amp; more", html);
        Assert.DoesNotContain("<b>great</b>", html);
    }

    [Fact]
    public void Equal_records_give_equal_files_also_after_a_round_trip_through_run_json()
    {
        using var a = new TestSupport.TempDir();
        using var b = new TestSupport.TempDir();
        var record = ReportRecords.Classification();
        RunReport.Write(a.Path, record);
        RunFiles.WriteRecord(b.Path, record);
        var rewritten = RunReport.Rewrite(b.Path);

        Assert.Empty(rewritten.Warnings);
        Assert.Equal(File.ReadAllText(a.File("report.html")), File.ReadAllText(b.File("report.html")));
        foreach (var file in Directory.GetFiles(Path.Combine(a.Path, "plots")))
            Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b.Path, "plots", Path.GetFileName(file)))), file);
    }

    [Fact]
    public void Without_a_test_split_the_confusion_matrix_is_the_validation_one()
    {
        using var dir = new TestSupport.TempDir();
        var result = RunReport.Write(dir.Path, ReportRecords.Classification(withTest: false));

        Assert.Empty(result.Warnings);
        AssertPng(Path.Combine(dir.Path, "plots", "confusion_matrix.png"), 400, 300);
        var html = File.ReadAllText(dir.File("report.html"));
        Assert.Contains("Confusion matrix (validation)", html);
        Assert.DoesNotContain("Per-class report: test", html);
        Assert.DoesNotContain("<th>test</th>", html);
        AssertSelfContained(html);
    }

    [Fact]
    public void Regression_has_a_predicted_versus_actual_plot_and_no_confusion_matrix()
    {
        using var dir = new TestSupport.TempDir();
        var result = RunReport.Write(dir.Path, ReportRecords.Regression());

        Assert.Empty(result.Warnings);
        AssertPng(Path.Combine(dir.Path, "plots", "predicted_vs_actual.png"), 400, 400);
        AssertPng(Path.Combine(dir.Path, "plots", "validation_metrics.png"), 400, 300);
        Assert.False(File.Exists(Path.Combine(dir.Path, "plots", "confusion_matrix.png")));
        var html = File.ReadAllText(dir.File("report.html"));
        Assert.Contains("Predicted vs actual (test)", html);
        Assert.Contains("Largest errors", html);
        Assert.Contains("abs. error", html);
        Assert.Contains("A man &amp; a &lt;dog&gt;", html);
        Assert.DoesNotContain("Confusion matrix", html);
        Assert.DoesNotContain("Label distribution", html);
        AssertSelfContained(html);
    }

    [Fact]
    public void Multi_label_has_per_label_reports_and_no_confusion_matrix()
    {
        using var dir = new TestSupport.TempDir();
        var result = RunReport.Write(dir.Path, ReportRecords.MultiLabel());

        Assert.Empty(result.Warnings);
        var html = File.ReadAllText(dir.File("report.html"));
        Assert.Contains("Multi-label classification", html);
        Assert.Contains("Per-class report: validation", html);
        Assert.Contains("hamming_loss", html);
        Assert.Contains("Match &amp; &lt;ballot&gt;", html);
        Assert.DoesNotContain("Confusion matrix", html);
        Assert.True(File.Exists(Path.Combine(dir.Path, "plots", "validation_metrics.png")));
    }

    [Fact]
    public void A_bare_record_with_unknown_metrics_gives_a_page_without_the_sections_it_has_no_data_for()
    {
        using var dir = new TestSupport.TempDir();
        var result = RunReport.Write(dir.Path, ReportRecords.Bare());

        Assert.Empty(result.Warnings);
        Assert.Empty(result.PlotFiles);
        var html = File.ReadAllText(dir.File("report.html"));
        Assert.Contains("Question answering", html);
        Assert.Contains("71.25", html);
        Assert.Contains("weird/metric name", html);
        Assert.Contains("n/a", html);
        Assert.Contains("id=\"results\"", html);
        Assert.DoesNotContain("id=\"training\"", html);
        Assert.DoesNotContain("id=\"settings\"", html);
        Assert.DoesNotContain("id=\"errors\"", html);
        Assert.DoesNotContain("<img", html);
        AssertSelfContained(html);
    }

    [Fact]
    public void A_plots_folder_that_cannot_be_made_is_a_warning_and_a_note_not_an_exception()
    {
        using var dir = new TestSupport.TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "plots"), "a file where the folder would go");

        var result = RunReport.Write(dir.Path, ReportRecords.Classification());

        Assert.NotNull(result.ReportPath);
        Assert.Empty(result.PlotFiles);
        var warning = Assert.Single(result.Warnings);
        Assert.Contains("plots folder", warning);
        var html = File.ReadAllText(dir.File("report.html"));
        Assert.Contains("class=\"notes\"", html);
        Assert.Contains("plots folder", html);
        Assert.Equal(4, Regex.Matches(html, "<img src=\"data:image/png;base64,").Count); // still in the page
        Assert.DoesNotContain("href=\"plots/", html);
    }

    [Fact]
    public void A_plot_that_cannot_be_drawn_is_a_warning_and_a_note_in_its_place()
    {
        using var dir = new TestSupport.TempDir();
        var result = RunReport.Write(dir.Path, ReportRecords.Classification(), spec => spec.Name == RunPlots.Confusion
            ? throw new InvalidOperationException("boom & <bust>")
            : RunPlots.Render(spec));

        var warning = Assert.Single(result.Warnings);
        Assert.Contains("confusion matrix", warning);
        Assert.Contains("boom", warning);
        Assert.False(File.Exists(Path.Combine(dir.Path, "plots", "confusion_matrix.png")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "plots", "loss.png")));
        var html = File.ReadAllText(dir.File("report.html"));
        Assert.Contains("This plot could not be drawn: InvalidOperationException: boom &amp; &lt;bust&gt;", html);
        Assert.Contains("class=\"notes\"", html);
        Assert.Contains("Confusion matrix as a table: test", html);
        Assert.Equal(3, Regex.Matches(html, "<img src=\"data:image/png;base64,").Count);
    }

    [Fact]
    public void A_confusion_matrix_that_does_not_match_the_labels_is_drawn_with_class_numbers()
    {
        var record = ReportRecords.Classification(withTest: false);
        var odd = record with
        {
            Splits = new Dictionary<string, SplitResult> { ["validation"] = record.Splits["validation"] with { ConfusionMatrix = [[1, 2], [3, 4]] } },
        };
        using var dir = new TestSupport.TempDir();
        Assert.Empty(RunReport.Write(dir.Path, odd).Warnings);
        AssertPng(Path.Combine(dir.Path, "plots", "confusion_matrix.png"), 400, 300);
    }

    [Fact]
    public void Plots_the_record_no_longer_has_data_for_are_removed_when_the_report_is_made_again()
    {
        using var dir = new TestSupport.TempDir();
        RunReport.Write(dir.Path, ReportRecords.Classification());
        Assert.True(File.Exists(Path.Combine(dir.Path, "plots", "confusion_matrix.svg")));

        RunReport.Write(dir.Path, ReportRecords.Regression());

        Assert.False(File.Exists(Path.Combine(dir.Path, "plots", "confusion_matrix.svg")));
        Assert.False(File.Exists(Path.Combine(dir.Path, "plots", "confusion_matrix.png")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "plots", "predicted_vs_actual.png")));
    }

    [Fact]
    public void Rewrite_of_a_folder_without_run_json_is_a_clear_error()
    {
        using var dir = new TestSupport.TempDir();
        var e = Assert.Throws<FineTuneException>(() => RunReport.Rewrite(dir.Path));
        Assert.Contains("run.json", e.Message);
        Assert.Throws<FineTuneException>(() => RunReport.Rewrite(Path.Combine(dir.Path, "missing")));
    }

    [Fact]
    public void Metrics_plot_puts_the_metric_for_best_first_and_losses_apart()
    {
        var metrics = RunPlots.PlottedMetrics(ReportRecords.Regression());
        Assert.Equal(("pearson", true), metrics[0]);
        Assert.DoesNotContain(metrics, m => m.Name == "loss");
        Assert.Contains(("mse", false), metrics);
        Assert.Equal("5e-5", RunPlots.Scientific(5e-5));
        Assert.Equal("0.01", RunPlots.Scientific(0.01));
    }

    [Theory]
    [InlineData(0.98123, "0.9812")]
    [InlineData(71.25, "71.25")]
    [InlineData(12345.6, "12,345.6")]
    [InlineData(0.00012, "1.2e-4")]
    [InlineData(double.NaN, "n/a")]
    public void Metric_values_are_formatted_for_reading(double value, string expected) =>
        Assert.Equal(expected, RunReportHtml.FormatMetric(value));

    internal static void AssertPng(string path, int minWidth, int minHeight)
    {
        Assert.True(File.Exists(path), path);
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.InRange(bitmap.Width, minWidth, 4000);
        Assert.InRange(bitmap.Height, minHeight, 4000);
    }

    private static void AssertEscaped(string html)
    {
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<pair>", html);
        Assert.Contains("&lt;script&gt;", html);
    }

    private static void AssertSelfContained(string html)
    {
        Assert.DoesNotMatch(new Regex(@"(src|href)\s*=\s*[""']?\s*(https?:|//)", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("@import", html);
        Assert.DoesNotMatch(new Regex(@"url\(\s*['""]?(https?:|//)", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("<link", html);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.EndsWith("</html>\n", html);
    }
}
