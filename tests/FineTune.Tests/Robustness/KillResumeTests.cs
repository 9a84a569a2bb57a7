using System.Diagnostics;
using System.Text;

namespace FineTune.Tests.Robustness;

/// <summary>
/// The tool killed (SIGKILL right after a checkpoint, SIGINT between steps) and resumed ends byte-identical to a run
/// that was never interrupted, with nothing left over. The fuller version, at random points and during checkpoint
/// writes, rotation and the final save, is tools/robustness/kill-resume.sh.
/// </summary>
public class KillResumeTests
{
    private static string Tool => Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "FineTune.Cli.exe" : "FineTune.Cli");

    private static string[] Args(string output, int maxSteps = 60) =>
    [
        "train", "--model", TinyModelFolder.Shared, "--data", Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv"),
        "--max-train-examples", "96", "--validation-split", "0.1", "--max-length", "32", "--batch-size", "8", "--threads", "1",
        "--max-steps", maxSteps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--eval-strategy", "steps", "--eval-steps", "30", "--save-strategy", "steps", "--save-steps", "3",
        "--save-total-limit", "2", "--seed", "5", "--output", output,
    ];

    private sealed class Child : IDisposable
    {
        private readonly StringBuilder _output = new();

        public Child(IEnumerable<string> args)
        {
            var info = new ProcessStartInfo(Tool) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args) info.ArgumentList.Add(a);
            Process = Process.Start(info)!;
            Process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            Process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Output { get { lock (_output) return _output.ToString(); } }

        public int Wait()
        {
            if (!Process.WaitForExit(TimeSpan.FromMinutes(3))) Process.Kill(entireProcessTree: true);
            Process.WaitForExit();
            return Process.ExitCode;
        }

        public void Dispose() => Process.Dispose();
    }

    private static int Run(params string[] args)
    {
        using var child = new Child(args);
        int code = child.Wait();
        Assert.True(code == 0, child.Output);
        return code;
    }

    /// <summary>
    /// Whether this process ignores SIGINT (a shell starts background jobs so, and children inherit it): the child
    /// tool then cannot see Ctrl+C, and the test sends SIGTERM instead, which the tool handles the same way.
    /// </summary>
    private static bool SigintIgnored()
    {
        if (!File.Exists("/proc/self/status")) return false;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << 1)) != 0;   // bit 1: signal 2
    }

    /// <summary>Sends <paramref name="signal"/> ("-INT": what Ctrl+C sends; "-TERM") with the kill command.</summary>
    private static int Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", [signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        return kill.ExitCode;
    }

    private static void AssertSameAsReference(string reference, string run)
    {
        foreach (var file in new[] { "model/model.safetensors", "metrics.json" })
            Assert.True(File.ReadAllBytes(Path.Combine(reference, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(run, file))), file + " differs");
        var left = Directory.GetFileSystemEntries(run, "*", SearchOption.AllDirectories).Select(Path.GetFileName)
            .Where(n => FineTune.Checkpoints.Leftovers.IsLeftover(n!) || n is ".finetune.lock" or ".finetune.owner");
        Assert.Empty(left);
    }

    [Fact]
    public void KilledAfterACheckpointOrInterruptedTheResumedRunIsByteIdentical()
    {
        using var dir = new TestSupport.TempDir();
        var reference = dir.File("reference");
        Run(Args(reference));

        // SIGKILL as soon as the second checkpoint is in place (long before the last of the 60 steps).
        var killed = dir.File("killed");
        using (var child = new Child(Args(killed)))
        {
            var target = Path.Combine(killed, "checkpoints", "checkpoint-000006");
            while (!Directory.Exists(target) && !child.Process.HasExited) Thread.Sleep(5);
            Assert.False(child.Process.HasExited, "the run ended before it could be killed:\n" + child.Output);
            child.Process.Kill();
            child.Wait();
        }
        Assert.False(File.Exists(Path.Combine(killed, "metrics.json")));
        Run([.. Args(killed), "--resume", killed]);
        AssertSameAsReference(reference, killed);

        // SIGINT (Ctrl+C), then SIGTERM, at the first logged step (the remaining steps take far longer than the signal
        // takes to arrive): a checkpoint is written, exit code 130, then resumed.
        foreach (var signal in new[] { SigintIgnored() ? "-TERM" : "-INT", "-TERM" })
        {
            var interrupted = dir.File("interrupted" + signal);
            using (var child = new Child(Args(interrupted)))
            {
                while (!child.Output.Contains("step ", StringComparison.Ordinal) && !child.Process.HasExited) Thread.Sleep(5);
                Assert.Equal(0, Signal(signal, child.Process.Id));
                Assert.Equal(130, child.Wait());
                Assert.Contains("training interrupted at step", child.Output);
            }
            Run([.. Args(interrupted), "--resume", interrupted]);
            AssertSameAsReference(reference, interrupted);
        }
    }
}
