using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Tasks;
using FineTune.Text;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune;

/// <summary>A fine-tuning run: which model, which data, which hyperparameters, where to write.</summary>
public sealed record FineTuneRequest
{
    /// <summary>A catalog name (all-MiniLM-L6-v2, snowflake-arctic-embed-xs) or a local Hugging Face folder.</summary>
    public required string Model { get; init; }
    public required DatasetFiles Data { get; init; }
    /// <summary>Columns, label parsing, splits; its Task decides the head and the loss.</summary>
    public required DatasetOptions Dataset { get; init; }
    public TrainingOptions Training { get; init; } = new();
    /// <summary>The run folder: model/, metrics.json, predictions-test.csv, log.jsonl, plots/, report.html, checkpoints/.</summary>
    public required string OutputDirectory { get; init; }
    public string Device { get; init; } = "cpu";
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

    /// <summary>Token classification (NER): how tags are read and aligned to sub-words.</summary>
    public TokenClassificationOptions TokenClassification { get; init; } = new();

    /// <summary>Extractive question answering: windows over long contexts and answer decoding.</summary>
    public QuestionAnsweringOptions QuestionAnswering { get; init; } = new();

    /// <summary>Sentence similarity as a bi-encoder.</summary>
    public SimilarityOptions Similarity { get; init; } = new();
}

/// <summary>Options of the similarity (bi-encoder) task.</summary>
public sealed record SimilarityOptions
{
    /// <summary>The scores are divided by this to compare with the cosine (5 for STS-B's 0–5 scale).</summary>
    public double ScoreScale { get; init; } = 1.0;
}

/// <summary>Options of token classification (NER).</summary>
public sealed record TokenClassificationOptions
{
    /// <summary>CoNLL files: the column of the tag (null: the last); the word is in column 0.</summary>
    public int? TagColumn { get; init; }
    /// <summary>The tag scheme of the files (iob1, iob2, bioes); null detects it.</summary>
    public string? Scheme { get; init; }
    /// <summary>Label every sub-token of a word (default: only the first; the rest are ignored by the loss).</summary>
    public bool LabelAllTokens { get; init; }
}

/// <summary>Options of extractive question answering.</summary>
public sealed record QuestionAnsweringOptions
{
    /// <summary>Tokens per window (question, context and special tokens); QA uses this instead of the training options' max length.</summary>
    public int MaxLength { get; init; } = 384;
    /// <summary>Tokens shared by consecutive windows of a long context.</summary>
    public int DocStride { get; init; } = 128;
    /// <summary>Start and end candidates considered per window when decoding.</summary>
    public int NBest { get; init; } = 20;
    /// <summary>The longest answer, in tokens.</summary>
    public int MaxAnswerLength { get; init; } = 30;
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
    TimeSpan Elapsed);

/// <summary>
/// Fine-tunes a pretrained encoder on labelled text: reads and splits the data, tokenizes it, loads the model with
/// a new head, trains with validation, restores the best model, evaluates it on validation and test, and writes the
/// run folder (the model in Hugging Face's layout, metrics, predictions, logs, plots and a report).
/// </summary>
public static partial class FineTuner
{
    /// <summary>
    /// The simple overload: single-label classification of <paramref name="textColumn"/> by <paramref name="labelColumn"/>,
    /// 10% of the training file held out for validation, default hyperparameters.
    /// </summary>
    public static FineTuneResult Train(string model, string trainFile, string outputDirectory,
        string textColumn = "text", string labelColumn = "label", string? testFile = null) =>
        Train(new FineTuneRequest
        {
            Model = model,
            Data = new DatasetFiles(trainFile, null, testFile),
            Dataset = new DatasetOptions
            {
                Task = TaskKind.SingleLabelClassification,
                Columns = new ColumnMapping { Text = textColumn, Label = labelColumn },
                ValidationFraction = 0.1,
            },
            OutputDirectory = outputDirectory,
        });

