using System.Diagnostics;
using FineTune.Evaluation;
using FineTune.Reports;
using SkiaSharp;

namespace FineTune.Tests.Reports;

/// <summary>
/// Renders report.html in headless Chromium and checks the screenshot is a page, not a blank one. Without a browser the
/// test passes quietly on a workstation, but fails on CI (CI=true), where .ci/run installs Debian's chromium.
/// </summary>
public class BrowserRenderTests
{
    private static readonly string[] Candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

    [Fact]
    public void Report_renders_in_headless_chromium()
    {
        var browser = FindBrowser();
        if (browser is null)
        {
            Assert.False(OnCi, "no Chromium for the report's browser test (apt-get install chromium, or set FINETUNE_CHROMIUM)");
            return;
        }
        using var dir = new TestSupport.TempDir();
        var run = Directory.CreateDirectory(Path.Combine(dir.Path, "run")).FullName;
        Assert.Empty(RunReport.Write(run, ReportRecords.Classification()).Warnings);
        var screenshot = Path.Combine(dir.Path, "screenshot.png");
        var profile = Directory.CreateDirectory(Path.Combine(dir.Path, "profile")).FullName;

        var (exitCode, output) = Run(browser, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--hide-scrollbars", $"--user-data-dir={profile}", $"--screenshot={screenshot}",
            "--window-size=1280,3000", new Uri(Path.Combine(run, RunReport.ReportName)).AbsoluteUri,
        ]);

        Assert.True(File.Exists(screenshot), $"no screenshot (exit code {exitCode}):\n{output}");
        using var bitmap = SKBitmap.Decode(screenshot);
        Assert.Equal(1280, bitmap.Width);
        Assert.Equal(3000, bitmap.Height);
        var (inked, blue) = CountPixels(bitmap);
        double share = (double)inked / (bitmap.Width * bitmap.Height);
        Assert.True(share > 0.01, $"the page looks blank: {share:P1} of its pixels are not white");
        Assert.True(blue > 2000, $"no plots or bars on the page ({blue} blue pixels)");
    }

    private static bool OnCi => Environment.GetEnvironmentVariable("CI") is { } ci && (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1");

    private static string? FindBrowser() =>
        Environment.GetEnvironmentVariable("FINETUNE_CHROMIUM") is { Length: > 0 } configured && File.Exists(configured)
            ? configured
            : OperatingSystem.IsLinux() ? Candidates.FirstOrDefault(File.Exists) : null;

    /// <summary>Pixels darker than the page background, and strongly blue ones (plot lines, confusion cells, bars).</summary>
    private static (long Inked, long Blue) CountPixels(SKBitmap bitmap)
    {
        long inked = 0, blue = 0;
        for (int y = 0; y < bitmap.Height; y += 2)
            for (int x = 0; x < bitmap.Width; x += 2)
            {
                var c = bitmap.GetPixel(x, y);
                if (Math.Min(c.Red, Math.Min(c.Green, c.Blue)) < 225) inked += 4;
                if (c.Blue > 120 && c.Blue > c.Red + 60) blue += 4;
            }
        return (inked, blue);
    }

    private static (int ExitCode, string Output) Run(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail("Chromium did not finish within 60 s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
