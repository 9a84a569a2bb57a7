using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace FineTune.Tests.Training;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MpiCollection
{
    public const string Name = "mpirun";
}

/// <summary>
/// Data-parallel training for real: `finetune train --distributed mpi` started by Open MPI's mpirun as 2 ranks on
/// this machine (loopback), on a tiny model, each process on one thread. Fails with a clear message when mpirun is
/// missing (.ci/run installs openmpi-bin).
/// </summary>
[Collection(MpiCollection.Name)]
public class DistributedTests(ITestOutputHelper output)
{
    private static string Cli => Path.Combine(AppContext.BaseDirectory, "FineTune.Cli");

    /// <summary>Runs the tool under mpirun with <paramref name="ranks"/> ranks (0: as a plain process); <paramref name="during"/> runs while it does.</summary>
    internal static (int Code, string Output, TimeSpan Elapsed) Run(int ranks, IEnumerable<string> args, Action<Process>? during = null, int timeoutSeconds = 180)
    {
        var start = new ProcessStartInfo(ranks > 0 ? Mpirun : Cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (ranks > 0)
            foreach (var a in new[] { "-np", ranks.ToString(CultureInfo.InvariantCulture), "--oversubscribe", "--bind-to", "none", Cli }) start.ArgumentList.Add(a);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        during?.Invoke(process);
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun did not finish within {timeoutSeconds} s:\n{output.Result}\n{error.Result}");
        }
        process.WaitForExit();
        return (process.ExitCode, output.Result + error.Result, clock.Elapsed);
    }

    private static string Mpirun =>
        File.Exists("/usr/bin/mpirun") ? "/usr/bin/mpirun"
        : throw new InvalidOperationException("mpirun is missing: the distributed tests need Open MPI (apt-get install openmpi-bin libopenmpi-dev; .ci/run installs it)");

    /// <summary>A copy of the tiny model without dropout: N ranks with B/N examples then compute what one rank computes with B.</summary>
    private static string TinyWithoutDropout(TestSupport.TempDir dir)
    {
        var folder = dir.File("tiny-no-dropout");
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(TinyModelFolder.Shared)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        var configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["hidden_dropout_prob"] = 0.0;
        config["attention_probs_dropout_prob"] = 0.0;
        File.WriteAllText(configPath, config.ToJsonString());
        return folder;
    }

