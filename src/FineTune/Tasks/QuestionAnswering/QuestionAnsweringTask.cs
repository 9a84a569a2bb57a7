using System.ComponentModel;
using System.Globalization;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Export;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;

namespace FineTune.Tasks;

/// <summary>Options of extractive question answering.</summary>
public sealed record QuestionAnsweringOptions : TaskOptions
{
    /// <summary>The stride used when none is given in training.</summary>
    public const int DefaultDocStride = 128;

    [Description("Context tokens shared by consecutive windows of a long context (training: 128; evaluate and predict: what the model was trained with).")]
    [UsedByPrediction]
    public int? DocStride { get; init; }

    [Description("Start and end candidates considered per window when decoding the answer.")]
    [UsedByPrediction]
    public int NBest { get; init; } = 20;

    [Description("The longest answer, in tokens.")]
    [UsedByPrediction]
    public int MaxAnswerLength { get; init; } = 30;

    [Description("Predict: the column with the question.")]
    [UsedByPrediction]
    public string QuestionColumn { get; init; } = "question";

    [Description("Predict: the column with the context the answer is taken from.")]
    [UsedByPrediction]
    public string ContextColumn { get; init; } = "context";

    public override void Validate()
    {
        Check(DocStride is null or >= 0, nameof(DocStride), $"must not be negative, got {DocStride}");
        Check(NBest >= 1, nameof(NBest), $"must be at least 1, got {NBest}");
        Check(MaxAnswerLength >= 1, nameof(MaxAnswerLength), $"must be at least 1 token, got {MaxAnswerLength}");
        Check(!string.IsNullOrEmpty(QuestionColumn), nameof(QuestionColumn), "is empty");
        Check(!string.IsNullOrEmpty(ContextColumn), nameof(ContextColumn), "is empty");
    }
}

