using System.ComponentModel;
using System.Globalization;
using FineTune.Analysis;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Export;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;

namespace FineTune.Tasks;

/// <summary>Options of token classification (NER).</summary>
public sealed record TokenClassificationOptions : TaskOptions
{
    [Description("CoNLL files: the 0-based column of the tag (default: the last; the word is column 0).")]
    [UsedByPrediction, ReadsData]
    public int? TagColumn { get; init; }

    [Description("The tag scheme of the files: iob1, iob2 (bio) or bioes (default: detected from the training file; evaluate: from the file evaluated).")]
    [UsedByPrediction, ReadsData]
    public string? TagScheme { get; init; }

    [Description("Train on every sub-token of a word, not only the first.")]
    public bool LabelAllTokens { get; init; }

    [Description("Label smoothing of the cross-entropy (0 to 1).")]
    public double LabelSmoothing { get; init; }

    public override void Validate()
    {
        Check(TagColumn is null or >= 0, nameof(TagColumn), $"must be 0 or more (0-based), got {TagColumn}");
        Check(LabelSmoothing is >= 0 and < 1, nameof(LabelSmoothing), $"must be in [0, 1), got {LabelSmoothing}");
        ParsedScheme();
    }

    /// <summary>The tag scheme, or null to detect it.</summary>
    internal TagScheme? ParsedScheme()
    {
        if (TagScheme is null) return null;
        try
        {
            return TagSchemes.Parse(TagScheme);
        }
        catch (FineTuneException e)
        {
            throw new OptionException($"{nameof(TokenClassificationOptions)}.{nameof(TagScheme)}", e.Message, e);
        }
    }
}

