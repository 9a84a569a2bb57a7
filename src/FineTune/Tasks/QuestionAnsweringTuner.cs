using System.Globalization;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Training;
using TorchSharp;

namespace FineTune.Tasks;

/// <summary>The questions of a QA run by split, with the rows skipped per file and the titles of each split.</summary>
public sealed record QuestionAnsweringData(
    IReadOnlyList<QaExample> Train,
    IReadOnlyList<QaExample> Validation,
    IReadOnlyList<QaExample> Test,
    IReadOnlyList<SkippedRows> Skipped)
{
    /// <summary>
    /// Reads SQuAD JSON or JSONL files (see <see cref="SquadReader"/>). Without a validation or test file, that part is
    /// split off the training file by article title (<see cref="QaSplitter.ByTitle"/>: the last titles in file order),
    /// so no article is in two parts. <paramref name="skipMismatched"/> skips questions whose answer does not match the
    /// context at its answer_start instead of stopping.
    /// </summary>
    public static QuestionAnsweringData Load(DatasetFiles files, double validationFraction = 0, double testFraction = 0,
        bool skipMismatched = false, int? maxTrainExamples = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Validation is not null && validationFraction > 0)
            throw new FineTuneException("a validation file and --validation-split were both given; use one");
        if (files.Test is not null && testFraction > 0)
            throw new FineTuneException("a test file and --test-split were both given; use one");
        var read = new SquadReadOptions { SkipMismatchedAnswers = skipMismatched };
        var skipped = new List<SkippedRows>();
        IReadOnlyList<QaExample> ReadFile(string path)
        {
            var result = SquadReader.Read(path, read);
            skipped.Add(new SkippedRows(path, result.SkippedCount, result.Skipped.Take(5).ToList()));
            return result.Examples;
        }
        var train = ReadFile(files.Train);
        if (train.Count == 0) throw new DataException("the training file has no questions", files.Train);
        var validation = files.Validation is null ? [] : ReadFile(files.Validation);
        var test = files.Test is null ? [] : ReadFile(files.Test);
        if (validationFraction > 0 || testFraction > 0)
        {
            QaSplit split;
            try
            {
                split = QaSplitter.ByTitle(train, testFraction, validationFraction);
            }
            catch (FineTuneException e)
            {
                throw new FineTuneException($"--validation-split / --test-split: {e.Message}", e);
            }
            train = split.Train;
            if (validationFraction > 0) validation = split.Validation;
            if (testFraction > 0) test = split.Test;
        }
        if (maxTrainExamples is { } max && max < train.Count) train = train.Take(max).ToArray();
        return new QuestionAnsweringData(train, validation, test, skipped);
    }

    public static int Titles(IEnumerable<QaExample> examples) => examples.Select(e => e.Title).Distinct(StringComparer.Ordinal).Count();
}

/// <summary>
/// Fine-tunes a pretrained encoder for extractive question answering: reads SQuAD JSON or JSONL, turns every
/// question into windows over its context (--max-length, --doc-stride) labelled with the answer's tokens, trains with
/// validation (SQuAD F1 picks the best model), decodes answers over all windows, and writes the run folder: model/
/// (BertForQuestionAnswering), metrics.json (exact_match and f1, 0–100), predictions-test.csv (id, question,
/// predicted answer, score, gold answers), predictions-test.json (SQuAD's id → answer), log.jsonl, TensorBoard files
/// and run.json.
/// </summary>
public static class QuestionAnsweringTuner
{
    /// <summary>
    /// The simple overload: default hyperparameters; without a test file the last 20 % of the training file's article
    /// titles are the test set; the validation file is optional.
    /// </summary>
    public static FineTuneResult Train(string model, string trainFile, string outputDirectory, string? validationFile = null, string? testFile = null) =>
        Train(new FineTuneRequest
        {
            Model = model,
            Data = new DatasetFiles(trainFile, validationFile, testFile),
            Dataset = new DatasetOptions
            {
                Task = TaskKind.QuestionAnswering,
                Columns = new ColumnMapping { Text = "question", TextPair = "context", Label = "answers" },
                TestFraction = testFile is null ? 0.2 : 0,
            },
            OutputDirectory = outputDirectory,
        });

    public static FineTuneResult Train(FineTuneRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Dataset.Task != TaskKind.QuestionAnswering)
            throw new ArgumentException($"a {request.Dataset.Task} request is not for question answering", nameof(request));
        var qa = request.QuestionAnswering;
        Validate(qa, request.Training);

