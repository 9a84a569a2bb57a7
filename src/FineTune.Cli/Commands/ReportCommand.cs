using System.CommandLine;
using FineTune.Evaluation;
using FineTune.Reports;

namespace FineTune.Cli.Commands;

/// <summary>`finetune report RUN_FOLDER`: re-create a run's plots and report.html from its run.json.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var folder = new Argument<string>("run-folder") { Description = "A run folder written by `finetune train --output` (it holds run.json)." };
        var command = new Command("report", "Re-create a run's plots (plots/*.png, *.svg) and report.html from its run.json.") { folder };
        command.SetAction(parse =>
        {
            var result = RunReport.Rewrite(parse.GetValue(folder)!);
            foreach (var warning in result.Warnings) Console.Error.WriteLine("warning: " + warning);
            if (result.ReportPath is null) return 1;
            Console.WriteLine($"Wrote {result.ReportPath}" + (result.PlotFiles.Count > 0
                ? $" and {result.PlotFiles.Count / 2} plots in {Path.GetDirectoryName(result.PlotFiles[0])} (PNG and SVG)"
                : ""));
            return 0;
        });
        return command;
    }
}
