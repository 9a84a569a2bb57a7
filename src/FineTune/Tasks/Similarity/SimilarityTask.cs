using System.ComponentModel;
using System.Globalization;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Export;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;
using FineTune.Runtime;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>Options of sentence similarity (a bi-encoder).</summary>
public sealed record SimilarityOptions : TaskOptions
{
    /// <summary>The scale used when none is given in training.</summary>
    public const double DefaultScoreScale = 1.0;

    [Description("Scores are divided by this to compare with the cosine (5 for a 0–5 scale); evaluate and predict: the one the model was trained with.")]
    [UsedByPrediction]
    public double? ScoreScale { get; init; }

    [Description("The loss between the cosine and the scaled score: mse, mae or huber.")]
    public RegressionLossKind RegressionLoss { get; init; } = RegressionLossKind.Mse;

    public override void Validate() =>
        Check(ScoreScale is null || ScoreScale > 0, nameof(ScoreScale), $"must be positive, got {ScoreScale}");
}

/// <summary>Two texts of a pair, each tokenized on its own, and their score on the cosine's scale.</summary>
internal sealed record PairFeature(int[] InputIds, int[] TypeIds, int ExampleIndex, Feature Second, LabelTarget? Label)
    : Feature(InputIds, TypeIds, ExampleIndex)
{
    public override IEnumerable<int[]> Sequences => [InputIds, Second.InputIds];
}

