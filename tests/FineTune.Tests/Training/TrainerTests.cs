using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Tasks;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Tests.Training;

[Collection(SeededTestsCollection.Name)]
public class TrainerTests
{
    private static readonly LabelMap Labels = LabelMap.FromOrdered(["a", "b", "c"]);

    /// <summary>Features whose label is decided by the first real token (so a model can learn it).</summary>
    private static List<SequenceFeature> Features(int count, int seed)
    {
        var rng = new Random(seed);
        var list = new List<SequenceFeature>();
        for (int i = 0; i < count; i++)
        {
            int label = rng.Next(3);
            int length = rng.Next(4, 12);
            var ids = new int[length];
            ids[0] = 1;
            ids[1] = 10 + label;
            for (int j = 2; j < length; j++) ids[j] = rng.Next(20, 100);
            list.Add(new SequenceFeature(ids, new int[length], i, new ClassLabel(label)));
        }
        return list;
    }

    private static TaskModel Model(int seed = 5, bool dropout = true)
    {
        random.manual_seed(seed);
        var config = TestSupport.Tiny().WithLabels(Labels.Labels, "single_label_classification");
        if (!dropout) config = config with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 };
        return TestSupport.Create(config, "classification");
    }

    private static ModelInput Collate(IReadOnlyList<SequenceFeature> batch, Device device) => SequenceFeatures.Collate(batch, 0, device, SequenceFeatures.ClassIds);

    private static SequenceEvaluator<SequenceFeature> Evaluator(int batch = 8) => new(new ClassReadout(Labels), Collate, f => f.Length, f => f.Label, batch, null);

    /// <summary>A trainer of a classification model on <paramref name="train"/>, validated on <paramref name="validation"/> (when given).</summary>
    private static Trainer NewTrainer(TaskModel model, TrainingOptions options, List<SequenceFeature> train, List<SequenceFeature>? validation = null,
        IReadOnlyList<ITrainerCallback>? callbacks = null, string? checkpointRoot = null) =>
        new(model, options, new FeatureSet<SequenceFeature>(train, Collate), validation is null ? null : Evaluator().AsValidation(validation),
            options.MetricForBest ?? "accuracy", CPU, callbacks, checkpointRoot);

    [Fact]
    public void OverfitsOneBatch()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        var batch = Features(16, 1);
        var options = new TrainingOptions
        {
            Epochs = 80, BatchSize = 16, LearningRate = 3e-3, Schedule = ScheduleKind.Constant,
            EvalStrategy = IntervalKind.No, SaveStrategy = IntervalKind.No, LoggingSteps = 10,
        };
        var trainer = NewTrainer(model, options, batch);
        var result = trainer.Train();
        var losses = result.State.LogHistory.Select(l => l["loss"]).ToList();
        Assert.True(losses[^1] < 0.1, $"final loss {losses[^1]}; first {losses[0]}");
        Assert.True(losses[0] > 0.5);
        var metrics = Evaluator().Evaluate(model, batch, CPU).Metrics;
        Assert.Equal(1.0, metrics["accuracy"]);
    }

    [Fact]
    public void MetricsOverSeveralBatchesEqualThoseOfOneBatch()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        var set = Features(37, 2);
        var small = Evaluator(batch: 5).Evaluate(model, set, CPU).Metrics;
        var whole = Evaluator(batch: 64).Evaluate(model, set, CPU).Metrics;
        foreach (var (k, v) in whole)
            Assert.Equal(v, small[k], 5);
        Assert.Equal(37, Evaluator(5).Evaluate(model, set, CPU, keepPredictions: true).Predictions!.Count);
    }

    [Fact]
    public void AccumulatedGradientsEqualOneLargeBatch()
    {
        // 4 micro-batches of 4 (accumulated) must update the model as one batch of 16: the loss is normalised by
        // the true count over all micro-batches (different lengths and padding included).
        using var scope = NewDisposeScope();
        var data = Features(16, 3);
        TaskModel Run(int batch, int accumulation)
        {
            var model = Model(9, dropout: false); // both runs must compute the same function
            var options = new TrainingOptions
            {
                Epochs = 1, BatchSize = batch, GradientAccumulationSteps = accumulation, LearningRate = 1e-3, GroupByLength = false,
                EvalStrategy = IntervalKind.No, SaveStrategy = IntervalKind.No, MaxGradNorm = 0,
            };
            NewTrainer(model, options, data).Train();
            return model;
        }
        var big = Run(16, 1);
        var accumulated = Run(4, 4);
        foreach (var (k, v) in big.state_dict())
            Assert.True((v - accumulated.state_dict()[k]).abs().max().item<float>() < 2e-6, k);
    }

    [Fact]
    public void ResumingFromACheckpointGivesTheSameModelAsAnUninterruptedRun()
    {
        using var scope = NewDisposeScope();
        using var dir = new TestSupport.TempDir();
        var train = Features(40, 4);
        var validation = Features(12, 5);
        var options = new TrainingOptions
        {
            Epochs = 2, BatchSize = 8, LearningRate = 1e-3, WarmupSteps = 2, EvalStrategy = IntervalKind.Steps, EvalSteps = 3,
            SaveStrategy = IntervalKind.Steps, SaveSteps = 3, SaveTotalLimit = 0,
        };
        var straight = Model(6);
        var result = NewTrainer(straight, options, train, validation, checkpointRoot: dir.File("a")).Train();
        Assert.Equal(10, result.State.GlobalStep);

        var resumed = Model(77); // different initial weights: everything must come from the checkpoint
        var resumedResult = NewTrainer(resumed, options, train, validation, checkpointRoot: dir.File("b"))
            .Train(resumeFrom: Path.Combine(dir.File("a"), "checkpoint-000006"));
        Assert.Equal(10, resumedResult.State.GlobalStep);
        Assert.Equal(result.State.BestStep, resumedResult.State.BestStep);
        foreach (var (k, v) in straight.state_dict())
            Assert.True(v.equal(resumed.state_dict()[k]).all().item<bool>(), $"{k} differs after resume");
    }

    [Fact]
    public void EarlyStoppingStopsAndKeepsTheBestModel()
    {
        using var scope = NewDisposeScope();
        var train = Features(32, 7);
        // A validation set the model cannot get better on: labels unrelated to the inputs.
        var validation = Features(16, 8).Select((f, i) => f with { Label = new ClassLabel(i % 3) }).ToList();
        var options = new TrainingOptions
        {
            Epochs = 30, BatchSize = 8, LearningRate = 1e-3, EvalStrategy = IntervalKind.Steps, EvalSteps = 2,
            SaveStrategy = IntervalKind.No, EarlyStoppingPatience = 2, MetricForBest = "loss",
        };
        var model = Model(8);
        var result = NewTrainer(model, options, train, validation).Train();
        Assert.True(result.State.StoppedEarly);
        Assert.True(result.State.GlobalStep < 120);
        var final = Evaluator().Evaluate(model, validation, CPU).Metrics["loss"];
        Assert.Equal(result.State.BestMetric!.Value, final, 5);
    }

    [Fact]
    public void CheckpointsAreRotatedAndCompleteFolders()
    {
        using var scope = NewDisposeScope();
        using var dir = new TestSupport.TempDir();
        var options = new TrainingOptions { Epochs = 1, BatchSize = 4, SaveStrategy = IntervalKind.Steps, SaveSteps = 2, SaveTotalLimit = 2, EvalStrategy = IntervalKind.No };
        NewTrainer(Model(), options, Features(24, 9), checkpointRoot: dir.Path).Train();
        var folders = Directory.GetDirectories(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(new[] { "checkpoint-000004", "checkpoint-000006" }, folders);
        foreach (var f in new[] { "config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json", "training_options.json" })
            Assert.True(File.Exists(Path.Combine(dir.Path, "checkpoint-000006", f)), f);
        Assert.Equal(6, TrainerState.Load(Path.Combine(dir.Path, "checkpoint-000006", "trainer_state.json")).GlobalStep);
    }

    [Fact]
    public void CancellationStopsBetweenStepsAndLeavesACheckpointToResumeFrom()
    {
        using var scope = NewDisposeScope();
        using var dir = new TestSupport.TempDir();
        using var cts = new CancellationTokenSource();
        var options = new TrainingOptions { Epochs = 2, BatchSize = 8, EvalStrategy = IntervalKind.No, SaveStrategy = IntervalKind.No };
        var trainer = NewTrainer(Model(), options, Features(40, 10), null, [new CancelAt(3, cts)], checkpointRoot: dir.Path);
        var e = Assert.Throws<TrainingInterruptedException>(() => trainer.Train(cancellation: cts.Token));
        Assert.Equal(3, e.Step);
        Assert.Equal(Path.Combine(dir.Path, "checkpoint-000003"), e.Checkpoint);
        Assert.Contains("FineTuneRequest.ResumeFrom", e.Message);
        var resumed = NewTrainer(Model(), options, Features(40, 10), checkpointRoot: dir.Path).Train(e.Checkpoint);
        Assert.Equal(10, resumed.State.GlobalStep);
    }

    private sealed class CancelAt(long step, CancellationTokenSource cts) : ITrainerCallback
    {
        public void OnStep(TrainerState state, StepInfo info)
        {
            if (info.Step == step) cts.Cancel();
        }
    }
}
