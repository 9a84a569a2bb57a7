using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Tasks;
using FineTune.Text;
using FineTune.Training;

namespace FineTune;

/// <summary>A fine-tuning run: which model, which task, which data, which hyperparameters, where to write.</summary>
public sealed record FineTuneRequest
{
    /// <summary>A catalog name (all-MiniLM-L6-v2, snowflake-arctic-embed-xs) or a local Hugging Face folder.</summary>
    public required string Model { get; init; }

    /// <summary>
    /// The task, by name: classification (the default), multi-label, regression, similarity, token-classification
    /// (ner), question-answering (qa), translation or summarization; <see cref="FineTuner.Tasks"/> lists them.
    /// </summary>
    public string Task { get; init; } = "classification";

    public required DatasetFiles Data { get; init; }

    /// <summary>Columns, label parsing, splits.</summary>
    public DatasetOptions Dataset { get; init; } = new();

    public TrainingOptions Training { get; init; } = new();

    /// <summary>
    /// The task's own options (<see cref="ClassificationOptions"/>, <see cref="MultiLabelOptions"/>,
    /// <see cref="RegressionOptions"/>, <see cref="SimilarityOptions"/>, <see cref="TokenClassificationOptions"/>,
    /// <see cref="QuestionAnsweringOptions"/>, <see cref="Seq2SeqOptions"/>); null: its defaults.
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

    /// <summary>
    /// A checkpoint folder to continue from (optimizer, schedule, RNG and data position restored), or a run folder
    /// (its newest checkpoint). The output folder may then hold that run's files.
    /// </summary>
    public string? ResumeFrom { get; init; }

    /// <summary>
    /// Clear an output folder that already holds files (another run's) before training writes into it. Without it,
    /// such a folder is an error unless the run resumes the run it holds (<see cref="ResumeFrom"/>).
    /// </summary>
    public bool Overwrite { get; init; }

    /// <summary>Progress reporters (the CLI's console reporter); log.jsonl and TensorBoard files are always written.</summary>
    public IReadOnlyList<ITrainerCallback> Callbacks { get; init; } = [];

    /// <summary>Receives one-line messages about the run's set-up (data summary, truncation, load report).</summary>
    public Action<string>? Info { get; init; }

    /// <summary>
    /// Receives warnings: data a model can hardly learn from (many unknown tokens, classes with one example), a
    /// checkpoint that could not be written for lack of space. Null: they go to <see cref="Info"/>, marked "Warning:".
    /// </summary>
    public Action<string>? Warning { get; init; }

    /// <summary>Stops training between two steps, writing a checkpoint to resume from (<see cref="TrainingInterruptedException"/>).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>The kernels the model computes with (the measured defaults; the benchmark compares alternatives).</summary>
    internal KernelOptions Kernels { get; init; } = KernelOptions.Default;

    /// <summary>Checks every value that does not depend on the data or the model, before anything is read or written.</summary>
    internal void Validate(FineTuneTask task)
    {
        if (string.IsNullOrWhiteSpace(Model)) throw new OptionException("FineTuneRequest.Model", "no model was named");
        if (string.IsNullOrWhiteSpace(Data?.Train) && !task.TakesTrainingDataFromOptions(TaskOptions)) throw new OptionException("DatasetFiles.Train", "no training file was given");
        if (string.IsNullOrWhiteSpace(OutputDirectory)) throw new OptionException("FineTuneRequest.OutputDirectory", "no output folder was named");
        if (Threads is < 1 or > 4096) throw new OptionException("FineTuneRequest.Threads", $"must be at least 1, got {Threads}");
        if (Overwrite && ResumeFrom is not null)
            throw new OptionException("FineTuneRequest.Overwrite", "clearing the output folder and resuming a run in it exclude each other; give one");
        Training.Validate();
        Dataset.Validate();
        TaskOptions?.Validate();
    }
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

    /// <summary>Checks the output file's name before anything is predicted.</summary>
    internal void ValidateOutput()
    {
        if (string.IsNullOrWhiteSpace(Output)) throw new OptionException("PredictRequest.Output", "no output file was named");
        if (Directory.Exists(Output)) throw new OptionException("PredictRequest.Output", $"{Output} is a folder; give a .csv or .jsonl file name");
        var extension = Path.GetExtension(Output).ToLowerInvariant();
        if (extension is not (".csv" or ".jsonl"))
            throw new OptionException("PredictRequest.Output", $"{Output}: use a .csv or .jsonl file name");
    }
}

/// <summary>Tokenizing every input of a file with a model folder's tokenizer (the folder needs no weights).</summary>
public sealed record TokenizeRequest
{
    /// <summary>A model folder (only its tokenizer files and config.json are read) or a catalog name.</summary>
    public required string Model { get; init; }