    /// <summary>The first <paramref name="rows"/> rows of an SMS file (with its header).</summary>
    private static string Rows(TestSupport.TempDir dir, string name, string source, int rows)
    {
        var path = dir.File(name);
        File.WriteAllLines(path, File.ReadLines(Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", source)).Take(rows + 1));
        return path;
    }

    private static string[] TrainArgs(string model, string train, string validation, string output, int steps, params string[] more) =>
    [
        "train", "--model", model, "--data", train, "--validation", validation, "--output", output, "--batch-size", "16", "--max-steps",
        steps.ToString(CultureInfo.InvariantCulture), "--logging-steps", "1", "--max-length", "32", "--learning-rate", "1e-3", "--precision", "fp32",
        "--threads", "1", "--eval-strategy", "no", .. more,
    ];

    private static List<double> Losses(string run) => File.ReadLines(Path.Combine(run, "log.jsonl"))
        .Select(l => JsonNode.Parse(l)!).Where(n => (string?)n["type"] == "train").Select(n => (double)n["loss"]!).ToList();

    [Fact]
    public void TwoRanksWithHalfBatchesMatchOneRankAndRepeatBitForBit()
    {
        using var dir = new TestSupport.TempDir();
        var model = TinyWithoutDropout(dir);
        var (train, validation) = (Rows(dir, "train.csv", "train.csv", 400), Rows(dir, "validation.csv", "test.csv", 150));
        string one = dir.File("one"), twoA = dir.File("two-a"), twoB = dir.File("two-b");

        var single = Run(0, TrainArgs(model, train, validation, one, 50));
        Assert.True(single.Code == 0, single.Output);
        var first = Run(2, TrainArgs(model, train, validation, twoA, 50, "--distributed", "mpi"));
        Assert.True(first.Code == 0, first.Output);
        var second = Run(2, TrainArgs(model, train, validation, twoB, 50, "--distributed", "mpi"));
        Assert.True(second.Code == 0, second.Output);

        // 2 ranks × 8 examples against 1 × 16: the same loss curve up to the order of the sums (fp32).
        var (lossesOne, lossesTwo) = (Losses(one), Losses(twoA));
        Assert.Equal(50, lossesOne.Count);
        Assert.Equal(50, lossesTwo.Count);
        Assert.True(lossesOne[^1] < lossesOne[0] * 0.9, $"the loss should fall: {lossesOne[0]} -> {lossesOne[^1]}");
        for (int i = 0; i < 50; i++)
            Assert.True(Math.Abs(lossesOne[i] - lossesTwo[i]) <= 1e-5 * Math.Abs(lossesOne[i]), $"step {i + 1}: 1 rank {lossesOne[i]:R}, 2 ranks {lossesTwo[i]:R}");
        output.WriteLine($"loss over 50 steps {lossesOne[0]:0.0000} -> {lossesOne[^1]:0.0000}; largest relative difference 1 rank vs 2 ranks: " +
            $"{Enumerable.Range(0, 50).Max(i => Math.Abs(lossesOne[i] - lossesTwo[i]) / Math.Abs(lossesOne[i])):E2}");

        // The same 2 ranks twice: bit for bit.
        Assert.Equal(lossesTwo, Losses(twoB));
        Assert.Equal(File.ReadAllBytes(Path.Combine(twoA, "model", "model.safetensors")), File.ReadAllBytes(Path.Combine(twoB, "model", "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(twoA, "metrics.json")), File.ReadAllText(Path.Combine(twoB, "metrics.json")));

        // Only rank 0 wrote, and printed.
        Assert.Single(first.Output.Split('\n'), l => l.StartsWith("Model:", StringComparison.Ordinal));
        Assert.Equal(2, JsonNode.Parse(File.ReadAllText(Path.Combine(twoA, "run.json")))!["settings"]!["ranks"]!.GetValue<int>());

        // The validation metrics the 2 ranks computed together (each half the batches, outputs exchanged) are those
        // of one process evaluating the saved model alone, to the last bit.
        var evaluated = Run(0, ["evaluate", "--model", Path.Combine(twoA, "model"), "--data", validation, "--threads", "1", "--output", dir.File("eval")]);
        Assert.True(evaluated.Code == 0, evaluated.Output);
        var together = JsonNode.Parse(File.ReadAllText(Path.Combine(twoA, "metrics.json")))!["validation"]!.AsObject();
        var alone = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("eval"), "metrics.json")))!["test"]!.AsObject();
        Assert.Equal(alone.Select(kv => kv.Key).Order(), together.Select(kv => kv.Key).Order());
        foreach (var (key, value) in alone)
            Assert.True(value!.GetValue<double>() == together[key]!.GetValue<double>(), $"{key}: alone {value}, together {together[key]}");
    }

    [Fact]
    public void AKilledRankStopsTheRunInBoundedTimeAndTheLastCheckpointResumesOnOneRank()
    {
        using var dir = new TestSupport.TempDir();
        var (train, validation) = (Rows(dir, "train.csv", "train.csv", 400), Rows(dir, "validation.csv", "test.csv", 50));
        var run = dir.File("run");
        var checkpoints = Path.Combine(run, "checkpoints");
        var killedAfter = TimeSpan.Zero;
        // Once a checkpoint exists, kill rank 1 outright (SIGKILL: no handler runs).
        var result = Run(2, TrainArgs(TinyModelFolder.Shared, train, validation, run, 100_000, "--distributed", "mpi", "--save-strategy", "steps",
            "--save-steps", "5", "--save-total-limit", "2"),
            SignalRank1When(() => Directory.Exists(checkpoints) && Directory.GetDirectories(checkpoints, "checkpoint-*").Length > 0, "-KILL", t => killedAfter = t));
        Assert.Contains("rank 1", result.Output);
        Assert.Contains("signal 9", result.Output);
        AssertEndedSoonAfter(result, killedAfter, "the kill");

        // The last complete checkpoint resumes, here on one rank (another number of ranks than it was written with).
        var last = Directory.GetDirectories(checkpoints, "checkpoint-*").Order(StringComparer.Ordinal).Last();
        long step = long.Parse(Path.GetFileName(last)["checkpoint-".Length..], CultureInfo.InvariantCulture);
        var resumed = Run(0, TrainArgs(TinyModelFolder.Shared, train, validation, run, (int)step + 3, "--resume", last, "--save-strategy", "no"));
        Assert.True(resumed.Code == 0, resumed.Output);
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "run.json")))!;
        Assert.Equal(step + 3, state["global_step"]!.GetValue<long>());
    }

    [Fact]
    public void AHungRankMakesTheOthersStopAfterTheTimeoutWithAClearError()
    {
        using var dir = new TestSupport.TempDir();
        var (train, validation) = (Rows(dir, "train.csv", "train.csv", 200), Rows(dir, "validation.csv", "test.csv", 50));
        var run = dir.File("run");
        var stoppedAfter = TimeSpan.Zero;
        var log = Path.Combine(run, "log.jsonl");
        // Once training runs, freeze rank 1 (SIGSTOP: alive, but it answers nothing).
        var result = Run(2, TrainArgs(TinyModelFolder.Shared, train, validation, run, 100_000, "--distributed", "mpi", "--distributed-timeout", "5",
            "--save-strategy", "no"), SignalRank1When(() => File.Exists(log) && new FileInfo(log).Length > 0, "-STOP", t => stoppedAfter = t));
        Assert.Contains("error: rank 0 of 2: no answer from the other ranks within 5 s in the", result.Output);
        Assert.Contains("--distributed-timeout", result.Output);
        AssertEndedSoonAfter(result, stoppedAfter, "the stop");
    }

    /// <summary>Waits (90 s at most) until <paramref name="ready"/>, then sends <paramref name="signal"/> to rank 1 and says when, from the start.</summary>
    private static Action<Process> SignalRank1When(Func<bool> ready, string signal, Action<TimeSpan> sent) => mpirun =>
    {
        var clock = Stopwatch.StartNew();
        while (!ready() && clock.Elapsed < TimeSpan.FromSeconds(90))
            Thread.Sleep(100);
        Process.Start("kill", [signal, RankProcess(mpirun.Id, 1).ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
        sent(clock.Elapsed);
    };

    /// <summary>The job failed, and ended within a minute of <paramref name="signalled"/>.</summary>
    private void AssertEndedSoonAfter((int Code, string Output, TimeSpan Elapsed) result, TimeSpan signalled, string what)
    {
        Assert.NotEqual(0, result.Code);
        var after = result.Elapsed - signalled;
        Assert.True(after < TimeSpan.FromSeconds(60), $"the job ended {after.TotalSeconds:0} s after {what}");
        output.WriteLine($"the job ended {after.TotalSeconds:0.0} s after {what}");
    }

    /// <summary>The process id of rank <paramref name="rank"/> among the descendants of mpirun (by its OMPI_COMM_WORLD_RANK).</summary>
    private static int RankProcess(int mpirun, int rank)
    {
        var wanted = $"OMPI_COMM_WORLD_RANK={rank}\0";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            foreach (var pid in Descendants(mpirun))
            {
                try
                {
                    if (File.ReadAllText($"/proc/{pid}/environ").Contains(wanted, StringComparison.Ordinal)) return pid;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"rank {rank} of mpirun {mpirun} not found");
    }

    private static IEnumerable<int> Descendants(int pid)
    {
        var children = new List<int>();
        foreach (var task in Directory.Exists($"/proc/{pid}/task") ? Directory.GetDirectories($"/proc/{pid}/task") : [])
        {
            try
            {
                children.AddRange(File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
            }
            catch (IOException) { }
        }
        foreach (var child in children)
        {
            yield return child;
            foreach (var d in Descendants(child)) yield return d;
        }
    }
}
