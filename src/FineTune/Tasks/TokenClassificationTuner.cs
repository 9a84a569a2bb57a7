using System.Globalization;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Training;
using TorchSharp;

namespace FineTune.Tasks;

/// <summary>
/// The sentences of a token-classification run, in IOB2, with the tag list, how the files were read and the invalid
/// sentences skipped per file (with --skip-invalid-rows).
/// </summary>
public sealed record TokenClassificationData(
    IReadOnlyList<TokenExample> Train,
    IReadOnlyList<TokenExample> Validation,
    IReadOnlyList<TokenExample> Test,
    TokenLabelMap Labels,
    TagScheme SourceScheme,
    bool SchemeDetected)
{
    /// <summary>Per file read: the sentences skipped as invalid and the first reasons (empty counts when strict).</summary>
    public IReadOnlyList<SkippedRows> Skipped { get; init; } = [];

    /// <summary>
    /// Reads the files of a run: CoNLL columns or JSONL (see <see cref="ConllReader"/>). The tag scheme is the given one
    /// or the one detected in the training file, and is used for every file; tags are converted to IOB2. The tag list
    /// comes from every sentence of the training file (so neither a split nor --max-train-examples changes it); a
    /// validation or test tag outside it is an error naming the file and line. Without a validation or test file, a
    /// seeded random fraction of the training sentences is held out. <paramref name="skipInvalidRows"/> skips the
    /// sentences with an invalid line (another number of columns, a tag that fits no scheme, the file's or the tag
    /// list) instead of stopping, and counts them in <see cref="Skipped"/>.
    /// </summary>
    public static TokenClassificationData Load(DatasetFiles files, TokenClassificationOptions options, TagScheme? scheme,
        double validationFraction = 0, double testFraction = 0, int seed = 42, int? maxTrainExamples = null, bool skipInvalidRows = false)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(options);
        if (files.Validation is not null && validationFraction > 0)
            throw new FineTuneException("a validation file and --validation-split were both given; use one");
        if (files.Test is not null && testFraction > 0)
            throw new FineTuneException("a test file and --test-split were both given; use one");
        var read = new ConllReadOptions { TagColumn = options.TagColumn, SourceScheme = scheme, TargetScheme = TagScheme.IOB2, SkipInvalidRows = skipInvalidRows };
        var trainSet = ConllReader.Load(files.Train, read);
        if (trainSet.Count == 0)
            throw new DataException(trainSet.Skipped.Count > 0 ? $"the training file has no valid sentences ({trainSet.Skipped.Count} skipped)" : "the training file has no sentences", files.Train);
        var labels = TokenLabelMap.FromExamples(trainSet.Examples, TagScheme.IOB2);
        read = read with { SourceScheme = trainSet.SourceScheme, Labels = labels };
        var skipped = new List<SkippedRows> { trainSet.Skipped };
        IReadOnlyList<TokenExample> ReadFile(string path)
        {
            var set = ConllReader.Load(path, read);
            skipped.Add(set.Skipped);
            return set.Examples;
        }
        IReadOnlyList<TokenExample> train = trainSet.Examples;
        IReadOnlyList<TokenExample> validation = files.Validation is null ? [] : ReadFile(files.Validation);
        IReadOnlyList<TokenExample> test = files.Test is null ? [] : ReadFile(files.Test);
        if (validationFraction > 0 || testFraction > 0)
        {
            var (kept, heldValidation, heldTest) = Split(train, validationFraction, testFraction, seed);
            train = kept;
            if (validationFraction > 0) validation = heldValidation;
            if (testFraction > 0) test = heldTest;
        }
        if (maxTrainExamples is { } max && max < train.Count) train = train.Take(max).ToArray();
        return new TokenClassificationData(train, validation, test, labels, trainSet.SourceScheme, trainSet.SchemeDetected) { Skipped = skipped };
    }

    /// <summary>Holds out ceil(fraction × N) sentences each for validation and test, chosen by a seeded permutation; file order kept.</summary>
    internal static (TokenExample[] Train, TokenExample[] Validation, TokenExample[] Test) Split(IReadOnlyList<TokenExample> examples,
        double validationFraction, double testFraction, int seed)
    {
        foreach (var (fraction, option) in new[] { (validationFraction, "--validation-split"), (testFraction, "--test-split") })
            if (!(fraction is >= 0 and < 1)) throw new FineTuneException($"{option}: must be at least 0 and below 1, got {fraction}");
        int n = examples.Count;
        int validationSize = validationFraction > 0 ? (int)Math.Ceiling(n * validationFraction - 1e-9) : 0;
        int testSize = testFraction > 0 ? (int)Math.Ceiling(n * testFraction - 1e-9) : 0;
        if (validationSize + testSize >= n)
            throw new FineTuneException($"{n} sentences are too few to hold out {validationSize} for validation and {testSize} for test and keep any for training");
        var part = new byte[n];
        var order = new SeededRandom((ulong)(uint)seed).Permutation(n);
        for (int i = 0; i < validationSize + testSize; i++) part[order[i]] = (byte)(i < validationSize ? 1 : 2);
        var parts = Enumerable.Range(0, 3).Select(k => Enumerable.Range(0, n).Where(i => part[i] == k).Select(i => examples[i]).ToArray()).ToArray();
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>Entities per type in a split (what the summary shows as its label counts).</summary>
    public static IReadOnlyDictionary<string, int> EntityCounts(IEnumerable<TokenExample> examples)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in examples)
            foreach (var entity in EntityChunker.Extract(e.Tags))
                counts[entity.Type] = counts.GetValueOrDefault(entity.Type) + 1;
        return counts;
    }
}