    /// <summary>CSV, TSV, JSONL, Parquet, or .txt with one text per line.</summary>
    public required string Input { get; init; }

    /// <summary>The JSON Lines file to write: one object per input (input_ids, type_ids, tokens, offsets, sequence_ids, word_ids).</summary>
    public required string Output { get; init; }

    /// <summary>The columns of the text (and of the second text of a pair).</summary>
    public ColumnMapping Columns { get; init; } = new() { Text = "text" };

    public DataFileOptions File { get; init; } = new();

    /// <summary>Truncation and special tokens; the default adds special tokens and cuts nothing.</summary>
    public EncodeOptions? Encode { get; init; }
}

/// <summary>What <see cref="FineTuner.Tokenize"/> wrote: how many inputs and tokens, with which tokenizer model, where.</summary>
public sealed record TokenizeResult(int Inputs, long Tokens, string TokenizerModel, string Output);

/// <summary>
/// Explaining a saved model's predictions on a file of inputs: integrated gradients on the word embeddings, summed
/// into words; explanations.jsonl and explanations.html are written to <see cref="OutputDirectory"/>.
/// </summary>
public sealed record ExplainRequest : SavedModelRequest
{
    /// <summary>The inputs, read as <see cref="FineTuner.Predict"/> reads them: CSV, TSV, JSONL, Parquet or .txt (QA: also SQuAD JSON).</summary>
    public required string Input { get; init; }

    /// <summary>The folder to write explanations.jsonl and explanations.html to.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The columns of the text (and of the second text of a pair).</summary>
    public ColumnMapping Columns { get; init; } = new() { Text = "text" };

    public DataFileOptions File { get; init; } = new();

    /// <summary>Points on the path from the baseline to the input (Gauss–Legendre nodes); more is closer to exact.</summary>
    public int Steps { get; init; } = 50;

    /// <summary>
    /// What to explain instead of the prediction: a class or label of a classification model, an entity type of a
    /// token-classification model, "start" or "end" of a question-answering model; null: what the model predicts.
    /// </summary>
    public string? TargetLabel { get; init; }

    /// <summary>Explain only the first this many inputs (null: all).</summary>
    public int? MaxInputs { get; init; }
}

/// <summary>
/// A data report of a dataset (<see cref="FineTuner.Analyze"/>): its files read and split as a run of
/// <see cref="Task"/> would read them, tokenized by <see cref="Model"/>'s tokenizer.
/// </summary>
public sealed record AnalyzeRequest
{
    /// <summary>The files: training, and optionally validation and test (or fractions held out, <see cref="DatasetOptions"/>).</summary>
    public required DatasetFiles Data { get; init; }

    /// <summary>The task whose data this is (as <see cref="FineTuneRequest.Task"/>): it says how the files are read and what the labels are.</summary>
    public string Task { get; init; } = "classification";

    /// <summary>Columns, label parsing, splits.</summary>
    public DatasetOptions Dataset { get; init; } = new();

    /// <summary>The task's own options (the tag column of a CoNLL file, say); null: its defaults.</summary>
    public TaskOptions? TaskOptions { get; init; }

    /// <summary>The model whose tokenizer counts tokens (a catalog name or a folder).</summary>
    public string Model { get; init; } = "all-MiniLM-L6-v2";

    /// <summary>Tokens per model input, to count what would be truncated; null: the task's default, capped by the model.</summary>
    public int? MaxLength { get; init; }

    /// <summary>The Jaccard similarity of character 5-grams from which two texts are near duplicates.</summary>
    public double NearDuplicateThreshold { get; init; } = 0.8;

    /// <summary>A word must be in at least this many training examples to be listed as a possible shortcut.</summary>
    public int MinTokenCount { get; init; } = 20;

    /// <summary>The share of a word's training examples that must carry one label for it to be a possible shortcut.</summary>
    public double ShortcutShare { get; init; } = 0.9;

    /// <summary>A folder for analysis.json and analysis.html (optional).</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Receives one-line messages.</summary>
    public Action<string>? Info { get; init; }
}

/// <summary>What a data report found, in a few lines, and the files written.</summary>
public sealed record DataAnalysisOutcome(string Summary, IReadOnlyList<string> Files);

/// <summary>A task this library fine-tunes: its name and other names, what it is, and its options with their defaults.</summary>
public sealed record TaskInfo(string Name, IReadOnlyList<string> Aliases, string Title, string Description, TaskOptions DefaultOptions, int DefaultMaxLength, string DefaultMetricForBest);
