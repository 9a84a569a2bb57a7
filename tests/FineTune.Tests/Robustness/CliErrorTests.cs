using FineTune.Checkpoints;
using FineTune.Cli;
using FineTune.Tests.Cli;
using FineTune.Training;

namespace FineTune.Tests.Robustness;

/// <summary>How the tool turns failures into one line and an exit code.</summary>
[Collection("Console")]
public class CliErrorTests
{
    [Fact]
    public void MessagesAreOneSafeLine()
    {
        Assert.Equal("a ?[31mred? b c", CliRunner.Clean("a \u001b[31mred\u0007\n  b\r\n\tc"));
        var longMessage = CliRunner.Clean(new string('x', 5000));
        Assert.Equal(CliRunner.MaxMessageLength + 4, longMessage.Length);
        Assert.EndsWith(" ...", longMessage);
    }

    [Fact]
    public void EachKindOfFailureHasItsExitCode()
    {
        Assert.Equal(2, CliRunner.Classify(new DataException("bad row", "f.csv", 3)).Code);
        Assert.Equal(2, CliRunner.Classify(new OptionException("TrainingOptions.BatchSize", "must be positive")).Code);
        Assert.Equal(3, CliRunner.Classify(new EnvironmentException("no space")).Code);
        Assert.Equal(3, CliRunner.Classify(new IOException("No space left on device")).Code);
        Assert.Equal(3, CliRunner.Classify(new UnauthorizedAccessException("denied")).Code);
        Assert.Equal(130, CliRunner.Classify(new TrainingInterruptedException(5, "run/checkpoints/checkpoint-000005")).Code);
        Assert.Equal(1, CliRunner.Classify(new InvalidOperationException("a bug")).Code);
        // The library's names of options are shown as the flags (registered as the commands are built).
        CliApp.BuildRoot();
        Assert.Equal("--batch-size: must be positive", CliRunner.Classify(new OptionException("TrainingOptions.BatchSize", "must be positive")).Message);
    }

    [Fact]
    public void AnUnexpectedFailureWritesItsStackTraceToALogAndOneLineToStderr()
    {
        var (oldError, error) = (Console.Error, new StringWriter());
        Console.SetError(error);
        int code;
        try
        {
            code = CliRunner.Report(new InvalidOperationException("Sequence contains no elements"), null);
        }
        finally
        {
            Console.SetError(oldError);
        }
        Assert.Equal(1, code);
        var line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: unexpected failure (InvalidOperationException: Sequence contains no elements); details in ", line);
        var log = line[(line.IndexOf("details in ", StringComparison.Ordinal) + "details in ".Length)..].Trim();
        Assert.Contains("System.InvalidOperationException: Sequence contains no elements", File.ReadAllText(log));
        File.Delete(log);
    }

    [Fact]
    public void ASecondRunIntoAFolderInUseExitsWith3AndChangesNothing()
    {
        using var dir = new TestSupport.TempDir();
        var run = dir.File("run");
        using (RunFolder.Open(run, overwrite: false))
        {
            var (code, _, stderr) = CliTests.Run("train", "--model", TinyModelFolder.Shared, "--data",
                Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv"), "--max-steps", "1", "--output", run);
            Assert.Equal(3, code);
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Matches(@"^error: .*/run is in use by another run \(process \d+ on .*, started .*\); wait for it to finish or choose another folder$", line);
            Assert.Equal([RunFolder.LockFileName, RunFolder.OwnerFileName], Directory.GetFiles(run).Select(Path.GetFileName).Order());
        }
    }
}