        var run = FineTuner.Begin(request, qa.MaxLength);
        var (tokenizer, maxLength, info) = (run.Tokenizer, run.MaxLength, run.Info);
        var dataset = request.Dataset;
        var data = QuestionAnsweringData.Load(request.Data, dataset.ValidationFraction, dataset.TestFraction, dataset.SkipInvalidRows, dataset.MaxTrainExamples);
        run = FineTuner.WithoutValidationIfEmpty(run, data.Validation.Count);
        var training = run.Training;

        var splits = new[] { ("train", data.Train), ("validation", data.Validation), ("test", data.Test) };
        var features = new Dictionary<string, List<Feature>>();
        var summaries = new List<SplitSummary>();
        foreach (var (name, examples) in splits)
        {
            if (examples.Count == 0 && name != "train") continue;
            var (built, multiWindow) = QuestionAnsweringFeatures.Build(examples, tokenizer, maxLength, qa.DocStride);
            features[name] = built;
            summaries.Add(new SplitSummary(name, examples.Count, new Dictionary<string, int>(), null));
            info(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {examples.Count} questions on {QuestionAnsweringData.Titles(examples)} titles -> {built.Count} windows of up to {maxLength} tokens; {multiWindow} questions span more than one window (--doc-stride {qa.DocStride})."));
        }
        var summary = new DatasetSummary(TaskKind.QuestionAnswering, null, summaries, data.Skipped);
        info(summary.Describe());

        var (model, loadReport) = ModelFolder.LoadTaskModel(run.ModelFolder, TaskKind.QuestionAnswering, null, request.Load);
        using var _ = model;
        info(loadReport.Describe());
        model.to(run.Device);

        var decoder = new AnswerDecoder(qa.NBest, qa.MaxAnswerLength);
        QuestionAnsweringEvaluator EvaluatorFor(IReadOnlyList<QaExample> examples) =>
            new(examples, decoder, training.EvalBatchSize, tokenizer.PaddingTokenId, run.EvaluationScope);
        var (result, metricForBest) = FineTuner.Fit(run, model, features["train"], features.GetValueOrDefault("validation") ?? [], EvaluatorFor(data.Validation));

        var (splitResults, validationMetrics, testMetrics) = FineTuner.EvaluateSplits(run, splits.Skip(1), features, "questions", (name, examples, set) =>
        {
            var evaluation = EvaluatorFor(examples).Run(model, set, run.Device, keepPredictions: true);
            if (name == "test")
            {
                TokenTaskPredictionFiles.WriteAnswers(Path.Combine(run.Output, "predictions-test.csv"), examples, evaluation.Predictions!);
                TokenTaskPredictionFiles.WriteSquadJson(Path.Combine(run.Output, "predictions-test.json"), examples, evaluation.Predictions!);
            }
            return (evaluation.Metrics, SplitResultOf(evaluation, examples));
        });
        var settings = new Dictionary<string, object?>(FineTuner.Settings(training, request, maxLength))
        {
            ["doc_stride"] = qa.DocStride,
            ["n_best"] = qa.NBest,
            ["max_answer_length"] = qa.MaxAnswerLength,
        };
        var columns = new Dictionary<string, string?> { ["question"] = "question", ["context"] = "context", ["answers"] = "answers" };
        return FineTuner.Finish(run, result, metricForBest, summary, loadReport, columns, settings, null, splitResults, validationMetrics, testMetrics);
    }

    private static void Validate(QuestionAnsweringOptions qa, TrainingOptions training)
    {
        if (qa.DocStride < 0) throw new FineTuneException($"--doc-stride: must not be negative, got {qa.DocStride}");
        if (qa.NBest < 1) throw new FineTuneException($"--n-best: must be at least 1, got {qa.NBest}");
        if (qa.MaxAnswerLength < 1) throw new FineTuneException($"--max-answer-length: must be at least 1 token, got {qa.MaxAnswerLength}");
        if (qa.DocStride >= qa.MaxLength) throw new FineTuneException($"--doc-stride {qa.DocStride}: must be less than --max-length {qa.MaxLength}");
        if (training.ClassWeighting != ClassWeighting.None || training.LabelSmoothing > 0)
            throw new FineTuneException("--class-weights and --label-smoothing: only for classification, not question answering");
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
}
