namespace FineTune.Reports;

/// <summary>What RunReport.Write produced.</summary>
/// <param name="ReportPath">report.html, or null when it could not be written (see <paramref name="Warnings"/>).</param>
/// <param name="PlotFiles">The PNG and SVG files written under plots/.</param>
/// <param name="Warnings">Problems that did not stop the report (a plot that could not be drawn, a file that could not be written).</param>
public sealed record RunReportResult(string? ReportPath, IReadOnlyList<string> PlotFiles, IReadOnlyList<string> Warnings);

/// <summary>
/// The run's plots (DIR/plots/*.png and *.svg) and its report (DIR/report.html, one self-contained page), made from
/// its <see cref="RunRecord"/>. Never throws for a plotting or writing problem: such a problem becomes a warning in the
/// result and a note in the page. Files are written under a temporary name, then renamed; equal records give equal files.
/// </summary>
public static class RunReport
{
    public const string ReportName = "report.html";
    public const string PlotsFolder = "plots";

    internal static RunReportResult Write(string runFolder, RunRecord record) => Write(runFolder, record, RunPlots.Render);

    /// <summary>As <see cref="Write(string, RunRecord)"/>, drawing each plot with <paramref name="render"/>.</summary>
    internal static RunReportResult Write(string runFolder, RunRecord record, Func<PlotSpec, RenderedPlot> render)
    {
        ArgumentNullException.ThrowIfNull(runFolder);
        ArgumentNullException.ThrowIfNull(record);
        var warnings = new List<string>();
        var plots = new List<RenderedPlot>();
        var failed = new Dictionary<string, string>(StringComparer.Ordinal);
        var written = new List<string>();
        var onDisk = new HashSet<string>(StringComparer.Ordinal);
        var plotsFolder = Path.Combine(runFolder, PlotsFolder);

        IReadOnlyList<PlotSpec> specs = [];
        try
        {
            specs = RunPlots.For(record);
            if (specs.Count > 0 && PlotFont.Warning is { } fontWarning) warnings.Add(fontWarning);
        }
        catch (Exception e)
        {
            warnings.Add("the plots could not be prepared: " + Describe(e));
        }

        bool folderReady = specs.Count == 0 || TryCreateFolder(plotsFolder, warnings);
        foreach (var spec in specs)
        {
            RenderedPlot plot;
            try
            {
                plot = render(spec);
            }
            catch (Exception e)
            {
                failed[spec.Name] = Describe(e);
                warnings.Add($"the {spec.Title.ToLowerInvariant()} plot could not be drawn: {Describe(e)}");
                continue;
            }
            plots.Add(plot);
            if (!folderReady) continue;
            try
            {
                var png = Path.Combine(plotsFolder, plot.Name + ".png");
                var svg = Path.Combine(plotsFolder, plot.Name + ".svg");
                WriteBytesAtomically(png, plot.Png);
                RunFiles.WriteTextAtomically(svg, plot.Svg);
                written.Add(png);
                written.Add(svg);
                onDisk.Add(plot.Name);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                warnings.Add($"plots/{plot.Name}.png or .svg could not be written: {Describe(e)}");
            }
        }
        if (folderReady) RemoveStalePlots(plotsFolder, plots.Select(p => p.Name).ToHashSet(StringComparer.Ordinal), warnings);

        string? reportPath = Path.Combine(runFolder, ReportName);
        try
        {
            var html = RunReportHtml.Build(record, plots, failed, onDisk, warnings);
            RunFiles.WriteTextAtomically(reportPath, html);
        }
        catch (Exception e)
        {
            warnings.Add($"{ReportName} could not be written: {Describe(e)}");
            reportPath = null;
        }
        return new RunReportResult(reportPath, written, warnings);
    }

    /// <summary>Re-creates the plots and report.html of a run folder from its run.json.</summary>
    public static RunReportResult Rewrite(string runFolder)
    {
        var record = Path.Combine(runFolder, RunFiles.RecordName);
        if (!Directory.Exists(runFolder))
            throw new FineTuneException($"{runFolder}: no such folder");
        if (!File.Exists(record))
            throw new FineTuneException($"{runFolder}: no {RunFiles.RecordName} here (a run folder is what a fine-tuning run writes: FineTuneRequest.OutputDirectory)");
        return Write(runFolder, RunFiles.ReadRecord(runFolder));
    }

    private static bool TryCreateFolder(string folder, List<string> warnings)
    {
        try
        {
            Directory.CreateDirectory(folder);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warnings.Add($"the plots folder could not be created: {Describe(e)}; the plots are only in {ReportName}");
            return false;
        }
    }

    /// <summary>Removes plot files this class wrote before that the record no longer has data for.</summary>
    private static void RemoveStalePlots(string folder, HashSet<string> current, List<string> warnings)
    {
        foreach (var name in RunPlots.Names.Where(n => !current.Contains(n)))
            foreach (var ext in new[] { ".png", ".svg" })
            {
                var path = Path.Combine(folder, name + ext);
                try
                {
                    if (File.Exists(path)) File.Delete(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    warnings.Add($"the old plots/{name}{ext} could not be removed: {Describe(e)}");
                }
            }
    }

    private static void WriteBytesAtomically(string path, byte[] bytes) => Checkpoints.AtomicFile.WriteAllBytes(path, bytes);

    private static string Describe(Exception e) => e is FineTuneException or IOException or UnauthorizedAccessException
        ? e.Message
        : $"{e.GetType().Name}: {e.Message}";
}