    public static FineTuneResult Train(FineTuneRequest request)
    {
        var task = request.Dataset.Task;
        switch (task)
        {
            case TaskKind.TokenClassification: return TokenClassificationTuner.Train(request);
            case TaskKind.QuestionAnswering: return QuestionAnsweringTuner.Train(request);
        }
        bool similarity = task == TaskKind.Similarity;
        if (similarity && request.Dataset.Columns.TextPair is null)
            throw new FineTuneException("--task similarity needs two texts per row: give --text-pair-column");
        if (!(request.Similarity.ScoreScale > 0))
            throw new FineTuneException($"--score-scale: must be positive, got {request.Similarity.ScoreScale}");
        var run = Begin(request, request.Training.MaxLength);
        var (device, modelFolder, tokenizer, maxLength, info) = (run.Device, run.ModelFolder, run.Tokenizer, run.MaxLength, run.Info);

        // Similarity scores are read like regression targets, then divided by the score scale.
        var dataset = DatasetLoader.Load(request.Data, similarity ? request.Dataset with { Task = TaskKind.Regression } : request.Dataset);
        run = WithoutValidationIfEmpty(run, dataset.Validation.Count);
        var training = run.Training;
        (List<Feature>, int) Encode(IReadOnlyList<TextExample> examples) => similarity
            ? FeatureBuilder.ForSeparatePairs(examples, tokenizer, maxLength, request.Similarity.ScoreScale)
            : FeatureBuilder.ForSequences(examples, tokenizer, maxLength);
        var (trainFeatures, trainTruncated) = Encode(dataset.Train);
        var (validationFeatures, validationTruncated) = Encode(dataset.Validation);
        var (testFeatures, testTruncated) = Encode(dataset.Test);
        var summary = dataset.Summary;
        foreach (var (split, count) in new[] { ("train", trainTruncated), ("validation", validationTruncated), ("test", testTruncated) })
            if (summary[split] is not null) summary = summary.WithTruncated(split, count);
        info(summary.Describe());
        foreach (var (name, count, total) in new[] { ("train", trainTruncated, dataset.Train.Count), ("validation", validationTruncated, dataset.Validation.Count), ("test", testTruncated, dataset.Test.Count) })
            if (count > 0)
                info($"{count} of {total} {name} examples are longer than {maxLength} tokens and were truncated (--max-length).");

        var labels = similarity ? null : dataset.Labels;
        var (model, loadReport) = ModelFolder.LoadTaskModel(modelFolder, task, labels?.Labels, request.Load);
        using var _ = model;
        info(loadReport.Describe());
        if (!similarity)
            info(PoolingNote(model.Config, loadReport.PoolingReason));
        model.Loss = LossFor(training, dataset, labels);
        model.to(device);

        var evaluator = new SequenceEvaluator(task, labels, training.EvalBatchSize, tokenizer.PaddingTokenId, training.Threshold, run.EvaluationScope);
        if (similarity && validationFeatures.Count > 0 && request.ResumeFrom is null)
        {
            var zeroShot = evaluator.Evaluate(model, validationFeatures, device).Metrics;
            info(string.Create(CultureInfo.InvariantCulture,
                $"Before fine-tuning (zero-shot cosine): pearson {zeroShot[MetricNames.Pearson]:0.0000}, spearman {zeroShot[MetricNames.Spearman]:0.0000} on validation."));
        }
        var (result, metricForBest) = Fit(run, model, trainFeatures, validationFeatures, evaluator);

        var heldOutFeatures = new Dictionary<string, List<Feature>>();
        if (validationFeatures.Count > 0) heldOutFeatures["validation"] = validationFeatures;
        if (testFeatures.Count > 0) heldOutFeatures["test"] = testFeatures;
        var heldOut = new (string, IReadOnlyList<TextExample>)[] { ("validation", dataset.Validation), ("test", dataset.Test) };
        var (splits, validationMetrics, testMetrics) = EvaluateSplits(run, heldOut, heldOutFeatures, "examples", (name, examples, set) =>
        {
            var evaluation = evaluator.Evaluate(model, set, device, keepPredictions: true);
            if (name == "test")
                PredictionsCsv.Write(Path.Combine(run.Output, "predictions-test.csv"), examples, evaluation.Predictions!, labels, task);
            return (evaluation.Metrics, SplitResultOf(evaluation, examples, labels, task, request.Similarity.ScoreScale));
        });
        var columns = new Dictionary<string, string?>
        {
            ["text"] = request.Dataset.Columns.Text,
            ["text_pair"] = request.Dataset.Columns.TextPair,
            ["label"] = request.Dataset.Columns.Label ?? (request.Dataset.Columns.LabelColumns is { } lc ? string.Join(",", lc) : null),
        };
        return Finish(run, result, metricForBest, summary, loadReport, columns, Settings(training, request, maxLength), labels?.Labels,
            splits, validationMetrics, testMetrics);
    }