/// <summary>
/// Sentence similarity as a bi-encoder (sentence-transformers' way): each text of a pair is embedded on its own (the
/// mean of its token states), and the cosine of the two embeddings is trained against the pair's score divided by
/// the score scale (MSE by default); Pearson and Spearman of the cosines, the best model by Spearman. The model is
/// saved as a plain encoder: any sentence-embedding consumer can use it.
/// </summary>
internal sealed class SimilarityTask() : FineTuneTask(
    "similarity", "Sentence similarity",
    "two texts and a score; cosine of mean-pooled embeddings against the scaled score (bi-encoder); Pearson, Spearman")
{
    public override TaskOptions DefaultOptions { get; } = new SimilarityOptions();
    public override string DefaultMetricForBest => MetricNames.Spearman;

    /// <summary>A bi-encoder is saved as a plain encoder: only its finetune.json says what it was trained for.</summary>
    public override bool Recognizes(EncoderConfig config) => false;

    public override TaskModel CreateModel(EncoderConfig config, KernelOptions kernels) => TaskModels.SentenceEmbedding(config, kernels);

    public override ILossFunction EvaluationLoss => new RegressionLoss(new SimilarityOptions().RegressionLoss);

    public override HeadGraph ExportHead => HeadGraph.SentenceEmbedding;

    /// <summary>A bi-encoder has no labels.</summary>
    public override (EncoderConfig Config, string? PoolingReason) HeadConfig(string folder, EncoderConfig config, IReadOnlyList<string>? labels, ModelLoadOptions load) =>
        (config, null);

    private const string ScoreScaleKey = "score_scale";

    /// <summary>Each text of every pair encoded on its own, the score divided by <paramref name="scoreScale"/>; and how many were truncated.</summary>
    internal static (List<PairFeature> Features, int Truncated) Build(IReadOnlyList<TextExample> examples, ITokenizer tokenizer, int maxLength, double scoreScale)
    {
        var options = EncodeOptions.Truncate(maxLength);
        var firsts = tokenizer.EncodeBatch(examples.Select(e => e.Text).ToList(), options);
        var seconds = tokenizer.EncodeBatch(examples.Select(e => e.TextPair ?? throw new DataException(
            "similarity needs a second text in every row (ColumnMapping.TextPair)", e.SourceFile, e.SourceRow)).ToList(), options);
        var features = new List<PairFeature>(examples.Count);
        int truncated = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            if (firsts[i].WasTruncated || seconds[i].WasTruncated) truncated++;
            var label = examples[i].Label is RegressionTarget r ? new RegressionTarget((float)(r.Value / scoreScale)) : examples[i].Label;
            features.Add(new PairFeature(firsts[i].Ids, firsts[i].TypeIds, i, new Feature(seconds[i].Ids, seconds[i].TypeIds, i), label));
        }
        return (features, truncated);
    }

    /// <summary>Both sides of every pair in one batch (first texts, then second texts), and the scores when every pair has one.</summary>
    internal static ModelInput Collate(IReadOnlyList<PairFeature> batch, int padId, Device device)
    {
        var sides = InputPadding.Collate(batch.Cast<Feature>().Concat(batch.Select(f => f.Second)).ToList(), padId, device);
        var scores = batch.All(f => f.Label is RegressionTarget) ? SequenceFeatures.Values(batch.Select(f => f.Label!).ToList(), device) : null;
        return sides with { Labels = scores, PairedRows = true };
    }

    private static SequenceEvaluator<PairFeature> Evaluator(double scoreScale, int padId, int batchSize, Func<IDisposable?>? precision) =>
        new(new ValueReadout("cosine", scoreScale), (batch, device) => Collate(batch, padId, device),
            f => f.Length + f.Second.Length, f => f.Label, batchSize, precision);

    /// <summary>
    /// The scores divided by the scale must lie in the cosine's range [-1, 1], or the loss pulls the cosine towards
    /// values it can never reach: an error that names the row with the largest score and the scale to pass.
    /// </summary>
    private static void CheckScores(TextDataset dataset, double scale, bool defaultScale)
    {
        var examples = dataset.Train.Concat(dataset.Validation).Concat(dataset.Test).Where(e => e.Label is RegressionTarget).ToList();
        if (examples.Count == 0) return;
        var worst = examples.MaxBy(e => Math.Abs(((RegressionTarget)e.Label!).Value))!;
        double score = ((RegressionTarget)worst.Label!).Value;
        if (Math.Abs(score / scale) <= 1 + 1e-6) return;
        double suggested = examples.Max(e => Math.Abs(((RegressionTarget)e.Label!).Value));
        throw new DataException(string.Create(CultureInfo.InvariantCulture,
            $"score {score} divided by the score scale {scale}{(defaultScale ? " (the default)" : "")} is {score / scale:0.###}, outside the cosine's range [-1, 1]: give the largest score of the scale as SimilarityOptions.ScoreScale (e.g. {suggested:0.###} for these scores; 5 for STS-B)"),
            worst.SourceFile, worst.SourceRow);
    }

    public override TaskRun Prepare(RunContext run)
    {
        var options = OptionsFrom<SimilarityOptions>(run.TaskOptions);
        if (run.Dataset.Columns.TextPair is null)
            throw new OptionException("ColumnMapping.TextPair", "similarity needs two texts per row: name the column of the second text");
        double scale = options.ScoreScale ?? SimilarityOptions.DefaultScoreScale;
        var dataset = DatasetLoader.Load(run.Files, run.Dataset, LabelKind.Number, Name);
        CheckScores(dataset, scale, options.ScoreScale is null);
        var truncated = new Dictionary<string, int>();
        var splits = new TaskSplits<TextExample, PairFeature>(dataset.Train, dataset.Validation, dataset.Test, (name, examples) =>
        {
            var (features, count) = Build(examples, run.Tokenizer, run.MaxLength, scale);
            truncated[name] = count;
            return features;
        });
        return new Run(this, run, options, scale, Truncation.Report(run, dataset.Summary, truncated), splits);
    }

    private sealed class Run(SimilarityTask task, RunContext run, SimilarityOptions options, double scale, DatasetSummary summary,
        TaskSplits<TextExample, PairFeature> splits) : TaskRun
    {
        private readonly SequenceEvaluator<PairFeature> _evaluator =
            Evaluator(scale, run.Tokenizer.PaddingTokenId, run.Training.EvalBatchSize, run.EvaluationScope);

        public override DatasetSummary Summary => summary;
        public override IReadOnlyList<string>? Labels => null;
        public override string ErrorsBy => "error";

        public override IReadOnlyDictionary<string, string?> Columns => new Dictionary<string, string?>
        {
            ["text"] = run.Dataset.Columns.Text,
            ["text_pair"] = run.Dataset.Columns.TextPair,
            ["label"] = run.Dataset.Columns.Label,
        };

        public override IReadOnlyDictionary<string, object?> Settings =>
            new Dictionary<string, object?> { ["score_scale"] = scale, ["regression_loss"] = options.RegressionLoss.ToString().ToLowerInvariant() };

        public override ITrainingSet TrainingSet =>
            new FeatureSet<PairFeature>(splits.Train, (batch, device) => Collate(batch, run.Tokenizer.PaddingTokenId, device));

        public override IValidationSet? Validation => splits.Validation.Count > 0 ? _evaluator.AsValidation(splits.Validation) : null;

        public override (TaskModel Model, LoadReport Report) LoadModel()
        {
            var (model, report) = task.LoadModel(run.ModelFolder, null, run.Load, run.Kernels, run.Config);
            model.Loss = new RegressionLoss(options.RegressionLoss);
            return (model, report);
        }

        public override void BeforeTraining(TaskModel model)
        {
            var validation = splits.Validation;
            if (validation.Count == 0 || run.Resuming) return;
            var zeroShot = _evaluator.Evaluate(model, validation, run.Device).Metrics;
            run.Info(string.Create(CultureInfo.InvariantCulture,
                $"Before fine-tuning (zero-shot cosine): pearson {zeroShot[MetricNames.Pearson]:0.0000}, spearman {zeroShot[MetricNames.Spearman]:0.0000} on validation."));
        }

        public override IReadOnlyList<(string Name, int Count)> HeldOut => splits.HeldOut;

        public override (IReadOnlyDictionary<string, double> Metrics, SplitResult Result) EvaluateSplit(TaskModel model, string split)
        {
            var (examples, features) = splits[split];
            var evaluation = _evaluator.Evaluate(model, features, run.Device, keepPredictions: true);
            var readout = new ValueReadout("cosine", scale);
            if (split == "test" && run.WritesFiles)
                SequencePredictionFiles.WriteEvaluated(Path.Combine(run.Output, "predictions-test.csv"), examples, evaluation.Predictions!, readout);
            return (evaluation.Metrics, SequenceSplits.Result(readout, evaluation, examples));
        }

        public override FineTuneMetadata Metadata(FineTuneMetadata metadata) => metadata.With(ScoreScaleKey, scale);
    }

    /// <summary>A saved bi-encoder with its tokenizer, loaded for evaluation or prediction.</summary>
    private sealed class Saved(IForwardModel model, ITokenizer tokenizer, Device device, Func<IDisposable?>? precision, int maxLength, double scale, int batchSize) : IDisposable
    {
        public IForwardModel Model => model;
        public ITokenizer Tokenizer => tokenizer;
        public Device Device => device;
        public int MaxLength => maxLength;
        public double Scale => scale;
        public SequenceEvaluator<PairFeature> Evaluator() => SimilarityTask.Evaluator(scale, tokenizer.PaddingTokenId, batchSize, precision);
        public void Dispose() => model.Dispose();
    }

    private Saved Load(SavedModelRequest context)
    {
        var options = OptionsFrom<SimilarityOptions>(context.TaskOptions);
        if (context.BatchSize < 1) throw new OptionException("PredictorOptions.BatchSize", $"must be at least 1, got {context.BatchSize}");
        var folder = ModelCatalog.Resolve(context.Model);
        TorchRuntime.SetThreads(context.Threads);
        var device = TorchRuntime.ParseDevice(context.Device);
        var tokenizer = Tokenizers.FromFolder(folder);
        var model = OpenForPrediction(folder, device, context.Load, context.Precision, context.Threads);
        var metadata = FineTuneMetadata.Load(folder);
        int maxLength = context.MaxLength ?? (metadata?.MaxLength is > 0 and var trained ? trained : PredictionModels.MaxLength(model.Config, tokenizer.ModelMaxLength ?? 512));
        double scale = options.ScoreScale ?? metadata?.Number(ScoreScaleKey) ?? SimilarityOptions.DefaultScoreScale;
        return new Saved(model, tokenizer, device, PrecisionScopes.For(context.Precision, device), maxLength, scale, context.BatchSize);
    }

    public override EvaluationOutcome Evaluate(SavedModelRequest model, EvaluationInput input)
    {
        if (input.Dataset.Columns.TextPair is null)
            throw new OptionException("ColumnMapping.TextPair", "a similarity model scores pairs: name the column of the second text");
        using var saved = Load(model);
        var (examples, skipped) = DatasetLoader.ReadExamples(input.DataFile, input.Dataset, LabelKind.Number, null);
        if (examples.Count == 0) throw new DataException("no examples to evaluate", input.DataFile);
        var (features, truncated) = Build(examples, saved.Tokenizer, saved.MaxLength, saved.Scale);
        model.Say($"{examples.Count} pairs from {input.DataFile}{(truncated > 0 ? $" ({truncated} truncated to {saved.MaxLength} tokens)" : "")}; scores divided by {saved.Scale.ToString(CultureInfo.InvariantCulture)}");
        EvaluationInput.SaySkipped(model, skipped, "rows");
        var evaluation = saved.Evaluator().Evaluate(saved.Model, features, saved.Device, keepPredictions: true);
        var files = input.WriteResults(evaluation.Metrics,
            ("predictions.csv", path => SequencePredictionFiles.WriteEvaluated(path, examples, evaluation.Predictions!, new ValueReadout("cosine", saved.Scale))));
        return new EvaluationOutcome(evaluation.Metrics, evaluation.Metrics, null, null, files);
    }

    public override PredictionOutcome Predict(SavedModelRequest model, PredictionInput input)
    {
        if (input.Columns.TextPair is null)
            throw new OptionException("ColumnMapping.TextPair", "a similarity model scores pairs: name the column of the second text (for one embedding per text, embed instead)");
        var rows = TextInputs.Read(input.InputFile, input.File, input.Columns.Text, input.Columns.TextPair);
        using var saved = Load(model);
        var examples = rows.Select(r => new TextExample(r.Text, r.Pair, null, input.InputFile, r.SourceRow)).ToList();
        var (features, _) = Build(examples, saved.Tokenizer, saved.MaxLength, saved.Scale);
        var cosines = new float[features.Count];
        var order = ModelBatches.LongestFirst(features, f => f.Length + f.Second.Length);
        ModelBatches.Run(saved.Model, features, order, model.BatchSize, (batch, device) => Collate(batch, saved.Tokenizer.PaddingTokenId, device),
            saved.Device, PrecisionScopes.For(model.Precision, saved.Device), (indices, _, output) =>
            {
                var values = output.Logits.to(ScalarType.Float32).cpu().data<float>().ToArray();
                for (int r = 0; r < indices.Length; r++) cosines[indices[r]] = values[r];
            });
        var predictions = cosines.Select(c => new TextPrediction(null, null, null, c)).ToList();
        SequencePredictionFiles.WritePredicted(input.OutputFile, rows, predictions, new ValueReadout("cosine", saved.Scale));
        var output = Path.GetFullPath(input.OutputFile);
        return new PredictionOutcome(rows.Count, output, $"Wrote {rows.Count} cosine similarities to {output}");
    }
}
