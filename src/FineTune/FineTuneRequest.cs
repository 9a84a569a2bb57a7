using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Tasks;
using FineTune.Training;

namespace FineTune;

/// <summary>A fine-tuning run: which model, which task, which data, which hyperparameters, where to write.</summary>
public sealed record FineTuneRequest
{
    /// <summary>A catalog name (all-MiniLM-L6-v2, snowflake-arctic-embed-xs) or a local Hugging Face folder.</summary>
    public required string Model { get; init; }

    /// <summary>
    /// The task, by name: classification (the default), multi-label, regression, similarity, token-classification
    /// (ner) or question-answering (qa); <see cref="FineTuner.Tasks"/> lists them.
    /// </summary>
    public string Task { get; init; } = "classification";

    public required DatasetFiles Data { get; init; }

    /// <summary>Columns, label parsing, splits.</summary>
    public DatasetOptions Dataset { get; init; } = new();

    public TrainingOptions Training { get; init; } = new();

    /// <summary>
    /// The task's own options (<see cref="ClassificationOptions"/>, <see cref="MultiLabelOptions"/>,
    /// <see cref="RegressionOptions"/>, <see cref="SimilarityOptions"/>, <see cref="TokenClassificationOptions"/>,
    /// <see cref="QuestionAnsweringOptions"/>); null: its defaults.
    /// </summary>
    public TaskOptions? TaskOptions { get; init; }

    /// <summary>The run folder: model/, metrics.json, predictions-test.csv, log.jsonl, plots/, report.html, checkpoints/.</summary>
    public required string OutputDirectory { get; init; }

    public string Device { get; init; } = "cpu";

    /// <summary>
    /// Data-parallel training over several processes (<see cref="DistributedBackend.Mpi"/>: the ranks started by
    /// <c>mpirun -np N</c>, each calling Train with the same request); by default this process trains alone.
    /// </summary>
    public DistributedOptions Distributed { get; init; } = new();

    public int? Threads { get; init; }
    public ModelLoadOptions Load { get; init; } = new();

    /// <summary>A checkpoint folder to continue from (optimizer, schedule, RNG and data position restored).</summary>
    public string? ResumeFrom { get; init; }

    /// <summary>Progress reporters (the CLI's console reporter); log.jsonl and TensorBoard files are always written.</summary>
    public IReadOnlyList<ITrainerCallback> Callbacks { get; init; } = [];

    /// <summary>Receives one-line messages about the run's set-up (data summary, truncation, load report).</summary>
    public Action<string>? Info { get; init; }

    /// <summary>Stops training between two steps, writing a checkpoint to resume from (<see cref="TrainingInterruptedException"/>).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>The kernels the model computes with (the measured defaults; the benchmark compares alternatives).</summary>
    internal KernelOptions Kernels { get; init; } = KernelOptions.Default;
}

/// <summary>What a run produced.</summary>
public sealed record FineTuneResult(
    string OutputDirectory,
    string ModelDirectory,
    IReadOnlyDictionary<string, double>? Validation,
    IReadOnlyDictionary<string, double>? Test,
    DatasetSummary Summary,
    LoadReport LoadReport,
    TrainerState State,
    TimeSpan Elapsed)
{
    /// <summary>This process's rank in a data-parallel run: 0 wrote the run folder; the others (which wrote nothing) return the same metrics.</summary>
    public int Rank { get; init; }
}

/// <summary>Evaluating a saved model on a labelled file.</summary>
public sealed record EvaluateRequest : SavedModelRequest
{
    /// <summary>A labelled file like the training data (NER: CoNLL or JSONL; QA: SQuAD JSON or JSONL with answers).</summary>
    public required string Data { get; init; }

    /// <summary>How the file is read: its columns, format, label separator, whether to skip invalid rows.</summary>
    public DatasetOptions Dataset { get; init; } = new();

    /// <summary>A folder for metrics.json and the predictions (optional).</summary>
    public string? OutputDirectory { get; init; }
}

/// <summary>Predicting every input of a file with a saved model.</summary>
public sealed record PredictRequest : SavedModelRequest
{
    /// <summary>CSV, TSV, JSONL, Parquet, or .txt with one text per line (QA: also SQuAD JSON).</summary>
    public required string Input { get; init; }

    /// <summary>The file to write: .csv or .jsonl.</summary>
    public required string Output { get; init; }

    /// <summary>The columns of the text (and of the second text of a pair).</summary>
    public ColumnMapping Columns { get; init; } = new() { Text = "text" };

    public DataFileOptions File { get; init; } = new();
}

/// <summary>A task this library fine-tunes: its name and other names, what it is, and its options with their defaults.</summary>
public sealed record TaskInfo(string Name, IReadOnlyList<string> Aliases, string Title, string Description, TaskOptions DefaultOptions, int DefaultMaxLength, string DefaultMetricForBest);
