using System.Diagnostics;

namespace FineTune.Tests;

/// <summary>
/// Debian's Python with scikit-learn, numpy and scipy as an independent reference (tools/crosscheck/*.py). Without it
/// a cross-check passes quietly on a workstation, but fails on CI (CI=true), where .ci/run installs python3-sklearn.
/// </summary>
internal static class ReferencePython
{
    private const string Interpreter = "/usr/bin/python3";

    private static readonly Lazy<bool> s_available = new(() =>
        File.Exists(Interpreter) && Run(["-c", "import sklearn, scipy, numpy"], out _) == 0);

    public static bool OnCi => Environment.GetEnvironmentVariable("CI") is { } ci && (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1");

    /// <summary>Whether the reference can run; on CI its absence fails the calling test.</summary>
    public static bool Available()
    {
        if (s_available.Value) return true;
        Assert.False(OnCi, "no Python with scikit-learn for the cross-check (apt-get install python3-sklearn)");
        return false;
    }

    /// <summary>Runs tools/crosscheck/<paramref name="script"/> with <paramref name="arguments"/> and returns its standard output.</summary>
    public static string Script(string script, params string[] arguments)
    {
        int code = Run([Path.Combine(TestSupport.RepoRoot, "tools", "crosscheck", script), .. arguments], out var output);
        Assert.True(code == 0, $"{script} failed ({code}):\n{output}");
        return output;
    }

    private static int Run(IEnumerable<string> arguments, out string output)
    {
        var start = new ProcessStartInfo(Interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            output = "timed out";
            return -1;
        }
        output = stdout.Result + stderr.Result;
        return process.ExitCode;
    }
}
