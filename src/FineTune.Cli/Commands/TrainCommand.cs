using System.CommandLine;
using System.Globalization;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Tasks;

namespace FineTune.Cli.Commands;

/// <summary>`finetune train`: fine-tune a pretrained model on a labelled file and write a run folder.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var taskOptions = new TaskOptionFlags(prediction: false);
        var defaults = new TrainingOptions();
        var model = new Option<string>("--model", "-m") { Description = "A catalog name (see `finetune models list`) or a Hugging Face model folder; translation and summarization also take a trained encoder-decoder folder (RUN/model) to fine-tune further.", DefaultValueFactory = _ => "all-MiniLM-L6-v2" }.NotEmpty();
        var train = new Option<string?>("--data", "--train") { Description = "The training file (CSV, TSV, JSONL or Parquet; NER: CoNLL columns or JSONL; QA: SQuAD JSON or JSONL; translation: or --source-file and --target-file)." }.NotEmpty();
        var validation = new Option<string?>("--validation") { Description = "A validation file (default: none, or --validation-split of the training file)." };
        var test = new Option<string?>("--test") { Description = "A test file evaluated once at the end (default: none, or --test-split)." };
        var task = new Option<string>("--task")
        {
            Description = "What to train: " + string.Join("; ", FineTuner.Tasks.Select(t => $"{t.Name}{(t.Aliases.Count > 0 ? $" ({string.Join(", ", t.Aliases)})" : "")}: {t.Description}")) + ".",
            DefaultValueFactory = _ => "classification",
        };
        var output = new Option<string>("--output", "-o") { Description = "The run folder to write: model/, metrics.json, predictions-test.csv, log.jsonl, plots/, report.html, checkpoints/.", Required = true }.NotEmpty();
        var validationSplit = new Option<double>("--validation-split") { Description = "Hold out this fraction of the training file for validation (stratified for classification; QA: of the article titles)." }.Range(0, 1, maxExclusive: true);
        var testSplit = new Option<double>("--test-split") { Description = "Hold out this fraction of the training file for testing (QA: the last titles in file order, so no article is in two splits)." }.Range(0, 1, maxExclusive: true);
        var maxTrain = new Option<int?>("--max-train-examples") { Description = "Train on the first N training rows only." }.Range(1);
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training data.", DefaultValueFactory = _ => defaults.Epochs }.Range(0, 1_000_000);
        var maxSteps = new Option<int>("--max-steps") { Description = "Stop after this many optimizer steps (overrides --epochs)." }.Range(0);
        var batchSize = new Option<int>("--batch-size") { Description = "Examples per batch.", DefaultValueFactory = _ => defaults.BatchSize }.Range(1, 1 << 20);
        var evalBatchSize = new Option<int>("--eval-batch-size") { Description = "Examples per evaluation batch.", DefaultValueFactory = _ => defaults.EvalBatchSize }.Range(1, 1 << 20);
        var lr = new Option<double>("--learning-rate", "--lr") { Description = "Peak learning rate of AdamW (1e-4 suits the packaged 6-layer models; base-size models usually take 2e-5 to 5e-5).", DefaultValueFactory = _ => defaults.LearningRate }.Range(0, 1, maxExclusive: true, minExclusive: true);
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW weight decay (not on biases and LayerNorm weights).", DefaultValueFactory = _ => defaults.WeightDecay }.Range(0);
        var schedule = new Option<string>("--schedule") { Description = "Learning-rate schedule after warmup: linear, cosine or constant.", DefaultValueFactory = _ => "linear" }.OneOf("linear", "cosine", "constant");
        var warmupRatio = new Option<double>("--warmup-ratio") { Description = "Fraction of the steps spent warming the learning rate up from 0.", DefaultValueFactory = _ => defaults.WarmupRatio }.Range(0, 1, maxExclusive: true);
        var warmupSteps = new Option<int>("--warmup-steps") { Description = "Warmup steps (overrides --warmup-ratio)." }.Range(0);
        var maxGradNorm = new Option<double>("--max-grad-norm") { Description = "Clip the gradient norm to this (0: no clipping).", DefaultValueFactory = _ => defaults.MaxGradNorm }.Range(0);
        var accumulation = new Option<int>("--gradient-accumulation-steps") { Description = "Batches whose gradients add up to one optimizer step.", DefaultValueFactory = _ => defaults.GradientAccumulationSteps }.Range(1, 1_000_000);
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per example; longer texts are truncated (and counted). Default: " + string.Join(", ", FineTuner.Tasks.GroupBy(t => t.DefaultMaxLength).Select(g => $"{g.Key} ({string.Join(", ", g.Select(t => t.Name))})")) + "." }.Range(8, 8192);
        var noGroup = new Option<bool>("--no-group-by-length") { Description = "Shuffle plainly instead of batching texts of similar length (less padding)." };
        var precision = new Option<string>("--precision") { Description = "auto (bf16 on a CPU with AMX or AVX512-BF16, fp32 elsewhere; evaluation in fp32), fp32, or bf16 (mixed precision: bf16 matrix math, fp32 weights and optimizer).", DefaultValueFactory = _ => "auto" }.OneOf("auto", "fp32", "bf16");
        var evalStrategy = new Option<string>("--eval-strategy") { Description = "When to evaluate on validation: epoch, steps or no.", DefaultValueFactory = _ => "epoch" }.OneOf("epoch", "steps", "no");
        var evalSteps = new Option<int>("--eval-steps") { Description = "Evaluate every N steps (with --eval-strategy steps).", DefaultValueFactory = _ => defaults.EvalSteps }.Range(1);
        var saveStrategy = new Option<string>("--save-strategy") { Description = "When to write a checkpoint: epoch, steps or no.", DefaultValueFactory = _ => "epoch" }.OneOf("epoch", "steps", "no");
        var saveSteps = new Option<int>("--save-steps") { Description = "Checkpoint every N steps (with --save-strategy steps).", DefaultValueFactory = _ => defaults.SaveSteps }.Range(1);
        var saveLimit = new Option<int>("--save-total-limit") { Description = "Keep at most this many checkpoints (0: all).", DefaultValueFactory = _ => defaults.SaveTotalLimit }.Range(0);
        var patience = new Option<int>("--early-stopping-patience") { Description = "Stop after this many evaluations without improvement (0: off)." }.Range(0);
        var metricForBest = new Option<string?>("--metric-for-best")
        {
            Description = "The validation metric that picks the best model (default: " + string.Join("; ", FineTuner.Tasks.GroupBy(t => t.DefaultMetricForBest).Select(g => $"{g.Key} for {string.Join(", ", g.Select(t => t.Name))}")) + ").",
        };
        var loggingSteps = new Option<int>("--logging-steps") { Description = "Log loss and learning rate every N steps (default: about 30 points per run, at most every 50 steps)." }.Range(0);
        var seed = new Option<int>("--seed") { Description = "Seed of the splits, shuffling, head initialisation and dropout.", DefaultValueFactory = _ => defaults.Seed };
        var device = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N with a CUDA build of libtorch.", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch (default: one per processor)." }.Range(1, 4096);
        var resume = new Option<string?>("--resume") { Description = "Continue a run: from a checkpoint folder (RUN/checkpoints/checkpoint-NNNNNN), or from the newest checkpoint of a run folder (RUN)." }.NotEmpty();
        var overwrite = new Option<bool>("--overwrite") { Description = "Clear an output folder that holds another run's files (without it, such a folder is an error unless --resume continues that run)." };
        var allowUnknown = new Option<bool>("--allow-unknown-tokens") { Description = "Train even when more than half of the training tokens are [UNK] (the model's vocabulary does not fit the text)." };
        var distributedDefaults = new DistributedOptions();
        var distributed = new Option<string>("--distributed")
        {
            Description = "none, or mpi: data-parallel training over the ranks started by `mpirun -np N finetune train ...` (each rank trains on its share of every batch; rank 0 writes the run folder).",
            DefaultValueFactory = _ => "none",
        }.OneOf("none", "mpi");
        var checksumSteps = new Option<int>("--checksum-steps") { Description = "With --distributed: compare the ranks' parameters every N steps (0: after the last step only).", DefaultValueFactory = _ => distributedDefaults.ChecksumSteps }.Range(0);
        var distributedTimeout = new Option<double>("--distributed-timeout") { Description = "With --distributed: seconds a rank waits for the others before it stops with an error.", DefaultValueFactory = _ => distributedDefaults.TimeoutSeconds }.Range(0, minExclusive: true);
        var allowPickle = new Option<bool>("--allow-pickle") { Description = "Allow loading pytorch_model.bin (a Python pickle can run code: only for trusted models)." };
        var pooling = new Option<string>("--pooling")
        {
            Description = "What a classification or regression head reads: auto (the mean of the token states for a sentence-transformers model trained with mean pooling, such as all-MiniLM-L6-v2; else the [CLS] token, as Hugging Face does), cls or mean.",
            DefaultValueFactory = _ => "auto",
        }.OneOf(["auto", .. EncoderConfig.SupportedPoolings]);
        var ignoreMismatched = new Option<bool>("--ignore-mismatched-sizes") { Description = "Re-initialise a head whose shape differs from the checkpoint's (another number of labels)." };

        FlagNames.Register(new (string, Option)[]
        {
            ("Epochs", epochs), ("MaxSteps", maxSteps), ("BatchSize", batchSize), ("EvalBatchSize", evalBatchSize), ("LearningRate", lr),
            ("WeightDecay", weightDecay), ("Schedule", schedule), ("WarmupRatio", warmupRatio), ("WarmupSteps", warmupSteps), ("MaxGradNorm", maxGradNorm),
            ("GradientAccumulationSteps", accumulation), ("MaxLength", maxLength), ("GroupByLength", noGroup), ("Precision", precision),
            ("EvalStrategy", evalStrategy), ("EvalSteps", evalSteps), ("SaveStrategy", saveStrategy), ("SaveSteps", saveSteps), ("SaveTotalLimit", saveLimit),
            ("EarlyStoppingPatience", patience), ("MetricForBest", metricForBest), ("LoggingSteps", loggingSteps), ("Seed", seed),
        }.Select(p => ($"{nameof(TrainingOptions)}.{p.Item1}", p.Item2.Name)).ToArray());
        FlagNames.Register(
            ("DatasetOptions.ValidationFraction", validationSplit.Name), ("DatasetOptions.TestFraction", testSplit.Name), ("DatasetOptions.MaxTrainExamples", maxTrain.Name),
            ("DatasetOptions.Seed", seed.Name), ("FineTuneRequest.Task", task.Name), ("FineTuneRequest.Threads", threads.Name), ("FineTuneRequest.Device", device.Name),
            ("FineTuneRequest.ResumeFrom", resume.Name), ("FineTuneRequest.Overwrite", overwrite.Name), ("FineTuneRequest.OutputDirectory", output.Name),
            ("FineTuneRequest.Model", model.Name), ("DatasetFiles.Train", train.Name), ("DatasetOptions.AllowUnknownTokens", allowUnknown.Name),
            ("ModelLoadOptions.AllowPickle", allowPickle.Name),
            ("ModelLoadOptions.IgnoreMismatchedSizes", ignoreMismatched.Name), ("ModelLoadOptions.ClassifierPooling", pooling.Name),
            ("DistributedOptions.Backend", distributed.Name), ("DistributedOptions.ChecksumSteps", checksumSteps.Name),
            ("DistributedOptions.TimeoutSeconds", distributedTimeout.Name));

        var command = new Command("train", """
            Fine-tune a pretrained model on labelled text and evaluate it.
            Example: finetune train --model all-MiniLM-L6-v2 --data reviews.csv --text-column review --label-column stars --validation-split 0.1 --test-split 0.1 --output runs/reviews
            NER:     finetune train --task ner --data eng.train --validation eng.testa --test eng.testb --output runs/conll
            QA:      finetune train --task qa --data squad.json --test-split 0.2 --output runs/squad
            Translation: finetune train --task translation --source-file train.de.gz --target-file train.en.gz --validation val.de.gz --test test.de.gz --output runs/de-en
            """);
        foreach (var o in new Option[] { model, train, validation, test, task, output, validationSplit, testSplit, maxTrain })
            command.Options.Add(o);
        foreach (var o in data.All) command.Options.Add(o);
        foreach (var o in taskOptions.Options) command.Options.Add(o);
        foreach (var o in new Option[] { epochs, maxSteps, batchSize, evalBatchSize, lr, weightDecay, schedule, warmupRatio, warmupSteps, maxGradNorm,
                     accumulation, maxLength, noGroup, precision, evalStrategy, evalSteps, saveStrategy, saveSteps, saveLimit, patience, metricForBest,
                     loggingSteps, seed, device, threads, distributed, checksumSteps, distributedTimeout, resume, overwrite, allowUnknown, allowPickle, ignoreMismatched, pooling })
            command.Options.Add(o);

        command.SetAction(p =>
        {
            var taskName = TaskName(p.GetValue(task)!);
            var request = new FineTuneRequest
            {
                Model = p.GetValue(model)!,
                Task = taskName,
                Data = new DatasetFiles(p.GetValue(train) ?? "", p.GetValue(validation), p.GetValue(test)),
                Dataset = data.Dataset(p) with
                {
                    ValidationFraction = p.GetValue(validationSplit),
                    TestFraction = p.GetValue(testSplit),
                    Seed = p.GetValue(seed),
                    MaxTrainExamples = p.GetValue(maxTrain),
                    AllowUnknownTokens = p.GetValue(allowUnknown),
                },
                Training = new TrainingOptions
                {
                    Epochs = p.GetValue(epochs),
                    MaxSteps = p.GetValue(maxSteps),
                    BatchSize = p.GetValue(batchSize),
                    EvalBatchSize = p.GetValue(evalBatchSize),
                    LearningRate = p.GetValue(lr),
                    WeightDecay = p.GetValue(weightDecay),
                    Schedule = ParseEnum<ScheduleKind>(p.GetValue(schedule)!, "--schedule"),
                    WarmupRatio = p.GetValue(warmupRatio),
                    WarmupSteps = p.GetValue(warmupSteps),
                    MaxGradNorm = p.GetValue(maxGradNorm),
                    GradientAccumulationSteps = p.GetValue(accumulation),
                    MaxLength = p.GetValue(maxLength),
                    GroupByLength = !p.GetValue(noGroup),
                    Precision = ParseEnum<Precision>(p.GetValue(precision)!, "--precision"),
                    EvalStrategy = ParseEnum<IntervalKind>(p.GetValue(evalStrategy)!, "--eval-strategy"),
                    EvalSteps = p.GetValue(evalSteps),
                    SaveStrategy = ParseEnum<IntervalKind>(p.GetValue(saveStrategy)!, "--save-strategy"),
                    SaveSteps = p.GetValue(saveSteps),
                    SaveTotalLimit = p.GetValue(saveLimit),
                    EarlyStoppingPatience = p.GetValue(patience),
                    MetricForBest = p.GetValue(metricForBest),
                    LoggingSteps = p.GetValue(loggingSteps),
                    Seed = p.GetValue(seed),
                },
                TaskOptions = taskOptions.Bind(p, taskName),
                OutputDirectory = p.GetValue(output)!,
                Device = p.GetValue(device)!,
                Threads = p.GetValue(threads),
                Distributed = new DistributedOptions
                {
                    Backend = ParseEnum<DistributedBackend>(p.GetValue(distributed)!, "--distributed"),
                    ChecksumSteps = p.GetValue(checksumSteps),
                    TimeoutSeconds = p.GetValue(distributedTimeout),
                },
                ResumeFrom = p.GetValue(resume),
                Overwrite = p.GetValue(overwrite),
                Load = new ModelLoadOptions
                {
                    AllowPickle = p.GetValue(allowPickle),
                    IgnoreMismatchedSizes = p.GetValue(ignoreMismatched),
                    ClassifierPooling = ParsePooling(p.GetValue(pooling)!),
                },
            };
            return Run(request);
        });
        return command;
    }

    internal static int Run(FineTuneRequest request)
    {
        var reporter = new ConsoleReporter();
        // Ctrl+C (SIGINT) or SIGTERM (what `kill`, docker stop and systemd send) stops after the current step and
        // writes a checkpoint; a second one ends the process at once.
        using var interrupt = new CancellationTokenSource();
        bool Stop()
        {
            if (interrupt.IsCancellationRequested) return false;
            Console.Error.WriteLine("Stopping after this step (Ctrl+C again to quit at once) ...");
            interrupt.Cancel();
            return true;
        }
        ConsoleCancelEventHandler onCancel = (_, e) => e.Cancel = Stop();
        Console.CancelKeyPress += onCancel;
        using var onTerm = OperatingSystem.IsWindows() ? null : System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, c => c.Cancel = Stop());
        FineTuneResult result;
        try
        {
            result = reporter.Run(() => FineTuner.Train(request with
            {
                Callbacks = [reporter],
                Info = m => reporter.Info(FlagNames.InFlags(m)),
                Warning = m => reporter.Warn(FlagNames.InFlags(m)),
                Cancellation = interrupt.Token,
            }));
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        if (result.Rank != 0) return 0;   // rank 0 of a distributed run prints, as it writes
        Console.WriteLine();
        Output.PrintMetrics("validation", result.Validation);
        Output.PrintMetrics("test", result.Test);
        Console.WriteLine($"Model:   {result.ModelDirectory}");
        Console.WriteLine($"Report:  {Path.Combine(result.OutputDirectory, "report.html")}");
        Console.WriteLine($"Metrics: {Path.Combine(result.OutputDirectory, "metrics.json")}");
        Console.WriteLine($"Time:    {result.Elapsed:hh\\:mm\\:ss}");
        return 0;
    }

    /// <summary>The task of a name or alias (any case); an unknown one is an error listing the tasks.</summary>
    internal static string TaskName(string value) =>
        FineTuner.Tasks.FirstOrDefault(t => t.Aliases.Prepend(t.Name).Any(n => string.Equals(n, value, StringComparison.OrdinalIgnoreCase)))?.Name
        ?? throw new FineTuneException($"--task: expected {string.Join(", ", FineTuner.Tasks.Select(t => t.Aliases.Count > 0 ? $"{t.Name} ({string.Join(", ", t.Aliases)})" : t.Name))}, got '{value}'");

    private static string? ParsePooling(string value)
    {
        var pooling = value.ToLowerInvariant();
        if (pooling == "auto") return null;
        return EncoderConfig.SupportedPoolings.Contains(pooling)
            ? pooling
            : throw new FineTuneException($"--pooling: expected one of auto, {string.Join(", ", EncoderConfig.SupportedPoolings)}, got '{value}'");
    }

    internal static T ParseEnum<T>(string value, string option) where T : struct, Enum =>
        Enum.TryParse<T>(value.Replace("-", ""), ignoreCase: true, out var result) && Enum.IsDefined(result)
            ? result
            : throw new FineTuneException($"{option}: expected one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}, got '{value}'");
}

/// <summary>How the tool prints what the library returns.</summary>
internal static class Output
{
    public static void PrintMetrics(string split, IReadOnlyDictionary<string, double>? metrics)
    {
        if (metrics is null) return;
        Console.WriteLine($"{split} metrics:");
        foreach (var (k, v) in metrics.OrderBy(k => k.Key, StringComparer.Ordinal))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {k,-20} {v:0.0000}"));
    }

    /// <summary>The metrics of an evaluation, its per-class table, and the files written.</summary>
    public static void PrintEvaluation(EvaluationOutcome outcome)
    {
        PrintMetrics("test", outcome.Metrics);
        if (outcome.Details is { Count: > 0 } rows)
        {
            Console.WriteLine($"{outcome.DetailsTitle}:");
            foreach (var c in rows)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {c.Label,-20} precision {c.Precision:0.0000}  recall {c.Recall:0.0000}  f1 {c.F1:0.0000}  support {c.Support}"));
        }
        if (outcome.Files.Count > 0)
            Console.WriteLine($"Wrote {string.Join(", ", outcome.Files)}");
    }
}