/// <summary>
/// Extractive question answering: SQuAD JSON or JSONL (question, context, answers); every question becomes windows
/// over its context, trained with the cross-entropy of the answer's start and end token; answers decoded over all
/// windows; SQuAD's exact match and F1; the best model by F1.
/// </summary>
internal sealed class QuestionAnsweringTask() : FineTuneTask(
    "question-answering", "Question answering",
    "SQuAD JSON or JSONL: question, context, answers; cross-entropy of the answer's start and end; exact match, F1", "qa")
{
    public override TaskOptions DefaultOptions { get; } = new QuestionAnsweringOptions();
    public override int DefaultMaxLength => 384;
    public override string DefaultMetricForBest => MetricNames.F1;

    /// <summary>finetune.json's key for the stride the model was trained with.</summary>
    internal const string DocStrideKey = "doc_stride";

    public override bool Recognizes(EncoderConfig config) =>
        config.Architectures?.Any(a => a.EndsWith("ForQuestionAnswering", StringComparison.Ordinal)) == true;

    public override TaskModel CreateModel(EncoderConfig config, KernelOptions kernels) => TaskModels.QuestionAnswering(config, kernels);

    public override HeadGraph ExportHead => HeadGraph.QuestionAnswering;

    public override TaskRun Prepare(RunContext run)
    {
        var options = OptionsFrom<QuestionAnsweringOptions>(run.TaskOptions);
        int stride = options.DocStride ?? QuestionAnsweringOptions.DefaultDocStride;
        if (stride >= run.MaxLength)
            throw new OptionException("QuestionAnsweringOptions.DocStride", $"{stride}: must be less than TrainingOptions.MaxLength {run.MaxLength}");
        var dataset = run.Dataset;
        var data = QuestionAnsweringData.Load(run.Files, dataset.ValidationFraction, dataset.TestFraction, dataset.SkipInvalidRows, dataset.MaxTrainExamples);
        var summaries = new List<SplitSummary>();
        var splits = new TaskSplits<QaExample, WindowFeature>(data.Train, data.Validation, data.Test, (name, examples) =>
        {
            var (built, multiWindow) = QuestionAnsweringFeatures.Build(examples, run.Tokenizer, run.MaxLength, stride);
            summaries.Add(new SplitSummary(name, examples.Count, new Dictionary<string, int>(), null));
            run.Info(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {examples.Count} questions on {QuestionAnsweringData.Titles(examples)} titles -> {built.Count} windows of up to {run.MaxLength} tokens; {multiWindow} questions span more than one window (QuestionAnsweringOptions.DocStride {stride})."));
            return built;
        });
        var summary = new DatasetSummary(Name, null, summaries, data.Skipped) { Unit = "questions" };
        run.Info(summary.Describe());
        return new Run(this, run, options, stride, data, summary, splits);
    }

    private sealed class Run(QuestionAnsweringTask task, RunContext run, QuestionAnsweringOptions options, int stride, QuestionAnsweringData data, DatasetSummary summary,
        TaskSplits<QaExample, WindowFeature> splits) : TaskRun
    {
        private readonly AnswerDecoder _decoder = new(options.NBest, options.MaxAnswerLength);

        public override DatasetSummary Summary => summary;
        public override IReadOnlyList<string>? Labels => null;
        public override string Unit => "questions";

        public override IReadOnlyDictionary<string, string?> Columns =>
            new Dictionary<string, string?> { ["question"] = "question", ["context"] = "context", ["answers"] = "answers" };

        public override IReadOnlyDictionary<string, object?> Settings => new Dictionary<string, object?>
        {
            ["doc_stride"] = stride,
            ["n_best"] = options.NBest,
            ["max_answer_length"] = options.MaxAnswerLength,
        };

        private QuestionAnsweringEvaluator EvaluatorFor(IReadOnlyList<QaExample> examples) =>
            new(examples, _decoder, run.Training.EvalBatchSize, run.Tokenizer.PaddingTokenId, run.EvaluationScope);

        public override ITrainingSet TrainingSet =>
            new FeatureSet<WindowFeature>(splits.Train, (batch, device) => QuestionAnsweringFeatures.Collate(batch, run.Tokenizer.PaddingTokenId, device));

        public override IValidationSet? Validation => splits.Validation.Count > 0 ? EvaluatorFor(data.Validation).AsValidation(splits.Validation) : null;

        public override (TaskModel Model, LoadReport Report) LoadModel() => task.LoadModel(run.ModelFolder, null, run.Load, run.Kernels, run.Config);

        public override IReadOnlyList<(string Name, int Count)> HeldOut => splits.HeldOut;

        public override (IReadOnlyDictionary<string, double> Metrics, SplitResult Result) EvaluateSplit(TaskModel model, string split)
        {
            var (examples, features) = splits[split];
            var evaluation = EvaluatorFor(examples).Run(model, features, run.Device, keepPredictions: true);
            if (split == "test" && run.WritesFiles)
            {
                AnswerPredictionFiles.WriteAnswers(Path.Combine(run.Output, "predictions-test.csv"), examples, evaluation.Predictions!);
                AnswerPredictionFiles.WriteSquadJson(Path.Combine(run.Output, "predictions-test.json"), examples, evaluation.Predictions!);
            }
            return (evaluation.Metrics, SplitResultOf(evaluation, examples));
        }

        public override FineTuneMetadata Metadata(FineTuneMetadata metadata) => metadata.With(DocStrideKey, stride);
    }

    private static SplitResult SplitResultOf(QuestionAnsweringEvaluation evaluation, IReadOnlyList<QaExample> examples)
    {
        var errors = evaluation.Predictions!
            .Where(p => p.ExactMatch < 1)
            .OrderByDescending(p => p.Score)
            .Take(20)
            .Select(p =>
            {
                var e = examples[p.ExampleIndex];
                return new PredictionError(e.SourceLine ?? p.ExampleIndex + 1, e.Question, e.Context, string.Join(" | ", e.Answers.Select(a => a.Text)),
                    p.Answer.Text, p.Score);
            })
            .ToList();
        return new SplitResult { Metrics = evaluation.Metrics, TopErrors = errors };
    }

    private static AnswerPredictorOptions PredictorOptions(SavedModelRequest model, QuestionAnsweringOptions options) => new()
    {
        Device = model.Device, Threads = model.Threads, BatchSize = model.BatchSize, Precision = model.Precision, Load = model.Load,
        MaxLength = model.MaxLength, DocStride = options.DocStride, NBest = options.NBest, MaxAnswerLength = options.MaxAnswerLength,
    };

    public override EvaluationOutcome Evaluate(SavedModelRequest model, EvaluationInput input)
    {
        var options = OptionsFrom<QuestionAnsweringOptions>(model.TaskOptions);
        using var qa = AnswerPredictor.LoadChecked(model.Model, PredictorOptions(model, options));
        var result = qa.Evaluate(input.DataFile, input.Dataset.SkipInvalidRows);
        model.Say($"{result.Examples.Count} questions from {input.DataFile} -> {result.Windows} windows of up to {result.MaxLength} tokens; " +
            $"{result.MultiWindow} questions span more than one window (QuestionAnsweringOptions.DocStride {result.DocStride}).");
        EvaluationInput.SaySkipped(model, result.Skipped, "questions");
        var files = input.WriteResults(result.Metrics, ("predictions.csv", result.WritePredictions), ("predictions.json", result.WriteSquadPredictions));
        return new EvaluationOutcome(result.Metrics, result.Metrics, null, null, files);
    }

    public override PredictionOutcome Predict(SavedModelRequest model, PredictionInput input)
    {
        var options = OptionsFrom<QuestionAnsweringOptions>(model.TaskOptions);
        var rows = ReadQuestions(input, options);
        using var predictor = AnswerPredictor.LoadChecked(model.Model, PredictorOptions(model, options));
        var answers = new List<Answer>(rows.Count);
        // Questions carry their file and row, so that a question too long for a window is reported where it is.
        foreach (var chunk in rows.Chunk(256))
            answers.AddRange(predictor.Predict(chunk.Select(r => r.Example).ToList()));
        AnswerPredictionWriter.Write(input.OutputFile, rows, answers);
        return new PredictionOutcome(rows.Count, Path.GetFullPath(input.OutputFile), $"{rows.Count} answers -> {input.OutputFile}");
    }

    public override ExplanationOutcome Explain(SavedModelRequest model, ExplanationInput input)
    {
        var options = OptionsFrom<QuestionAnsweringOptions>(model.TaskOptions);
        TaskExplanations.Validate(input);
        var rows = TaskExplanations.Take(ReadQuestions(new PredictionInput(input.InputFile, "", input.File, input.Columns), options), input);
        using var predictor = AnswerPredictor.LoadChecked(model.Model, PredictorOptions(model, options));
        return predictor.Explain(model, input, rows.Select(r => (r.Row, r.Example)).ToList());
    }

    /// <summary>Questions to answer: SQuAD JSON, or a CSV, TSV, JSONL or Parquet file with question and context columns (and an optional id).</summary>
    private static List<(long Row, string? Id, QaExample Example)> ReadQuestions(PredictionInput input, QuestionAnsweringOptions options)
    {
        if (!File.Exists(input.InputFile)) throw new DataException("the file does not exist", input.InputFile);
        if (Path.GetExtension(input.InputFile).Equals(".json", StringComparison.OrdinalIgnoreCase))
        {
            var squad = SquadReader.ReadSquadJson(input.InputFile, new SquadReadOptions { SkipMismatchedAnswers = true });
            return squad.Examples.Select((e, i) => ((long)i + 1, (string?)e.Id, e)).ToList();
        }
        var reader = DataFileReader.Open(input.InputFile, input.File);
        foreach (var (column, option) in new[] { (options.QuestionColumn, "QuestionAnsweringOptions.QuestionColumn"), (options.ContextColumn, "QuestionAnsweringOptions.ContextColumn") })
            if (!reader.Columns.Contains(column))
                throw new DataException($"there is no column '{column}' ({option}); the columns are {string.Join(", ", reader.Columns)}", input.InputFile);
        bool hasId = reader.Columns.Contains("id");
        var questions = new List<(long, string?, QaExample)>();
        foreach (var row in reader.ReadRows())
        {
            if (row.Error is not null) throw row.Error;
            var id = hasId ? row["id"].Text : null;
            var example = new QaExample(id ?? row.SourceRow.ToString(CultureInfo.InvariantCulture), "", TextInputs.Cell(row, options.QuestionColumn),
                TextInputs.Cell(row, options.ContextColumn), [], input.InputFile, row.SourceRow);
            questions.Add((row.SourceRow, id, example));
        }
        return questions;
    }
}