/// <summary>
/// Token classification (NER): CoNLL columns or JSONL tokens and tags in IOB1, IOB2 or BIOES, trained as IOB2 with
/// cross-entropy over each word's first sub-token (or all of them); entity precision, recall and F1 (micro and per
/// type, seqeval's) and token accuracy; the best model by entity F1.
/// </summary>
internal sealed class TokenClassificationTask() : FineTuneTask(
    "token-classification", "Token classification",
    "CoNLL columns or JSONL tokens and tags (IOB1, IOB2, BIOES); cross-entropy per word; entity precision/recall/F1", "ner")
{
    public override TaskOptions DefaultOptions { get; } = new TokenClassificationOptions();
    public override string DefaultMetricForBest => MetricNames.F1;

    public override bool Recognizes(EncoderConfig config) =>
        config.Architectures?.Any(a => a.EndsWith("ForTokenClassification", StringComparison.Ordinal)) == true;

    public override TaskModel CreateModel(EncoderConfig config, KernelOptions kernels) => TaskModels.TokenClassifier(config, kernels);

    public override HeadGraph ExportHead => HeadGraph.TokenClassification;

    public override TaskRun Prepare(RunContext run)
    {
        var options = OptionsFrom<TokenClassificationOptions>(run.TaskOptions);
        var data = Load(run.Files, run.Dataset, options);
        var labels = data.Labels;
        run.Info($"tag scheme: {data.SourceScheme}{(data.SchemeDetected ? " (detected)" : "")}, trained as IOB2; {labels.Count} labels: {string.Join(", ", labels.Labels)}");
        var labeling = options.LabelAllTokens ? SubwordLabeling.AllSubwords : SubwordLabeling.FirstSubword;
        var summaries = new List<SplitSummary>();
        var splits = new TaskSplits<TokenExample, TokenFeature>(data.Train, data.Validation, data.Test, (name, examples) =>
        {
            var (built, truncated) = TokenClassificationFeatures.Build(examples, run.Tokenizer, labels, run.MaxLength, labeling);
            summaries.Add(new SplitSummary(name, examples.Count, TokenClassificationData.EntityCounts(examples), null) { Truncated = truncated });
            if (truncated > 0)
                run.Info($"{truncated} of {examples.Count} {name} sentences are longer than {run.MaxLength} tokens and were truncated (TrainingOptions.MaxLength); their last words are predicted O.");
            return built;
        });
        var summary = new DatasetSummary(Name, null, summaries, data.Skipped) { Unit = "sentences" };
        run.Info(summary.Describe());
        return new Run(this, run, options, data, summary, splits);
    }

    private static TokenClassificationData Load(DatasetFiles files, DatasetOptions dataset, TokenClassificationOptions options) =>
        TokenClassificationData.Load(files, options.TagColumn, options.ParsedScheme(), dataset.ValidationFraction, dataset.TestFraction,
            dataset.Seed, dataset.MaxTrainExamples, dataset.SkipInvalidRows);

    public override AnalysisData ReadForAnalysis(DatasetFiles files, DatasetOptions dataset, TaskOptions? options) =>
        AnalysisOf(Load(files, dataset, OptionsFrom<TokenClassificationOptions>(options)));

    /// <summary>Sentences as the data report reads them: the words joined by spaces, and the type of each entity.</summary>
    private static AnalysisData AnalysisOf(TokenClassificationData data)
    {
        static IReadOnlyList<AnalysisExample> Of(IReadOnlyList<TokenExample> examples) => examples
            .Select(e => new AnalysisExample(string.Join(" ", e.Words), null, EntityChunker.Extract(e.Tags).Select(x => x.Type).ToList(), e.SourceFile, e.SourceLine))
            .ToList();
        return new AnalysisData("token-classification", [("train", Of(data.Train)), ("validation", Of(data.Validation)), ("test", Of(data.Test))], "entity type");
    }

    private sealed class Run(TokenClassificationTask task, RunContext run, TokenClassificationOptions options, TokenClassificationData data, DatasetSummary summary,
        TaskSplits<TokenExample, TokenFeature> splits) : TaskRun
    {
        public override DatasetSummary Summary => summary;
        public override IReadOnlyList<string>? Labels => data.Labels.Labels;
        public override string Unit => "sentences";

        public override IReadOnlyDictionary<string, string?> Columns
        {
            get
            {
                bool jsonl = Path.GetExtension(run.Files.Train).ToLowerInvariant() is ".jsonl" or ".ndjson" or ".json";
                return jsonl
                    ? new Dictionary<string, string?> { ["tokens"] = "tokens", ["tags"] = "tags" }
                    : new Dictionary<string, string?> { ["word"] = "0", ["tag"] = options.TagColumn?.ToString(CultureInfo.InvariantCulture) ?? "last" };
            }
        }

        public override IReadOnlyDictionary<string, object?> Settings => new Dictionary<string, object?>
        {
            ["tag_scheme"] = data.SourceScheme.ToString(),
            ["label_all_tokens"] = options.LabelAllTokens,
            ["label_smoothing"] = options.LabelSmoothing,
        };

        private TokenClassificationEvaluator EvaluatorFor(IReadOnlyList<TokenExample> examples) =>
            new(examples, data.Labels, run.Training.EvalBatchSize, run.Tokenizer.PaddingTokenId, run.EvaluationScope);

        public override ITrainingSet TrainingSet =>
            new FeatureSet<TokenFeature>(splits.Train, (batch, device) => TokenClassificationFeatures.Collate(batch, run.Tokenizer.PaddingTokenId, device));

        public override IValidationSet? Validation => splits.Validation.Count > 0 ? EvaluatorFor(data.Validation).AsValidation(splits.Validation) : null;

        public override (TaskModel Model, LoadReport Report) LoadModel()
        {
            var (model, report) = task.LoadModel(run.ModelFolder, data.Labels.Labels, run.Load, run.Kernels, run.Config);
            if (options.LabelSmoothing > 0) model.Loss = new CrossEntropyLoss(null, options.LabelSmoothing);
            return (model, report);
        }

        public override IReadOnlyList<(string Name, int Count)> HeldOut => splits.HeldOut;

        public override AnalysisData? Analysis => AnalysisOf(data);

        public override (IReadOnlyDictionary<string, double> Metrics, SplitResult Result) EvaluateSplit(TaskModel model, string split)
        {
            var (examples, features) = splits[split];
            var evaluation = EvaluatorFor(examples).Run(model, features, run.Device, keepPredictions: true);
            if (split == "test" && run.WritesFiles)
                TokenPredictionFiles.WriteWordTags(Path.Combine(run.Output, "predictions-test.csv"), examples, evaluation.Predictions!);
            return (evaluation.Metrics, SplitResultOf(evaluation, examples));
        }
    }

    private static SplitResult SplitResultOf(TokenClassificationEvaluation evaluation, IReadOnlyList<TokenExample> examples)
    {
        var errors = new List<PredictionError>();
        foreach (var p in evaluation.Predictions!)
        {
            var e = examples[p.ExampleIndex];
            var gold = EntityChunker.Extract(e.Tags);
            var predicted = EntityChunker.Extract(p.Tags);
            if (gold.SequenceEqual(predicted)) continue;
            // How sure the model was of its wrong tags: the mean probability over the words it tagged wrongly.
            var wrong = Enumerable.Range(0, e.Words.Count).Where(w => e.Tags[w] != p.Tags[w]).ToList();
            double confidence = wrong.Count == 0 ? 0 : wrong.Average(w => p.Scores[w]);
            errors.Add(new PredictionError(e.SourceLine, string.Join(" ", e.Words), null, Describe(gold, e.Words), Describe(predicted, e.Words), confidence));
        }
        return new SplitResult
        {
            Metrics = evaluation.Metrics,
            PerClass = evaluation.Entities.PerType.Select(t => new ClassReport(t.Type, t.Precision, t.Recall, t.F1, t.Support)).ToList(),
            TopErrors = errors.OrderByDescending(x => x.Confidence).Take(20).ToList(),
        };
    }

    /// <summary>"EU/ORG; German/MISC", or "(none)".</summary>
    private static string Describe(IReadOnlyList<EntitySpan> entities, IReadOnlyList<string> words) =>
        entities.Count == 0 ? "(none)" : string.Join("; ", entities.Select(x => string.Join(" ", words.Skip(x.Start).Take(x.Length)) + "/" + x.Type));

    private static EntityPredictorOptions PredictorOptions(SavedModelRequest model) => new()
    {
        Device = model.Device, Threads = model.Threads, BatchSize = model.BatchSize, Precision = model.Precision, MaxLength = model.MaxLength, Load = model.Load,
    };

    public override EvaluationOutcome Evaluate(SavedModelRequest model, EvaluationInput input)
    {
        var options = OptionsFrom<TokenClassificationOptions>(model.TaskOptions);
        using var ner = EntityPredictor.LoadChecked(model.Model, PredictorOptions(model));
        var result = ner.Evaluate(input.DataFile, new EntityEvaluationOptions
        {
            TagColumn = options.TagColumn, Scheme = options.ParsedScheme(), SkipInvalidRows = input.Dataset.SkipInvalidRows,
        });
        var words = result.Examples.Sum(e => (long)e.Words.Count);
        model.Say($"{result.Examples.Count} sentences ({words} words) from {input.DataFile}; tags read as {result.FileScheme}{(result.SchemeDetected ? " (detected)" : "")}, scored as {result.ModelScheme} like the model's labels");
        if (result.Truncated > 0)
            model.Say($"{result.Truncated} sentences are longer than {result.MaxLength} tokens and were truncated (EntityPredictorOptions.MaxLength); their last words are predicted O.");
        EvaluationInput.SaySkipped(model, result.Skipped, "sentences");
        var perType = result.Entities.PerType;
        var perTypeKeys = perType.SelectMany(t => new[] { "precision", "recall", "f1", "support" }.Select(m => $"{t.Type}_{m}")).ToHashSet(StringComparer.Ordinal);
        var files = input.WriteResults(result.Metrics, ("predictions.csv", result.WritePredictions));
        return new EvaluationOutcome(result.Metrics.Where(kv => !perTypeKeys.Contains(kv.Key)).ToDictionary(), result.Metrics,
            perType.Select(t => new ClassReport(t.Type, t.Precision, t.Recall, t.F1, t.Support)).ToList(), "per entity type", files);
    }

    public override PredictionOutcome Predict(SavedModelRequest model, PredictionInput input)
    {
        OptionsFrom<TokenClassificationOptions>(model.TaskOptions);
        var rows = TextInputs.Read(input.InputFile, input.File, input.Columns.Text);
        using var predictor = EntityPredictor.LoadChecked(model.Model, PredictorOptions(model));
        var entities = new List<IReadOnlyList<Entity>>(rows.Count);
        foreach (var chunk in rows.Chunk(256))
            entities.AddRange(predictor.Predict(chunk.Select(r => r.Text).ToList()));
        int count = TokenPredictionFiles.WriteEntities(input.OutputFile, rows, entities);
        return new PredictionOutcome(rows.Count, Path.GetFullPath(input.OutputFile), $"{count} entities in {rows.Count} texts -> {input.OutputFile}");
    }

    public override ExplanationOutcome Explain(SavedModelRequest model, ExplanationInput input)
    {
        OptionsFrom<TokenClassificationOptions>(model.TaskOptions);
        TaskExplanations.Validate(input);
        var rows = TaskExplanations.Take(TextInputs.Read(input.InputFile, input.File, input.Columns.Text), input);
        using var predictor = EntityPredictor.LoadChecked(model.Model, PredictorOptions(model));
        return predictor.Explain(model, input, rows);
    }
}
