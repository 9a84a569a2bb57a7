using System.Reflection;
using FineTune.Evaluation;
using FineTune.Reports;

namespace FineTune.Tests.Reports;

/// <summary>`finetune report RUN_FOLDER`, run through the CLI's entry point.</summary>
public class ReportCommandTests
{
    private static int Finetune(params string[] args)
    {
        var entry = Assembly.Load("FineTune.Cli").EntryPoint!;
        return (int)entry.Invoke(null, [args])!;
    }

    [Fact]
    public void Report_re_creates_the_plots_and_the_page_from_run_json()
    {
        using var dir = new TestSupport.TempDir();
        RunFiles.WriteRecord(dir.Path, ReportRecords.Regression());

        Assert.Equal(0, Finetune("report", dir.Path));

        Assert.True(File.Exists(dir.File("report.html")));
        RunReportTests.AssertPng(Path.Combine(dir.Path, "plots", "predicted_vs_actual.png"), 400, 400);
    }

    [Fact]
    public void Report_of_a_folder_without_run_json_is_a_user_error()
    {
        using var dir = new TestSupport.TempDir();
        Assert.Equal(2, Finetune("report", dir.Path));
        Assert.False(File.Exists(dir.File("report.html")));
    }
}
