using System.Diagnostics;
using System.Security.Cryptography;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Training;

namespace FineTune.Tests.Robustness;

/// <summary>A small tmpfs mounted for a test (Linux, as root); the test is skipped where it cannot be mounted.</summary>
internal sealed class Tmpfs : IDisposable
{
    private static readonly Lazy<string?> s_unavailable = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux";
        try
        {
            using var probe = new Tmpfs(1);
            return null;
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }
    });

    /// <summary>Why a tmpfs cannot be mounted here, or null.</summary>
    public static string? Unavailable => s_unavailable.Value;

    public Tmpfs(int megabytes)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "finetune-tmpfs-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path);
        var (code, error) = Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", Path);
        if (code != 0)
        {
            Directory.Delete(Path);
            throw new InvalidOperationException($"cannot mount a tmpfs (needs root): {error.Trim()}");
        }
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Writes zeros (real pages, not a sparse file) until <paramref name="leaveFree"/> bytes are free.</summary>
    public void FillLeaving(long leaveFree)
    {
        long toWrite = DiskSpace.FreeBytes(Path)!.Value - leaveFree;
        var chunk = new byte[1 << 16];
        using var stream = new FileStream(File("filler-" + Guid.NewGuid().ToString("N")[..6]), FileMode.CreateNew);
        for (long written = 0; written < toWrite; written += chunk.Length)
            stream.Write(chunk, 0, (int)Math.Min(chunk.Length, toWrite - written));
    }

    public void Dispose()
    {
        Run("umount", "-l", Path);
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }

    private static (int Code, string Error) Run(string file, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, error);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}

/// <summary>A fact that needs a tmpfs of its own (skipped, and so counted, where one cannot be mounted).</summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (Tmpfs.Unavailable is { } reason) Skip = reason;
    }
}

/// <summary>Full disks, on a real tmpfs: refused before training, a warning during it, a clear error at the end.</summary>
public class DiskFullTests
{
    private static FineTuneRequest Request(string output, IReadOnlyList<ITrainerCallback>? callbacks = null, List<string>? warnings = null) => new()
    {
        Model = TinyModelFolder.Shared,
        Data = new DatasetFiles(Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv")),
        Dataset = new DatasetOptions { MaxTrainExamples = 64 },
        Training = new TrainingOptions
        {
            MaxSteps = 6, BatchSize = 16, MaxLength = 32, EvalStrategy = IntervalKind.No,
            SaveStrategy = IntervalKind.Steps, SaveSteps = 2, SaveTotalLimit = 1,
        },
        OutputDirectory = output,
        Callbacks = callbacks ?? [],
        Warning = warnings is null ? null : warnings.Add,
    };

    /// <summary>Fills the disk at one step, as another program might.</summary>
    private sealed class FillAt(Tmpfs disk, long step, long leaveFree) : ITrainerCallback
    {
        public void OnStep(TrainerState state, StepInfo info)
        {
            if (info.Step == step) disk.FillLeaving(leaveFree);
        }
    }

    private static string Hash(string folder) => string.Join(",", Directory.GetFiles(folder).Order()
        .Select(f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))));

    private static string[] Leftovers(string run) => Directory.GetFileSystemEntries(run, "*", SearchOption.AllDirectories)
        .Select(Path.GetFileName).Where(n => FineTune.Checkpoints.Leftovers.IsLeftover(n!)).ToArray()!;

    [TmpfsFact]
    public void ARunTheDiskCannotHoldIsRefusedWithTheNumbers()
    {
        using var disk = new Tmpfs(8);
        var e = Assert.Throws<EnvironmentException>(() => FineTuner.Train(Request(disk.File("run"))));
        Assert.Matches(@"^not enough disk space in .*/run: the run needs about \d+ MB \(2 checkpoints of \d+ MB: weights \d+ MB and optimizer state \d+ MB; the final model \d+ MB\) and [78] MB are free; keep fewer checkpoints \(TrainingOptions.SaveTotalLimit\), save none \(TrainingOptions.SaveStrategy no\), or free space$", e.Message);
        Assert.False(Directory.Exists(disk.File("run")));

        // Without checkpoints the model fits, and the run completes.
        var result = FineTuner.Train(Request(disk.File("run")) with { Training = Request("").Training with { SaveStrategy = IntervalKind.No } });
        Assert.True(File.Exists(Path.Combine(result.ModelDirectory, "model.safetensors")));
    }

    [TmpfsFact]
    public void ACheckpointThatDoesNotFitIsAWarningAndTheRunGoesOn()
    {
        using var disk = new Tmpfs(48);
        var run = disk.File("run");
        long modelFolder = Trash.Size(TinyModelFolder.Shared);
        var warnings = new List<string>();
        string? first = null;
        var result = FineTuner.Train(Request(run, [new FillAt(disk, 3, modelFolder + 3_000_000), new OnSave(f => first ??= Hash(f))], warnings));

        Assert.Equal(6, result.State.GlobalStep);
        Assert.True(File.Exists(Path.Combine(result.ModelDirectory, "model.safetensors")));
        Assert.Contains(warnings, w => w.StartsWith($"no space left on the device for the checkpoint of step 4 in {Path.Combine(run, "checkpoints")}", StringComparison.Ordinal)
                                       && w.EndsWith("the previous checkpoints are intact and training goes on", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("checkpoint of step 6"));
        Assert.Equal(["checkpoint-000002"], Directory.GetDirectories(Path.Combine(run, "checkpoints")).Select(Path.GetFileName));
        Assert.Equal(first, Hash(Path.Combine(run, "checkpoints", "checkpoint-000002")));
        Assert.Empty(Leftovers(run));
    }

    [TmpfsFact]
    public void AFinalSaveThatDoesNotFitSaysWhereTheTrainedWeightsAre()
    {
        using var disk = new Tmpfs(48);
        var run = disk.File("run");
        var e = Assert.Throws<EnvironmentException>(() => FineTuner.Train(Request(run, [new FillAt(disk, 3, 1_000_000)], [])));
        Assert.Equal($"no space left on the device for the final model in {Path.Combine(run, "model")}; the last checkpoint is "
                     + $"{Path.Combine(run, "checkpoints", "checkpoint-000002")} (step 2): resume from it once there is space", e.Message);
        Assert.Empty(Leftovers(run));
        Assert.False(File.Exists(Path.Combine(run, RunFolder.LockFileName)));
    }

    private sealed class OnSave(Action<string> saved) : ITrainerCallback
    {
        void ITrainerCallback.OnSave(TrainerState state, string checkpointFolder) => saved(checkpointFolder);
    }
}
