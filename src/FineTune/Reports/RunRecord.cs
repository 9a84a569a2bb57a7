using System.Text.Json.Serialization;
using FineTune.Analysis;
using FineTune.Evaluation;

namespace FineTune.Reports;

/// <summary>
/// Everything a run's report shows, written as DIR/run.json: what was trained on what, with which settings, how
/// it went (the log history) and how good it is (metrics per split, per-class reports, confusion matrices, the
/// most confident errors). Plots and report.html are made from it.
/// </summary>
internal sealed record RunRecord
{
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = 1;
    [JsonPropertyName("task")] public required string Task { get; init; }
    /// <summary>The task's title for the report ("Text classification"); the task's name when absent.</summary>
    [JsonPropertyName("task_title")] public string? TaskTitle { get; init; }
    /// <summary>
    /// What orders the top errors: "confidence" (how sure the model was of a wrong prediction) or "error" (how far a
    /// predicted value is from the target). Absent in run.json files written before it existed.
    /// </summary>
    [JsonPropertyName("errors_by")] public string? ErrorsBy { get; init; }
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("model_folder")] public required string ModelFolder { get; init; }
    [JsonPropertyName("output_model")] public required string OutputModel { get; init; }
    [JsonPropertyName("started")] public required DateTimeOffset Started { get; init; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("training_seconds")] public double TrainingSeconds { get; init; }
    [JsonPropertyName("data")] public required RunData Data { get; init; }
    [JsonPropertyName("settings")] public required IReadOnlyDictionary<string, object?> Settings { get; init; }
    [JsonPropertyName("load_report")] public string? LoadReport { get; init; }
    [JsonPropertyName("labels")] public IReadOnlyList<string>? Labels { get; init; }
    [JsonPropertyName("metric_for_best")] public string? MetricForBest { get; init; }
    [JsonPropertyName("best_step")] public long? BestStep { get; init; }
    [JsonPropertyName("global_step")] public long GlobalStep { get; init; }
    [JsonPropertyName("stopped_early")] public bool StoppedEarly { get; init; }
    [JsonPropertyName("log_history")] public IReadOnlyList<IReadOnlyDictionary<string, double>> LogHistory { get; init; } = [];
    [JsonPropertyName("splits")] public IReadOnlyDictionary<string, SplitResult> Splits { get; init; } = new Dictionary<string, SplitResult>();
    /// <summary>The data report of the run's data (absent for tasks whose data it does not read, and in older run.json files).</summary>
    [JsonPropertyName("data_analysis")] public DataAnalysis? DataAnalysis { get; init; }
}

/// <summary>The data a run used: files, columns and per-split counts.</summary>
internal sealed record RunData
{
    [JsonPropertyName("train_file")] public required string TrainFile { get; init; }
    [JsonPropertyName("validation_file")] public string? ValidationFile { get; init; }
    [JsonPropertyName("test_file")] public string? TestFile { get; init; }
    [JsonPropertyName("columns")] public required IReadOnlyDictionary<string, string?> Columns { get; init; }
    [JsonPropertyName("splits")] public required IReadOnlyList<SplitCounts> Splits { get; init; }
    [JsonPropertyName("skipped_rows")] public int SkippedRows { get; init; }
    [JsonPropertyName("skipped_reasons")] public IReadOnlyList<string> SkippedReasons { get; init; } = [];
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    /// <summary>The share of the training tokens that are the tokenizer's unknown token.</summary>
    [JsonPropertyName("unknown_token_rate")] public double? UnknownTokenRate { get; init; }
}

/// <summary>Per split: examples, examples truncated to max length, and the label distribution.</summary>
internal sealed record SplitCounts(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("examples")] int Examples,
    [property: JsonPropertyName("truncated")] int Truncated,
    [property: JsonPropertyName("label_counts")] IReadOnlyDictionary<string, int> LabelCounts);

/// <summary>The results of one evaluated split.</summary>
internal sealed record SplitResult
{
    [JsonPropertyName("metrics")] public required IReadOnlyDictionary<string, double> Metrics { get; init; }
    /// <summary>Rows are actual labels, columns predicted, in label order.</summary>
    [JsonPropertyName("confusion_matrix")] public long[][]? ConfusionMatrix { get; init; }
    [JsonPropertyName("per_class")] public IReadOnlyList<ClassReport>? PerClass { get; init; }
    [JsonPropertyName("top_errors")] public IReadOnlyList<PredictionError>? TopErrors { get; init; }
    /// <summary>Regression: the actual and predicted value of each example (for the predicted-vs-actual plot).</summary>
    [JsonPropertyName("predicted_vs_actual")] public RegressionValues? PredictedVsActual { get; init; }
    /// <summary>Classification: the expected calibration error and the reliability diagram's bins (with and without a fitted temperature).</summary>
    [JsonPropertyName("calibration")] public CalibrationReport? Calibration { get; init; }
    /// <summary>The metrics per slice of the data, when slices were asked for.</summary>
    [JsonPropertyName("slices")] public SliceReport? Slices { get; init; }
}

/// <summary>Actual and predicted values of a regression split, pairwise in example order (at most <see cref="MaxCount"/>).</summary>
internal sealed record RegressionValues(
    [property: JsonPropertyName("actual")] IReadOnlyList<float> Actual,
    [property: JsonPropertyName("predicted")] IReadOnlyList<float> Predicted)
{
    /// <summary>The most pairs a record keeps; larger splits keep an evenly spaced sample.</summary>
    public const int MaxCount = 10_000;
}

/// <summary>A wrong prediction the model was sure of (or, for regression, one far off).</summary>
internal sealed record PredictionError(
    [property: JsonPropertyName("row")] long SourceRow,
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("text_pair")] string? TextPair,
    [property: JsonPropertyName("actual")] string Actual,
    [property: JsonPropertyName("predicted")] string Predicted,
    [property: JsonPropertyName("confidence")] double Confidence);
