using System.Globalization;
using System.Text;
using System.Text.Json;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Export;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;
using FineTune.Text;

namespace FineTune.Tasks;

/// <summary>
/// Sequence-to-sequence tasks: a source text and its target (from two columns, or two line-aligned files), an
/// encoder-decoder warm-started from BERT-family checkpoints (Hugging Face's EncoderDecoderModel: the decoder gets
/// causal self-attention, new cross-attention and an LM head tied to its word embeddings), teacher forcing with label
/// smoothing, generation by greedy decoding or beam search, and the metrics of the generated text; the best model is
/// the one whose generated text scores best on validation. Translation and summarization differ only in their
/// metrics, defaults and baseline.
/// </summary>
internal abstract class Seq2SeqTask(string name, string title, string description, Seq2SeqMetricSet metrics, params string[] aliases)
    : FineTuneTask(name, title, description, aliases)
{
    public Seq2SeqMetricSet MetricSet { get; } = metrics;

    public override bool Recognizes(EncoderConfig config) => false;   // an encoder-decoder's config.json is no EncoderConfig; finetune.json names the task

    /// <summary>
    /// Not how an encoder-decoder is built: its start, end and padding tokens come from the decoder's tokenizer and
    /// its two halves from two folders, so runs and predictors build it with <see cref="EncoderDecoderFolder"/>.
    /// </summary>
    public override TaskModel CreateModel(EncoderConfig config, KernelOptions kernels) =>
        throw new NotSupportedException($"the {Name} model is built from its encoder's and decoder's folders and the decoder's tokenizer (EncoderDecoderFolder), not from one config");

    public override bool TakesTrainingDataFromOptions(TaskOptions? options) => options is Seq2SeqOptions { SourceFile: not null };

    /// <summary>No head graph: an encoder-decoder exports as three graphs of its own (encoder, decoder, decoder with past; Export/Seq2SeqGraphs).</summary>
    public override HeadGraph? ExportHead => null;

    /// <summary>How generation runs with <paramref name="options"/>.</summary>
    internal static GenerationSettings Settings(Seq2SeqOptions options) =>
        new(options.NumBeams, options.LengthPenalty, options.NoRepeatNgramSize, options.NewTokens, options.EarlyStopping, MinNewTokens: options.MinNewTokens);

    /// <summary>The generation options a saved model was trained with (its finetune.json), else the task's defaults.</summary>
    internal Seq2SeqOptions SavedGeneration(FineTuneMetadata? metadata)
    {
        var defaults = (Seq2SeqOptions)DefaultOptions;
        if (metadata is null) return defaults;
        int Int(string key, int fallback) => metadata.Number(key) is { } v ? (int)v : fallback;
        bool Flag(string key, bool fallback) => metadata.Number(key) is { } v ? v != 0 : fallback;
        return defaults with
        {
            MaxTargetLength = Int(TrainedGeneration.MaxTargetLengthKey, defaults.MaxTargetLength),
            NumBeams = Int(TrainedGeneration.NumBeamsKey, defaults.NumBeams),
            LengthPenalty = metadata.Number(TrainedGeneration.LengthPenaltyKey) ?? defaults.LengthPenalty,
            NoRepeatNgramSize = Int(TrainedGeneration.NoRepeatNgramKey, defaults.NoRepeatNgramSize),
            MaxNewTokens = metadata.Number(TrainedGeneration.MaxNewTokensKey) is { } n ? (int)n : defaults.MaxNewTokens,
            MinNewTokens = Int(TrainedGeneration.MinNewTokensKey, defaults.MinNewTokens),
            EarlyStopping = Flag(TrainedGeneration.EarlyStoppingKey, defaults.EarlyStopping),
            UseStemmer = Flag(UseStemmerKey, defaults.UseStemmer),
        };
    }

    private const string UseStemmerKey = "use_stemmer";

    /// <summary>A baseline the task reports beside the model's metrics on each held-out split (summarization: the lead), or none.</summary>
    protected virtual IReadOnlyDictionary<string, double> Baseline(IReadOnlyList<TextPair> validation, IReadOnlyList<TextPair> split, Seq2SeqOptions options) =>
        new Dictionary<string, double>();

    public override TaskRun Prepare(RunContext run)
    {
        var options = OptionsFrom<Seq2SeqOptions>(run.TaskOptions);
        var data = Seq2SeqData.Load(run.Files, run.Dataset, options);
        bool trained = EncoderDecoderFolder.Holds(run.ModelFolder);
        var decoderFolder = options.DecoderModel is null || trained ? run.ModelFolder : ModelCatalog.Resolve(options.DecoderModel);
        var decoderTokenizer = trained ? TextGenerator.LoadDecoderTokenizer(run.ModelFolder, run.Tokenizer)
            : options.DecoderModel is null ? run.Tokenizer : Tokenizers.FromFolder(decoderFolder);
        EncoderDecoderConfig config;
        if (trained) (config, options) = TrainedConfig(run, options);
        else (config, options) = ModelConfig(run, options, decoderFolder, decoderTokenizer);

        var truncated = new Dictionary<string, int>();
        var truncatedTargets = new Dictionary<string, int>();
        var statistics = new Dictionary<string, (TokenStatistics Source, TokenStatistics Target)>();
        var splits = new TaskSplits<TextPair, Seq2SeqFeature>(data.Train, data.Validation, data.Test, (name, pairs) =>
        {
            var built = Seq2SeqFeatures.Build(pairs, run.Tokenizer, decoderTokenizer, run.MaxLength, options.MaxTargetLength);
            truncated[name] = built.TruncatedSources;
            truncatedTargets[name] = built.TruncatedTargets;
            statistics[name] = (built.Source, built.Target);
            return built.Features;
        });
        var summary = new DatasetSummary(Name, null,
            new[] { ("train", data.Train), ("validation", data.Validation), ("test", data.Test) }
                .Where(s => s.Item1 == "train" || s.Item2.Count > 0)
                .Select(s => new SplitSummary(s.Item1, s.Item2.Count, new Dictionary<string, int>(), null)).ToList(),
            data.Skipped) { Unit = "pairs" };
        summary = Truncation.Report(run, summary, truncated);
        foreach (var (split, count) in truncatedTargets)
            if (count > 0)
                run.Info($"{count} of {summary[split]!.Count} {split} targets are longer than {options.MaxTargetLength} tokens and were truncated (Seq2SeqOptions.MaxTargetLength).");
        var (source, target) = statistics["train"];
        run.Info($"Train {source.Describe("sources", "text")} ({Path.GetFileName(run.ModelFolder)}'s vocabulary); " +
                 $"{target.Describe("targets", "text")} ({Path.GetFileName(decoderFolder)}'s vocabulary).");
        return new Run(this, run, options, data, summary, splits, trained, decoderFolder, decoderTokenizer, config, statistics["train"]);
    }

    /// <summary>
    /// The config of a trained encoder-decoder that the run fine-tunes further (its model folder): it has its decoder,
    /// and shares weights between its halves as it was trained (the options follow it; sharing cannot start now).
    /// </summary>
    private static (EncoderDecoderConfig Config, Seq2SeqOptions Options) TrainedConfig(RunContext run, Seq2SeqOptions options)
    {
        if (options.DecoderModel is not null)
            throw new OptionException("Seq2SeqOptions.DecoderModel",
                $"{run.ModelFolder} is a trained encoder-decoder and brings its own decoder; a decoder model is only given with a pretrained encoder");
        var config = EncoderDecoderFolder.LoadConfig(run.ModelFolder);
        if (options.TieEncoderDecoder && !config.TieEncoderDecoder)
            throw new OptionException("Seq2SeqOptions.TieEncoderDecoder",
                $"{run.ModelFolder} was trained with separate encoder and decoder weights, which cannot be shared when it is fine-tuned further");
        if (options.CopyFromSource is { } copy && copy != config.CopyFromSource)
            throw new OptionException("Seq2SeqOptions.CopyFromSource",
                $"{run.ModelFolder} was trained {(config.CopyFromSource ? "with" : "without")} a copy layer, which is chosen when an encoder-decoder is first trained");
        run.Info($"Fine-tuning the trained encoder-decoder {run.ModelFolder} further" + (config.TieEncoderDecoder ? " (its encoder and decoder share their weights)." : "."));
        return (config, options with { TieEncoderDecoder = config.TieEncoderDecoder, CopyFromSource = config.CopyFromSource });
    }

    /// <summary>Whether the task's models copy from their source unless told otherwise (and the vocabularies allow it).</summary>
    protected virtual bool CopiesByDefault => false;

    /// <summary>
    /// The encoder-decoder's config: the run's model as the encoder, the decoder model's (or the same) as the
    /// decoder, the decoder tokenizer's start, end and padding tokens. Shared weights and copying need one vocabulary;
    /// the options come back with copying decided.
    /// </summary>
    private (EncoderDecoderConfig Config, Seq2SeqOptions Options) ModelConfig(RunContext run, Seq2SeqOptions options, string decoderFolder, ITokenizer decoderTokenizer)
    {
        var decoderConfig = options.DecoderModel is null ? run.Config : ModelFolder.LoadConfig(decoderFolder);
        bool sameVocabulary = run.Tokenizer.VocabSize == decoderTokenizer.VocabSize && run.Config.VocabSize == decoderConfig.VocabSize
            && Enumerable.Range(0, run.Tokenizer.VocabSize).All(i => run.Tokenizer.IdToToken(i) == decoderTokenizer.IdToToken(i));
        foreach (var (wanted, option, what) in new[] { (options.TieEncoderDecoder, "TieEncoderDecoder", "their weights cannot be shared"),
                     (options.CopyFromSource == true, "CopyFromSource", "the decoder cannot copy source tokens") })
            if (wanted && !sameVocabulary)
                throw new OptionException("Seq2SeqOptions." + option,
                    $"the encoder ({run.ModelFolder}: {run.Tokenizer.VocabSize} tokens) and the decoder ({decoderFolder}: {decoderTokenizer.VocabSize} tokens) " +
                    $"have different vocabularies, so {what}");
        if (decoderConfig.ModelType != "bert")
            throw new OptionException("Seq2SeqOptions.DecoderModel", $"the decoder must be a BERT model (BertLMHeadModel); {decoderFolder} is a '{decoderConfig.ModelType}' model");
        var config = new EncoderDecoderConfig
        {
            Encoder = run.Config with { Id2Label = null, Label2Id = null, ProblemType = null, ClassifierPooling = null },
            Decoder = EncoderDecoderConfig.AsDecoder(decoderConfig),
            DecoderStartTokenId = Seq2SeqFeatures.StartToken(decoderTokenizer),
            EosTokenId = Seq2SeqFeatures.EndToken(decoderTokenizer),
            PadTokenId = decoderTokenizer.PaddingTokenId,
            TieEncoderDecoder = options.TieEncoderDecoder,
            CopyFromSource = options.CopyFromSource ?? (CopiesByDefault && sameVocabulary),
        };
        if (options.CopyFromSource is null && CopiesByDefault)
            run.Info(config.CopyFromSource
                ? "The decoder may copy source tokens (a copy layer; Seq2SeqOptions.CopyFromSource false turns it off)."
                : "The decoder does not copy source tokens: the encoder and the decoder have different vocabularies.");
        if (options.TieEncoderDecoder)
        {
            try { config.Validate(); }
            catch (ModelLoadException e) { throw new OptionException("Seq2SeqOptions.TieEncoderDecoder", e.Message, e); }
        }
        return (config, options with { CopyFromSource = config.CopyFromSource });
    }

    private sealed class Run(Seq2SeqTask task, RunContext run, Seq2SeqOptions options, Seq2SeqData data, DatasetSummary summary,
        TaskSplits<TextPair, Seq2SeqFeature> splits, bool trained, string decoderFolder, ITokenizer decoderTokenizer, EncoderDecoderConfig config,
        (TokenStatistics Source, TokenStatistics Target) trainStatistics) : TaskRun
    {
        public override DatasetSummary Summary => summary;
        public override IReadOnlyList<string>? Labels => null;
        public override string Unit => "pairs";

        public override IReadOnlyDictionary<string, string?> Columns => options.SourceFile is not null
            ? new Dictionary<string, string?> { ["source_file"] = options.SourceFile, ["target_file"] = options.TargetFile }
            : new Dictionary<string, string?> { ["source"] = options.SourceColumn, ["target"] = options.TargetColumn };

        public override IReadOnlyDictionary<string, object?> Settings
        {
            get
            {
                var settings = new Dictionary<string, object?>(TaskSettings.Of(options))
                {
                    ["decoder_model"] = decoderFolder,
                    ["source_tokens_per_text"] = Math.Round(trainStatistics.Source.TokensPerText, 2),
                    ["source_tokens_per_word"] = Math.Round(trainStatistics.Source.TokensPerWord, 3),
                    ["source_split_word_rate"] = Math.Round(trainStatistics.Source.SplitWordRate, 4),
                    ["source_unknown_rate"] = Math.Round(trainStatistics.Source.UnknownRate, 5),
                    ["target_tokens_per_text"] = Math.Round(trainStatistics.Target.TokensPerText, 2),
                    ["target_tokens_per_word"] = Math.Round(trainStatistics.Target.TokensPerWord, 3),
                    ["target_split_word_rate"] = Math.Round(trainStatistics.Target.SplitWordRate, 4),
                    ["target_unknown_rate"] = Math.Round(trainStatistics.Target.UnknownRate, 5),
                };
                return settings;
            }
        }

        private Seq2SeqEvaluator Evaluator() => new(decoderTokenizer, Seq2SeqTask.Settings(options), task.MetricSet, options.UseStemmer,
            run.Training.EvalBatchSize, run.Tokenizer.PaddingTokenId, run.EvaluationScope);

        public override ITrainingSet TrainingSet =>
            new FeatureSet<Seq2SeqFeature>(splits.Train, (batch, device) => Seq2SeqFeatures.Collate(batch, run.Tokenizer.PaddingTokenId, device));

        public override IValidationSet? Validation =>
            splits.Validation.Count > 0 ? Evaluator().AsValidation(splits.Validation, splits["validation"].Examples) : null;

        public override (TaskModel Model, LoadReport Report) LoadModel()
        {
            var (model, report) = trained && !options.FromScratch
                ? EncoderDecoderFolder.LoadTrained(run.ModelFolder, run.Kernels, run.Load)
                : EncoderDecoderFolder.WarmStart(run.ModelFolder, decoderFolder, config, run.Kernels, run.Load, options.FromScratch);
            model.Loss = new CrossEntropyLoss(labelSmoothing: options.LabelSmoothing);
            return (model, report);
        }

        public override IReadOnlyList<(string Name, int Count)> HeldOut => splits.HeldOut;

        public override (IReadOnlyDictionary<string, double> Metrics, SplitResult Result) EvaluateSplit(TaskModel model, string split)
        {
            var (pairs, features) = splits[split];
            var evaluation = Evaluator().Run(model, features, pairs, run.Device);
            var metrics = new Dictionary<string, double>(evaluation.Metrics);
            foreach (var (key, value) in task.Baseline(data.Validation, pairs, options)) metrics[key] = value;
            if (split == "test")
                Seq2SeqPredictionFiles.WriteEvaluated(Path.Combine(run.Output, "predictions-test.csv"), pairs, evaluation.Outputs);
            return (metrics, new SplitResult { Metrics = metrics, TopErrors = WorstOutputs(task.MetricSet, pairs, evaluation.Outputs, options.UseStemmer) });
        }

        public override void SaveExtras(string folder)
        {
            if (!ReferenceEquals(decoderTokenizer, run.Tokenizer))
                decoderTokenizer.Save(Path.Combine(folder, TextGenerator.DecoderTokenizerFolder));
        }

        public override FineTuneMetadata Metadata(FineTuneMetadata metadata) => metadata
            .With(TrainedGeneration.MaxTargetLengthKey, options.MaxTargetLength)
            .With(TrainedGeneration.NumBeamsKey, options.NumBeams)
            .With(TrainedGeneration.LengthPenaltyKey, options.LengthPenalty)
            .With(TrainedGeneration.NoRepeatNgramKey, options.NoRepeatNgramSize)
            .With(TrainedGeneration.MaxNewTokensKey, options.MaxNewTokens)
            .With(TrainedGeneration.MinNewTokensKey, options.MinNewTokens)
            .With(TrainedGeneration.EarlyStoppingKey, options.EarlyStopping ? 1 : 0)
            .With(UseStemmerKey, options.UseStemmer ? 1 : 0);
    }

    /// <summary>The 20 outputs that match their reference worst (sentence chrF, or ROUGE-1), for the report.</summary>
    private static List<PredictionError> WorstOutputs(Seq2SeqMetricSet set, IReadOnlyList<TextPair> pairs, IReadOnlyList<string> outputs, bool useStemmer) =>
        pairs.Select((p, i) => (Pair: p, Output: outputs[i], Score: Seq2SeqGeneration.SentenceScore(set, p.Target, outputs[i], useStemmer)))
            .OrderBy(x => x.Score).Take(20)
            .Select(x => new PredictionError(x.Pair.SourceRow, x.Pair.Source, null, x.Pair.Target, x.Output, x.Score)).ToList();

    public override EvaluationOutcome Evaluate(SavedModelRequest model, EvaluationInput input)
    {
        var options = OptionsFrom<Seq2SeqOptions>(model.TaskOptions ?? SavedGeneration(FineTuneMetadata.Load(model.Model)));
        using var generator = TextGenerator.Load(model.Model, GeneratorOptions(model, options));
        var (pairs, skipped) = options.TargetFile is not null
            ? ParallelText.ReadFiles(input.DataFile, options.TargetFile, input.Dataset.SkipInvalidRows, input.Dataset.ReportedInvalidRows)
            : ParallelText.ReadColumns(input.DataFile, input.Dataset.DataFile, options.SourceColumn, options.TargetColumn, input.Dataset.SkipInvalidRows,
                input.Dataset.ReportedInvalidRows);
        if (pairs.Count == 0) throw new DataException("the file has no pairs to evaluate on", input.DataFile);
        var ids = generator.GenerateIds(pairs.Select(p => p.Source).ToList(), out int truncated);
        var outputs = ids.Select(o => GeneratedText.Decode(generator.DecoderTokenizer, o)).ToList();
        model.Say($"{pairs.Count} pairs from {input.DataFile}{(truncated > 0 ? $" ({truncated} sources truncated to {generator.MaxLength} tokens)" : "")}");
        EvaluationInput.SaySkipped(model, skipped, "pairs");
        var metrics = Seq2SeqGeneration.Score(MetricSet, pairs.Select(p => p.Target).ToList(), outputs, options.UseStemmer);
        metrics[Seq2SeqMetricNames.GenerationLength] = ids.Average(o => o.Length);
        var files = input.WriteResults(metrics, ("predictions.csv", path => Seq2SeqPredictionFiles.WriteEvaluated(path, pairs, outputs)));
        return new EvaluationOutcome(metrics, metrics, null, null, files);
    }

    public override PredictionOutcome Predict(SavedModelRequest model, PredictionInput input)
    {
        var options = OptionsFrom<Seq2SeqOptions>(model.TaskOptions ?? SavedGeneration(FineTuneMetadata.Load(model.Model)));
        var sources = ReadSources(input, options);
        using var generator = TextGenerator.Load(model.Model, GeneratorOptions(model, options));
        var outputs = generator.Generate(sources.Select(s => s.Text).ToList());
        Seq2SeqPredictionFiles.WritePredicted(input.OutputFile, sources, outputs);
        var output = Path.GetFullPath(input.OutputFile);
        return new PredictionOutcome(sources.Count, output, $"Wrote {outputs.Count} generated texts to {output}");
    }

    private static TextGeneratorOptions GeneratorOptions(SavedModelRequest model, Seq2SeqOptions options) => new()
    {
        Device = model.Device, Threads = model.Threads, BatchSize = model.BatchSize, Precision = model.Precision, Load = model.Load,
        MaxLength = model.MaxLength, Generation = options,
    };

    /// <summary>The sources to generate from: the lines of a .txt or .gz file, or the source column of a CSV, TSV, JSONL or Parquet file.</summary>
    private static List<TextInput> ReadSources(PredictionInput input, Seq2SeqOptions options)
    {
        var path = input.InputFile;
        if (path.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            return ParallelText.ReadLines(path).Select((line, i) => new TextInput(i + 1, line)).Where(r => r.Text.Trim().Length > 0).ToList();
        return TextInputs.Read(path, input.File, options.SourceColumn).ToList();
    }
}

/// <summary>Machine translation: BLEU and chrF (sacreBLEU); the best model by BLEU.</summary>
internal sealed class TranslationTask() : Seq2SeqTask(
    "translation", "Translation",
    "source and target columns, or two line-aligned text files; an encoder-decoder warm-started from BERT checkpoints, label-smoothed cross-entropy; BLEU, chrF",
    Seq2SeqMetricSet.Translation)
{
    public override TaskOptions DefaultOptions { get; } = new Seq2SeqOptions { UseStemmer = false };
    public override string DefaultMetricForBest => Seq2SeqMetricNames.Bleu;
}

/// <summary>
/// Abstractive summarization: ROUGE-1, ROUGE-2 and ROUGE-Lsum (rouge-score, Porter-stemmed); the best model by
/// ROUGE-Lsum; each held-out split also reports the lead baseline (the source's first k words, k chosen on validation).
/// </summary>
internal sealed class SummarizationTask() : Seq2SeqTask(
    "summarization", "Summarization",
    "text and summary columns; an encoder-decoder warm-started from BERT checkpoints, label-smoothed cross-entropy; ROUGE-1, ROUGE-2, ROUGE-Lsum against the lead baseline",
    Seq2SeqMetricSet.Summarization)
{
    public override TaskOptions DefaultOptions { get; } = new Seq2SeqOptions { SourceColumn = "text", TargetColumn = "summary", NoRepeatNgramSize = 3 };
    public override int DefaultMaxLength => 256;
    public override string DefaultMetricForBest => Seq2SeqMetricNames.RougeLsum;

    /// <summary>Summaries and headlines reuse their source's names and phrases (the AG News runs of docs/results.md).</summary>
    protected override bool CopiesByDefault => true;

    protected override IReadOnlyDictionary<string, double> Baseline(IReadOnlyList<TextPair> validation, IReadOnlyList<TextPair> split, Seq2SeqOptions options)
    {
        var tuning = validation.Count > 0 ? validation : split;
        int k = LeadBaseline.BestLength(tuning, options.UseStemmer);
        var (r1, r2, rl) = LeadBaseline.Score(split, k, options.UseStemmer);
        return new Dictionary<string, double> { ["lead_k"] = k, ["lead_rouge1"] = r1, ["lead_rouge2"] = r2, ["lead_rougeLsum"] = rl };
    }
}

/// <summary>The lead baseline of summarization: the first k words of the source as its summary.</summary>
internal static class LeadBaseline
{
    /// <summary>The first <paramref name="k"/> white-space-separated words.</summary>
    public static string Lead(string source, int k) => string.Join(' ', source.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Take(k));

    public static (double Rouge1, double Rouge2, double RougeLsum) Score(IReadOnlyList<TextPair> pairs, int k, bool useStemmer)
    {
        var rouge = new CorpusRouge(useStemmer);
        foreach (var p in pairs) rouge.Add(p.Target, Lead(p.Source, k));
        return rouge.Compute();
    }

    /// <summary>The k from 1 to <paramref name="maxWords"/> with the best mean of ROUGE-1, ROUGE-2 and ROUGE-Lsum on <paramref name="pairs"/> (the smaller on a tie).</summary>
    public static int BestLength(IReadOnlyList<TextPair> pairs, bool useStemmer, int maxWords = 40)
    {
        int best = 1;
        double bestScore = double.NegativeInfinity;
        for (int k = 1; k <= maxWords; k++)
        {
            var (r1, r2, rl) = Score(pairs, k, useStemmer);
            double score = (r1 + r2 + rl) / 3;
            if (score > bestScore) (best, bestScore) = (k, score);
        }
        return best;
    }
}

/// <summary>The prediction files of the sequence-to-sequence tasks.</summary>
internal static class Seq2SeqPredictionFiles
{
    /// <summary>Generated texts of labelled pairs as CSV: row, source, target, generated.</summary>
    public static void WriteEvaluated(string path, IReadOnlyList<TextPair> pairs, IReadOnlyList<string> outputs)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Csv.Line(["row", "source", "target", "generated"]));
        for (int i = 0; i < pairs.Count; i++)
            sb.AppendLine(Csv.Line([pairs[i].SourceRow.ToString(CultureInfo.InvariantCulture), pairs[i].Source, pairs[i].Target, outputs[i]]));
        RunFiles.WriteTextAtomically(path, sb.ToString());
    }

    /// <summary>Generated texts of sources as CSV (row, source, generated) or JSON Lines, by the file's extension.</summary>
    public static void WritePredicted(string path, IReadOnlyList<TextInput> sources, IReadOnlyList<string> outputs)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var sb = new StringBuilder();
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            for (int i = 0; i < sources.Count; i++)
                sb.AppendLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["row"] = sources[i].SourceRow, ["source"] = sources[i].Text, ["generated"] = outputs[i] },
                    SequencePredictionFiles.Json));
        }
        else if (path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
        {
            sb.AppendLine(Csv.Line(["row", "source", "generated"]));
            for (int i = 0; i < sources.Count; i++)
                sb.AppendLine(Csv.Line([sources[i].SourceRow.ToString(CultureInfo.InvariantCulture), sources[i].Text, outputs[i]]));
        }
        else throw new OptionException("PredictRequest.Output", $"{path}: use a .csv or .jsonl file name");
        RunFiles.WriteTextAtomically(path, sb.ToString());
    }
}
