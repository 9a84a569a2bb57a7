using System.Diagnostics;
using FineTune.Inference;
using FineTune.Reports;
using SkiaSharp;

namespace FineTune.Tests.Reports;

/// <summary>
/// Renders the pages the library writes (report.html, explanations.html) in headless Chromium and checks the
/// screenshots are pages, not blank ones. Without a browser the tests pass quietly on a workstation, but fail on CI
/// (CI=true), where .ci/run installs Debian's chromium.
/// </summary>
public class BrowserRenderTests
{
    [Fact]
    public void Report_renders_in_headless_chromium()
    {
        using var dir = new TestSupport.TempDir();
        var run = Directory.CreateDirectory(Path.Combine(dir.Path, "run")).FullName;
        Assert.Empty(RunReport.Write(run, ReportRecords.Classification()).Warnings);
        using var bitmap = Chromium.Screenshot(Path.Combine(run, RunReport.ReportName), dir, 1280, 3000);
        if (bitmap is null) return;
        var (inked, blue, _, _) = CountPixels(bitmap);
        double share = (double)inked / (bitmap.Width * bitmap.Height);
        Assert.True(share > 0.01, $"the page looks blank: {share:P1} of its pixels are not white");
        Assert.True(blue > 2000, $"no plots or bars on the page ({blue} blue pixels)");
    }

    [Fact]
    public void Explanations_render_in_headless_chromium_with_words_shaded_by_sign()
    {
        using var dir = new TestSupport.TempDir();
        const string text = "a gorgeous , witty film that drags in its second half";
        var words = text.Split(' ').Select((w, i) => (Word: w, Start: text.IndexOf(w + (i < 10 ? " " : ""), StringComparison.Ordinal))).ToList();
        double[] attributions = [0.01, 0.40, 0, 0.25, 0.05, 0.01, -0.30, 0.02, 0.01, -0.05, -0.10];
        var explanation = new Explanation(1, text, null, "positive",
            [new TargetExplanation("positive", 0.93, 0.41, words.Select((w, i) => new WordAttribution(w.Word, w.Start, w.Start + w.Word.Length, attributions[i])).ToList(), 0.004)],
            false);
        var files = ExplanationFiles.Write(dir.File("explain"), Enumerable.Repeat(explanation, 12).ToList(),
            new ExplanationFiles.Method("a-model", "Text classification", 50, "[PAD]"));
        using var bitmap = Chromium.Screenshot(files[1], dir, 1280, 1600);
        if (bitmap is null) return;
        var (inked, _, green, red) = CountPixels(bitmap);
        Assert.True((double)inked / (bitmap.Width * bitmap.Height) > 0.01, "the page looks blank");
        // "gorgeous" and "witty" in green, "drags" in red, on each of the inputs shown.
        Assert.True(green > 2000, $"no words shaded green ({green} pixels)");
        Assert.True(red > 1000, $"no words shaded red ({red} pixels)");
    }

    /// <summary>Pixels darker than the page background, strongly blue ones (plots, bars), and green and red shading.</summary>
    private static (long Inked, long Blue, long Green, long Red) CountPixels(SKBitmap bitmap)
    {
        long inked = 0, blue = 0, green = 0, red = 0;
        for (int y = 0; y < bitmap.Height; y += 2)
            for (int x = 0; x < bitmap.Width; x += 2)
            {
                var c = bitmap.GetPixel(x, y);
                if (Math.Min(c.Red, Math.Min(c.Green, c.Blue)) < 225) inked += 4;
                if (c.Blue > 120 && c.Blue > c.Red + 60) blue += 4;
                if (c.Green > c.Red + 40 && c.Green > c.Blue + 40) green += 4;
                if (c.Red > c.Green + 40 && c.Red > c.Blue + 40) red += 4;
            }
        return (inked, blue, green, red);
    }
}

/// <summary>Headless Chromium screenshots of local pages.</summary>
internal static class Chromium
{
    private static readonly string[] Candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

    /// <summary>
    /// The page at <paramref name="page"/> rendered at the given size, or null when there is no browser (which fails the
    /// calling test on CI).
    /// </summary>
    public static SKBitmap? Screenshot(string page, TestSupport.TempDir dir, int width, int height)
    {
        var browser = FindBrowser();
        if (browser is null)
        {
            Assert.False(ReferencePython.OnCi, "no Chromium for the browser tests (apt-get install chromium, or set FINETUNE_CHROMIUM)");
            return null;
        }
        var screenshot = dir.File($"screenshot-{Guid.NewGuid():N}.png");
        var profile = Directory.CreateDirectory(dir.File($"profile-{Guid.NewGuid():N}")).FullName;
        var (exitCode, output) = Run(browser, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--hide-scrollbars", $"--user-data-dir={profile}", $"--screenshot={screenshot}",
            $"--window-size={width},{height}", new Uri(page).AbsoluteUri,
        ]);
        Assert.True(File.Exists(screenshot), $"no screenshot (exit code {exitCode}):\n{output}");
        var bitmap = SKBitmap.Decode(screenshot);
        Assert.Equal(width, bitmap.Width);
        Assert.Equal(height, bitmap.Height);
        return bitmap;
    }

    private static string? FindBrowser() =>
        Environment.GetEnvironmentVariable("FINETUNE_CHROMIUM") is { Length: > 0 } configured && File.Exists(configured)
            ? configured
            : OperatingSystem.IsLinux() ? Candidates.FirstOrDefault(File.Exists) : null;

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