/// <summary>
/// Fine-tunes a pretrained encoder for token classification (NER): reads CoNLL or JSONL files, aligns word tags to
/// sub-words, trains with validation (entity F1 picks the best model), evaluates on validation and test, and writes
/// the run folder: model/ (BertForTokenClassification with the tags as id2label), metrics.json (precision, recall,
/// f1, accuracy and per-type entries), predictions-test.csv (per word: gold and predicted tag), log.jsonl,
/// TensorBoard files and run.json.
/// </summary>
public static class TokenClassificationTuner
{
    /// <summary>The simple overload: default hyperparameters, the tag scheme detected, the files' last column as the tag.</summary>
    public static FineTuneResult Train(string model, string trainFile, string outputDirectory, string? validationFile = null, string? testFile = null) =>
        Train(new FineTuneRequest
        {
            Model = model,
            Data = new DatasetFiles(trainFile, validationFile, testFile),
            Dataset = new DatasetOptions { Task = TaskKind.TokenClassification, Columns = new ColumnMapping { Text = "tokens", Label = "tags" } },
            OutputDirectory = outputDirectory,
        });

    public static FineTuneResult Train(FineTuneRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Dataset.Task != TaskKind.TokenClassification)
            throw new ArgumentException($"a {request.Dataset.Task} request is not for token classification", nameof(request));
        var options = request.TokenClassification;
        TagScheme? scheme = options.Scheme is null ? null : ParseScheme(options.Scheme);
        if (request.Training.ClassWeighting != ClassWeighting.None)
            throw new FineTuneException("--class-weights: only for classification of whole texts, not token classification");

        var run = FineTuner.Begin(request, request.Training.MaxLength);
        var (tokenizer, maxLength, info) = (run.Tokenizer, run.MaxLength, run.Info);
        var dataset = request.Dataset;
        var data = TokenClassificationData.Load(request.Data, options, scheme, dataset.ValidationFraction, dataset.TestFraction, dataset.Seed,
            dataset.MaxTrainExamples, dataset.SkipInvalidRows);
        run = FineTuner.WithoutValidationIfEmpty(run, data.Validation.Count);
        var training = run.Training;
        var labels = data.Labels;
        info($"tag scheme: {data.SourceScheme}{(data.SchemeDetected ? " (detected)" : "")}, trained as IOB2; {labels.Count} labels: {string.Join(", ", labels.Labels)}");

        var labeling = options.LabelAllTokens ? SubwordLabeling.AllSubwords : SubwordLabeling.FirstSubword;
        var splits = new[] { ("train", data.Train), ("validation", data.Validation), ("test", data.Test) };
        var features = new Dictionary<string, List<Feature>>();
        var summaries = new List<SplitSummary>();
        foreach (var (name, examples) in splits)
        {
            if (examples.Count == 0 && name != "train") continue;
            var (built, truncated) = TokenClassificationFeatures.Build(examples, tokenizer, labels, maxLength, labeling);
            features[name] = built;
            summaries.Add(new SplitSummary(name, examples.Count, TokenClassificationData.EntityCounts(examples), null) { Truncated = truncated });
            if (truncated > 0)
                info($"{truncated} of {examples.Count} {name} sentences are longer than {maxLength} tokens and were truncated (--max-length); their last words are predicted O.");
        }
        var summary = new DatasetSummary(TaskKind.TokenClassification, null, summaries, data.Skipped);
        info(summary.Describe());

        var (model, loadReport) = ModelFolder.LoadTaskModel(run.ModelFolder, TaskKind.TokenClassification, labels.Labels, request.Load);
        using var _ = model;
        info(loadReport.Describe());
        if (training.LabelSmoothing > 0) model.Loss = new CrossEntropyLoss(null, training.LabelSmoothing);
        model.to(run.Device);

        TokenClassificationEvaluator EvaluatorFor(IReadOnlyList<TokenExample> examples) =>
            new(examples, labels, training.EvalBatchSize, tokenizer.PaddingTokenId, run.EvaluationScope);
        var (result, metricForBest) = FineTuner.Fit(run, model, features["train"], features.GetValueOrDefault("validation") ?? [], EvaluatorFor(data.Validation));

        var (splitResults, validationMetrics, testMetrics) = FineTuner.EvaluateSplits(run, splits.Skip(1), features, "sentences", (name, examples, set) =>
        {
            var evaluation = EvaluatorFor(examples).Run(model, set, run.Device, keepPredictions: true);
            if (name == "test")
                TokenTaskPredictionFiles.WriteWordTags(Path.Combine(run.Output, "predictions-test.csv"), examples, evaluation.Predictions!);
            return (evaluation.Metrics, SplitResultOf(evaluation, examples));
        });
        var settings = new Dictionary<string, object?>(FineTuner.Settings(training, request, maxLength))
        {
            ["tag_scheme"] = data.SourceScheme.ToString(),
            ["label_all_tokens"] = options.LabelAllTokens,
        };
        bool jsonl = Path.GetExtension(request.Data.Train).ToLowerInvariant() is ".jsonl" or ".ndjson" or ".json";
        var columns = jsonl
            ? new Dictionary<string, string?> { ["tokens"] = "tokens", ["tags"] = "tags" }
            : new Dictionary<string, string?> { ["word"] = "0", ["tag"] = options.TagColumn?.ToString(CultureInfo.InvariantCulture) ?? "last" };
        return FineTuner.Finish(run, result, metricForBest, summary, loadReport, columns, settings, labels.Labels, splitResults, validationMetrics, testMetrics);
    }

    private static TagScheme ParseScheme(string name)
    {
        try
        {
            return TagSchemes.Parse(name);
        }
        catch (FineTuneException e)
        {
            throw new FineTuneException("--tag-scheme: " + e.Message, e);
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
}
