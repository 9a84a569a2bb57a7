using System.Security.Cryptography;
using System.Text.Json.Nodes;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Tasks;

namespace FineTune.Tests.Robustness;

/// <summary>Runs that would have lost or mixed up work, or trained on data nothing can be learnt from, stop or warn first.</summary>
public class RunSafetyTests
{
    private static string SmsTrain => Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv");

    private static FineTuneRequest Request(string output, string? train = null) => new()
    {
        Model = TinyModelFolder.Shared,
        Data = new DatasetFiles(train ?? SmsTrain),
        Dataset = new DatasetOptions { MaxTrainExamples = 64 },
        Training = new TrainingOptions
        {
            MaxSteps = 4, BatchSize = 16, MaxLength = 32, EvalStrategy = IntervalKind.No,
            SaveStrategy = IntervalKind.Steps, SaveSteps = 2, SaveTotalLimit = 2,
        },
        OutputDirectory = output,
    };

    private static string[] Checkpoints(string run) =>
        Directory.GetDirectories(Path.Combine(run, "checkpoints"), "checkpoint-*").Select(Path.GetFileName).Order().ToArray()!;

    private static Dictionary<string, string> Snapshot(string folder) =>
        Directory.GetFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    [Fact]
    public void ARerunIsRefusedResumeRotatesOnlyItsOwnCheckpointsAndOverwriteStartsANewRun()
    {
        using var dir = new TestSupport.TempDir();
        var run = dir.File("run");
        FineTuner.Train(Request(run));
        Assert.Equal(["checkpoint-000002", "checkpoint-000004"], Checkpoints(run));
        var firstRun = RunFolder.ReadMarker(run);
        Assert.NotNull(firstRun);

        // The same command again: refused, and nothing in the folder changes.
        var before = Snapshot(run);
        var e = Assert.Throws<OptionException>(() => FineTuner.Train(Request(run) with { Training = Request(run).Training with { MaxSteps = 6 } }));
        Assert.Contains("already holds", e.Message);
        Assert.Equal(before, Snapshot(run));

        // A checkpoint of another run lies in the folder, with a higher step.
        var foreign = Path.Combine(run, "checkpoints", "checkpoint-000009");
        Directory.CreateDirectory(foreign);
        foreach (var f in Directory.GetFiles(Path.Combine(run, "checkpoints", "checkpoint-000004")))
            File.Copy(f, Path.Combine(foreign, Path.GetFileName(f)));
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(foreign, "trainer_state.json")))!;
        state["run_id"] = "another-run";
        state["global_step"] = 9;
        File.WriteAllText(Path.Combine(foreign, "trainer_state.json"), state.ToJsonString());

        // Resuming the run from its folder takes its own newest checkpoint (4, not 9) and rotates only its own.
        var resumed = FineTuner.Train(Request(run) with
        {
            ResumeFrom = run,
            Training = Request(run).Training with { MaxSteps = 7, SaveSteps = 1 },
        });
        Assert.Equal(7, resumed.State.GlobalStep);
        Assert.Equal(firstRun, resumed.State.RunId);
        Assert.Equal(["checkpoint-000006", "checkpoint-000007", "checkpoint-000009"], Checkpoints(run));

        // Overwrite clears the folder and starts a run of its own.
        FineTuner.Train(Request(run) with { Overwrite = true });
        Assert.Equal(["checkpoint-000002", "checkpoint-000004"], Checkpoints(run));
        Assert.NotEqual(firstRun, RunFolder.ReadMarker(run));
        Assert.Empty(Directory.GetFileSystemEntries(run, ".trash-*"));
        Assert.False(File.Exists(Path.Combine(run, RunFolder.LockFileName)));
    }

    [Fact]
    public void AResumeThatCannotStartWritesNothing()
    {
        using var dir = new TestSupport.TempDir();
        var e = Assert.Throws<OptionException>(() => FineTuner.Train(Request(dir.File("run")) with { ResumeFrom = dir.File("no-such/checkpoint-000003") }));
        Assert.Equal("FineTuneRequest.ResumeFrom", e.Option);
        Assert.Contains("does not exist", e.Message);
        Assert.False(Directory.Exists(dir.File("run")));

        Directory.CreateDirectory(dir.File("not-a-checkpoint"));
        e = Assert.Throws<OptionException>(() => FineTuner.Train(Request(dir.File("run")) with { ResumeFrom = dir.File("not-a-checkpoint") }));
        Assert.Contains("holds no checkpoint-* folder", e.Message);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void AnUnknownMetricForBestStopsBeforeTrainingAndLeavesNoFolder()
    {
        using var dir = new TestSupport.TempDir();
        var request = Request(dir.File("run")) with
        {
            Dataset = new DatasetOptions { MaxTrainExamples = 64, ValidationFraction = 0.1 },
            Training = Request("").Training with { EvalStrategy = IntervalKind.Steps, EvalSteps = 2, MetricForBest = "nonsense" },
        };
        var e = Assert.Throws<OptionException>(() => FineTuner.Train(request));
        Assert.Equal("TrainingOptions.MetricForBest", e.Option);
        Assert.Contains("accuracy, precision_macro", e.Message);
        Assert.Contains("mcc, precision, recall, f1, ece, loss", e.Message); // two classes: the positive class's scores too
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void MostlyUnknownTokensAreAnErrorUnlessAllowedAndTheRateIsSaid()
    {
        using var dir = new TestSupport.TempDir();
        // The tiny model with a vocabulary of special tokens and single letters: every word is [UNK].
        var model = dir.File("model");
        Directory.CreateDirectory(model);
        foreach (var f in Directory.GetFiles(TinyModelFolder.Shared).Where(f => Path.GetFileName(f) != "tokenizer.json"))
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        var vocab = File.ReadAllLines(Path.Combine(TinyModelFolder.Shared, "vocab.txt"));
        File.WriteAllLines(Path.Combine(model, "vocab.txt"), vocab.Take(1000)); // [PAD], [unused*], [UNK], [CLS], [SEP], [MASK], ...

        var request = Request(dir.File("run")) with { Model = model, Training = Request("").Training with { SaveStrategy = IntervalKind.No } };
        var e = Assert.Throws<DataException>(() => FineTuner.Train(request));
        Assert.Matches(@"\[UNK\] tokens: 9\d(\.\d+)?% of the [\d,]+ training tokens", e.Message);
        Assert.Contains("DatasetOptions.AllowUnknownTokens", e.Message);
        Assert.False(Directory.Exists(dir.File("run")));

        var info = new List<string>();
        var warnings = new List<string>();
        FineTuner.Train(request with { Dataset = request.Dataset with { AllowUnknownTokens = true }, Info = info.Add, Warning = warnings.Add });
        Assert.Contains(warnings, w => w.Contains("the model sees little of this text"));
        var record = JsonNode.Parse(File.ReadAllText(dir.File("run/run.json")))!;
        Assert.InRange(record["data"]!["unknown_token_rate"]!.GetValue<double>(), 0.9, 1.0);

        // The packaged vocabulary covers the SMS messages: the rate is said, without a warning.
        info.Clear();
        warnings.Clear();
        FineTuner.Train(Request(dir.File("run2")) with { Training = Request("").Training with { SaveStrategy = IntervalKind.No }, Info = info.Add, Warning = warnings.Add });
        var said = Assert.Single(info, m => m.StartsWith("[UNK] tokens: ", StringComparison.Ordinal));
        Assert.Matches(@"^\[UNK\] tokens: 0(\.\d+)?% of the [\d,]+ training tokens \(\d+\)\.$", said);
        Assert.DoesNotContain(warnings, w => w.Contains("[UNK]"));
    }

    [Fact]
    public void SimilarityScoresOutsideTheCosinesRangeNameTheScaleToGive()
    {
        using var dir = new TestSupport.TempDir();
        var file = dir.File("sts.tsv");
        File.WriteAllLines(file, ["a\tb\tscore", "a man plays a guitar\ta man plays music\t4.2", "a dog runs\ta cat sleeps\t0.4", "it rains\tthe sun shines\t5"]);
        var request = Request(dir.File("run"), file) with
        {
            Task = "similarity",
            Dataset = new DatasetOptions { Columns = new ColumnMapping { Text = "a", TextPair = "b", Label = "score" } },
        };
        var e = Assert.Throws<DataException>(() => FineTuner.Train(request));
        Assert.Equal($"{file}:4: score 5 divided by the score scale 1 (the default) is 5, outside the cosine's range [-1, 1]: give the largest score of the scale as SimilarityOptions.ScoreScale (e.g. 5 for these scores; 5 for STS-B)", e.Message);
        Assert.False(Directory.Exists(dir.File("run")));
        var result = FineTuner.Train(request with { TaskOptions = new SimilarityOptions { ScoreScale = 5 }, Training = request.Training with { SaveStrategy = IntervalKind.No } });
        Assert.Equal(4, result.State.GlobalStep);
    }

    [Fact]
    public void TheEstimateCountsEveryCheckpointKeptTheBestModelAndTheFinalModel()
    {
        using var model = TestSupport.Create(TinyModelFolder.Config.WithLabels(["ham", "spam"], null), "classification");
        long weights = model.state_dict().Values.Sum(t => t.numel() * 4);
        long parameters = model.parameters().Sum(p => p.numel());
        var options = new TrainingOptions { Epochs = 3, BatchSize = 10, SaveStrategy = IntervalKind.Steps, SaveSteps = 4, SaveTotalLimit = 2 };
        // 100 examples: 10 steps an epoch, 30 steps, 8 saves; at most 2 kept plus the one being written.
        var need = CheckpointSpace.Estimate(model, options, 100, evaluates: true);
        Assert.Equal((weights, parameters * 8, 3, true), (need.Weights, need.OptimizerState, need.KeptCheckpoints, need.BestModel));
        Assert.Equal(3 * (weights + parameters * 8) + 2 * weights, need.Total);
        Assert.Equal(0, CheckpointSpace.Estimate(model, options with { SaveStrategy = IntervalKind.No }, 100, evaluates: true).KeptCheckpoints);
        Assert.Equal(8, CheckpointSpace.Estimate(model, options with { SaveTotalLimit = 0 }, 100, evaluates: false).KeptCheckpoints);
        Assert.Equal(2, CheckpointSpace.Estimate(model, options with { SaveStrategy = IntervalKind.Epoch, Epochs = 2 }, 100, evaluates: false).KeptCheckpoints);
    }
}
