using FineTune.Evaluation;
using FineTune.Reports;

namespace FineTune.Tests.Reports;

/// <summary>Run records as FineTuner writes them, for the report tests: classification, multi-label, regression, bare.</summary>
internal static class ReportRecords
{
    public static readonly string[] Labels = ["negative", "neutral", "positive & <b>great</b>"];

    public const string ScriptText = "<script>alert('x')</script> Tom & Jerry said \"hi\"";

    /// <summary>Three classes, 100 steps logged every 10, evaluations at 34, 67 and 100 (best at 67), validation and test.</summary>
    public static RunRecord Classification(bool withTest = true)
    {
        var history = new List<IReadOnlyDictionary<string, double>>();
        for (int step = 10; step <= 100; step += 10)
        {
            history.Add(new Dictionary<string, double>
            {
                ["step"] = step, ["epoch"] = Math.Round(step / 33.4, 4), ["loss"] = 1.1 * Math.Exp(-step / 40.0) + 0.05,
                ["learning_rate"] = step <= 10 ? 5e-5 * step / 10 : 5e-5 * (100 - step) / 90, ["grad_norm"] = 3.0 - step / 50.0,
                ["examples_per_second"] = 120 + step % 7,
            });
            if (step is 30 or 60 or 100)
            {
                int evalStep = step == 30 ? 34 : step == 60 ? 67 : 100;
                history.Add(new Dictionary<string, double>
                {
                    ["step"] = evalStep, ["epoch"] = evalStep / 33.4,
                    ["eval_accuracy"] = evalStep == 67 ? 0.86 : evalStep == 34 ? 0.71 : 0.84,
                    ["eval_f1_macro"] = evalStep == 67 ? 0.83 : evalStep == 34 ? 0.62 : 0.82,
                    ["eval_mcc"] = evalStep == 67 ? 0.78 : evalStep == 34 ? 0.55 : 0.77,
                    ["eval_loss"] = evalStep == 67 ? 0.41 : evalStep == 34 ? 0.72 : 0.44,
                });
            }
        }
        var splits = new Dictionary<string, SplitResult>
        {
            ["validation"] = ClassificationSplit(0.86, [[40, 5, 2], [6, 30, 4], [1, 3, 59]]),
        };
        if (withTest) splits["test"] = ClassificationSplit(0.84, [[80, 9, 5], [11, 62, 7], [3, 8, 115]]);
        return new RunRecord
        {
            Task = "classification",
            TaskTitle = "Text classification",
            Model = "all-MiniLM-L6-v2",
            ModelFolder = "/home/user/.cache/finetune/models/all-MiniLM-L6-v2",
            OutputModel = "/runs/reviews/model",
            Started = new DateTimeOffset(2026, 3, 14, 9, 26, 53, TimeSpan.Zero),
            ElapsedSeconds = 754.2,
            TrainingSeconds = 701.9,
            Data = new RunData
            {
                TrainFile = "data/reviews.csv",
                TestFile = withTest ? "data/reviews-test.csv" : null,
                Columns = new Dictionary<string, string?> { ["text"] = "review", ["text_pair"] = null, ["label"] = "stars & <sentiment>" },
                Splits =
                [
                    new SplitCounts("train", 1000, 12, new Dictionary<string, int> { [Labels[0]] = 350, [Labels[1]] = 250, [Labels[2]] = 400 }),
                    new SplitCounts("validation", 150, 2, new Dictionary<string, int> { [Labels[0]] = 47, [Labels[1]] = 40, [Labels[2]] = 63 }),
                    .. withTest ? [new SplitCounts("test", 300, 4, new Dictionary<string, int> { [Labels[0]] = 94, [Labels[1]] = 80, [Labels[2]] = 126 })] : Array.Empty<SplitCounts>(),
                ],
                SkippedRows = 2,
                SkippedReasons = ["line 17: the label is empty", "line 942: <unknown> label 'maybe' & more"],
                MaxLength = 128,
            },
            Settings = new Dictionary<string, object?>
            {
                ["epochs"] = 3, ["max_steps"] = 0, ["batch_size"] = 32, ["learning_rate"] = 5e-5, ["weight_decay"] = 0.01,
                ["schedule"] = "linear", ["warmup_ratio"] = 0.1, ["group_by_length"] = true, ["precision"] = "fp32", ["seed"] = 42,
                ["threads"] = null,
            },
            LoadReport = "Loaded 103 tensors from model.safetensors.\nNewly initialised (not in the checkpoint; train before use): classifier.weight, classifier.bias",
            Labels = Labels,
            MetricForBest = "accuracy",
            BestStep = 67,
            GlobalStep = 100,
            LogHistory = history,
            Splits = splits,
        };
    }

    private static SplitResult ClassificationSplit(double accuracy, long[][] matrix) => new()
    {
        Metrics = new Dictionary<string, double>
        {
            ["accuracy"] = accuracy, ["f1_macro"] = accuracy - 0.03, ["precision_macro"] = accuracy - 0.02, ["recall_macro"] = accuracy - 0.04,
            ["mcc"] = accuracy - 0.08, ["loss"] = 0.43,
        },
        ConfusionMatrix = matrix,
        PerClass =
        [
            new ClassReport(Labels[0], 0.85, 0.86, 0.855, matrix[0].Sum()),
            new ClassReport(Labels[1], 0.77, 0.75, 0.76, matrix[1].Sum()),
            new ClassReport(Labels[2], 0.91, 0.94, 0.925, matrix[2].Sum()),
        ],
        TopErrors =
        [
            new PredictionError(12, ScriptText, null, Labels[2], Labels[0], 0.97),
            new PredictionError(345, "Fine, I guess. Not great & not awful.", "a <pair> text", Labels[1], Labels[2], 0.88),
            new PredictionError(7, "Terrible\nservice\tbut tasty", null, Labels[0], Labels[1], 0.61),
        ],
    };