    internal static string TaskName(TaskKind task) => task switch
    {
        TaskKind.SingleLabelClassification => "classification",
        TaskKind.MultiLabelClassification => "multi-label",
        TaskKind.Regression => "regression",
        TaskKind.TokenClassification => "token-classification",
        TaskKind.QuestionAnswering => "question-answering",
        TaskKind.Similarity => "similarity",
        _ => task.ToString(),
    };

    /// <summary>The effective max length: the option, capped by the model's positions and the tokenizer's model_max_length.</summary>
    internal static int MaxLength(int requested, BertTokenizer tokenizer, BertConfig config, Action<string> info)
    {
        int limit = config.MaxPositionEmbeddings - (config.OffsetsPositionsByPadding ? config.PadTokenId + 1 : 0);
        if (tokenizer.ModelMaxLength is int m) limit = Math.Min(limit, m);
        if (requested <= limit) return requested;
        info($"--max-length {requested} is more than the model takes; using {limit}.");
        return limit;
    }

    private static ILossFunction LossFor(TrainingOptions options, TextDataset dataset, LabelMap? labels)
    {
        switch (options.Task)
        {
            case TaskKind.SingleLabelClassification:
                float[]? weights = options.ClassWeighting switch
                {
                    ClassWeighting.Auto => BalancedWeights(dataset.Train, labels!.Count),
                    ClassWeighting.Explicit => options.ClassWeights!.Count == labels!.Count
                        ? options.ClassWeights.ToArray()
                        : throw new FineTuneException($"--class-weights: {options.ClassWeights.Count} weights given for {labels.Count} labels ({labels.Describe()})"),
                    _ => null,
                };
                return new CrossEntropyLoss(weights, options.LabelSmoothing);
            case TaskKind.MultiLabelClassification:
                return new BceWithLogitsLoss();
            default:
                return new RegressionLoss(options.RegressionLoss);
        }
    }

    /// <summary>scikit-learn's "balanced" weights: n / (classes × count of the class); absent classes get 1.</summary>
    internal static float[] BalancedWeights(IReadOnlyList<TextExample> train, int classes)
    {
        var counts = new int[classes];
        foreach (var e in train) counts[e.ClassId]++;
        return counts.Select(c => c == 0 ? 1f : (float)train.Count / (classes * c)).ToArray();
    }

    private static string PoolingNote(BertConfig config, string? reason) => config.MeanPooling
        ? $"The head reads the mean of the token states ({reason}; --pooling cls for the [CLS] token)."
        : $"The head reads the [CLS] token ({reason}; --pooling mean for the mean of the token states).";

    internal static IReadOnlyDictionary<string, object?> Settings(TrainingOptions t, FineTuneRequest r, int maxLength) => new Dictionary<string, object?>
    {
        ["epochs"] = t.Epochs, ["max_steps"] = t.MaxSteps, ["batch_size"] = t.BatchSize, ["learning_rate"] = t.LearningRate,
        ["weight_decay"] = t.WeightDecay, ["schedule"] = t.Schedule.ToString().ToLowerInvariant(), ["warmup_ratio"] = t.WarmupRatio,
        ["warmup_steps"] = t.WarmupSteps, ["max_grad_norm"] = t.MaxGradNorm, ["gradient_accumulation_steps"] = t.GradientAccumulationSteps,
        ["max_length"] = maxLength, ["group_by_length"] = t.GroupByLength, ["precision"] = t.Precision.ToString().ToLowerInvariant(),
        ["seed"] = t.Seed, ["eval_strategy"] = t.EvalStrategy.ToString().ToLowerInvariant(), ["early_stopping_patience"] = t.EarlyStoppingPatience,
        ["class_weights"] = t.ClassWeighting.ToString().ToLowerInvariant(), ["label_smoothing"] = t.LabelSmoothing,
        ["regression_loss"] = t.RegressionLoss.ToString().ToLowerInvariant(), ["threshold"] = t.Threshold,
        ["device"] = r.Device, ["threads"] = torch.get_num_threads(), ["pooling"] = r.Load.ClassifierPooling ?? "auto",
    };