    /// <summary>Regression: pearson picks the best model; test has actual and predicted values for the scatter plot.</summary>
    public static RunRecord Regression()
    {
        var rng = new Random(3);
        var actual = Enumerable.Range(0, 400).Select(_ => (float)(rng.NextDouble() * 5)).ToArray();
        var predicted = actual.Select(a => a + (float)(rng.NextDouble() - 0.5)).ToArray();
        var c = Classification();
        return c with
        {
            Task = "regression",
            TaskTitle = "Regression",
            Labels = null,
            MetricForBest = "pearson",
            Data = c.Data with
            {
                Columns = new Dictionary<string, string?> { ["text"] = "sentence1", ["text_pair"] = "sentence2", ["label"] = "score" },
                Splits = [new SplitCounts("train", 1000, 0, new Dictionary<string, int>()), new SplitCounts("test", 400, 1, new Dictionary<string, int>())],
                SkippedRows = 0,
                SkippedReasons = [],
            },
            LogHistory =
            [
                new Dictionary<string, double> { ["step"] = 50, ["epoch"] = 1, ["loss"] = 2.1, ["learning_rate"] = 2e-5 },
                new Dictionary<string, double> { ["step"] = 50, ["epoch"] = 1, ["eval_pearson"] = 0.81, ["eval_spearman"] = 0.79, ["eval_r2"] = 0.6, ["eval_mse"] = 0.62, ["eval_mae"] = 0.6, ["eval_loss"] = 0.62 },
                new Dictionary<string, double> { ["step"] = 100, ["epoch"] = 2, ["loss"] = 0.7, ["learning_rate"] = 1e-5 },
                new Dictionary<string, double> { ["step"] = 100, ["epoch"] = 2, ["eval_pearson"] = 0.86, ["eval_spearman"] = 0.84, ["eval_r2"] = 0.7, ["eval_mse"] = 0.45, ["eval_mae"] = 0.5, ["eval_loss"] = 0.45 },
            ],
            BestStep = 100,
            Splits = new Dictionary<string, SplitResult>
            {
                ["test"] = new()
                {
                    Metrics = new Dictionary<string, double> { ["pearson"] = 0.85, ["spearman"] = 0.83, ["r2"] = 0.69, ["mse"] = 0.47, ["mae"] = 0.52, ["rmse"] = 0.69, ["loss"] = 0.47 },
                    TopErrors = [new PredictionError(3, "A man & a <dog>", "Two cats", "4.8", "1.2", 3.6)],
                    PredictedVsActual = new RegressionValues(actual, predicted),
                },
            },
        };
    }

    /// <summary>Multi-label: per-label report and errors, no confusion matrix.</summary>
    public static RunRecord MultiLabel()
    {
        var c = Classification();
        return c with
        {
            Task = "multi-label",
            TaskTitle = "Multi-label classification",
            Labels = ["sports", "politics", "tech"],
            MetricForBest = "f1_micro",
            LogHistory = [new Dictionary<string, double> { ["step"] = 20, ["loss"] = 0.4, ["learning_rate"] = 3e-5 },
                          new Dictionary<string, double> { ["step"] = 20, ["eval_f1_micro"] = 0.7, ["eval_hamming_loss"] = 0.12, ["eval_subset_accuracy"] = 0.5, ["eval_loss"] = 0.3 }],
            BestStep = 20,
            Splits = new Dictionary<string, SplitResult>
            {
                ["validation"] = new()
                {
                    Metrics = new Dictionary<string, double> { ["f1_micro"] = 0.7, ["hamming_loss"] = 0.12, ["subset_accuracy"] = 0.5 },
                    PerClass = [new ClassReport("sports", 0.8, 0.7, 0.75, 20), new ClassReport("politics", 0.6, 0.5, 0.55, 10), new ClassReport("tech", 0.9, 0.8, 0.85, 30)],
                    TopErrors = [new PredictionError(9, "Match & <ballot>", null, "sports,politics", "sports", 0.93)],
                },
            },
        };
    }

    /// <summary>What a task the report knows nothing special about might write: no labels, no history, unknown metric names.</summary>
    public static RunRecord Bare() => new()
    {
        Task = "question-answering",
        TaskTitle = "Question answering",
        Model = "/models/my-bert",
        ModelFolder = "/models/my-bert",
        OutputModel = "/runs/qa/model",
        Started = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)),
        Data = new RunData
        {
            TrainFile = "train.jsonl",
            Columns = new Dictionary<string, string?>(),
            Splits = [],
        },
        Settings = new Dictionary<string, object?>(),
        Splits = new Dictionary<string, SplitResult>
        {
            ["validation"] = new() { Metrics = new Dictionary<string, double> { ["exact_match"] = 71.25, ["f1"] = 80.5, ["weird/metric name"] = double.NaN } },
        },
    };
}