    private static SplitResult SplitResultOf(EvaluationResult result, IReadOnlyList<TextExample> examples, LabelMap? labels, TaskKind task, double scoreScale)
    {
        long[][]? matrix = null;
        IReadOnlyList<ClassReport>? perClass = null;
        if (result.Accumulator is ClassificationMetrics cm)
        {
            var m = cm.ConfusionMatrix();
            matrix = Enumerable.Range(0, m.ClassCount).Select(a => Enumerable.Range(0, m.ClassCount).Select(p => m[a, p]).ToArray()).ToArray();
            perClass = cm.PerClass();
        }
        else if (result.Accumulator is MultiLabelMetrics ml)
        {
            perClass = ml.PerLabel();
        }
        return new SplitResult
        {
            Metrics = result.Metrics,
            ConfusionMatrix = matrix,
            PerClass = perClass,
            TopErrors = TopErrors(result.Predictions!, examples, labels, task, 20, scoreScale),
            PredictedVsActual = task is TaskKind.Regression or TaskKind.Similarity ? RegressionValuesOf(result.Predictions!, examples, scoreScale) : null,
        };
    }

    /// <summary>Each example's actual and predicted value, in example order; an evenly spaced sample of a large split.</summary>
    private static RegressionValues RegressionValuesOf(IReadOnlyList<SequencePrediction> predictions, IReadOnlyList<TextExample> examples, double scoreScale)
    {
        var ordered = predictions.Where(p => examples[p.ExampleIndex].Label is RegressionTarget).OrderBy(p => p.ExampleIndex).ToList();
        int count = Math.Min(ordered.Count, RegressionValues.MaxCount);
        var chosen = Enumerable.Range(0, count).Select(i => ordered[(int)((long)i * ordered.Count / count)]).ToList();
        return new RegressionValues(
            chosen.Select(p => (float)(((RegressionTarget)examples[p.ExampleIndex].Label!).Value / scoreScale)).ToArray(),
            chosen.Select(p => p.Outputs[0]).ToArray());
    }

    private static List<PredictionError> TopErrors(IReadOnlyList<SequencePrediction> predictions, IReadOnlyList<TextExample> examples,
        LabelMap? labels, TaskKind task, int count, double scoreScale)
    {
        var errors = new List<PredictionError>();
        foreach (var p in predictions)
        {
            var e = examples[p.ExampleIndex];
            switch (task)
            {
                case TaskKind.SingleLabelClassification when p.PredictedClass != e.ClassId:
                    errors.Add(new PredictionError(e.SourceRow, e.Text, e.TextPair, labels![e.ClassId], labels[p.PredictedClass!.Value], p.Outputs[p.PredictedClass.Value]));
                    break;
                case TaskKind.MultiLabelClassification when e.Label is MultiLabelTargets t:
                    var actual = t.PositiveIds().ToArray();
                    if (!actual.SequenceEqual(p.PredictedLabels!))
                    {
                        double confidence = Enumerable.Range(0, p.Outputs.Length).Max(i => t.Targets[i] > 0.5 ? 1 - p.Outputs[i] : p.Outputs[i]);
                        errors.Add(new PredictionError(e.SourceRow, e.Text, e.TextPair, string.Join(",", actual.Select(i => labels![i])),
                            string.Join(",", p.PredictedLabels!.Select(i => labels![i])), confidence));
                    }
                    break;
                case TaskKind.Regression or TaskKind.Similarity when e.Label is RegressionTarget r:
                    double target = r.Value / scoreScale;
                    errors.Add(new PredictionError(e.SourceRow, e.Text, e.TextPair, target.ToString("0.###", CultureInfo.InvariantCulture),
                        p.Outputs[0].ToString("0.###", CultureInfo.InvariantCulture), Math.Abs(p.Outputs[0] - target)));
                    break;
            }
        }
        return errors.OrderByDescending(x => x.Confidence).Take(count).ToList();
    }

    internal static void WriteMetricsJson(string path, IReadOnlyDictionary<string, double>? validation, IReadOnlyDictionary<string, double>? test, TrainerState state)
    {
        var obj = new Dictionary<string, object?>
        {
            ["validation"] = validation,
            ["test"] = test,
            ["best_step"] = state.BestStep,
            ["global_step"] = state.GlobalStep,
            ["metric_for_best"] = state.MetricForBest,
        };
        RunFiles.WriteJsonAtomically(path, obj);
    }
}
