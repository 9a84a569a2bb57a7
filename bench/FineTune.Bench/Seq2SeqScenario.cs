using System.Diagnostics;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Tasks;
using FineTune.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// seq2seq: the encoder-decoder warm-started from all-MiniLM-L6-v2 (both halves) on real Multi30k German → English
/// pairs: training examples/s in fp32 and bf16 (steps of the two alternating, so both see the same load; medians and
/// their ratio), generation sentences/s greedy and with beam search (with the key/value cache, and without it for
/// comparison; of a fine-tuned model given with --generator), the same generation on ONNX Runtime from that model's
/// export (--export: fp32, and int8 where it was exported with it; how many outputs are the same as TorchSharp's), and
/// the process's peak RSS. --skip-training times generation only; --copy also trains the model with a copy layer
/// (--copy-from-source), its steps alternating with the plain model's, for the layer's cost.
/// </summary>
internal static class Seq2SeqScenario
{
    public static void Run(BenchArgs args)
    {
        int batch = args.Int("batch", 32), reps = args.Int("reps", 6), warmup = args.Int("warmup", 2);
        int sentences = args.Int("sentences", 64), beams = args.Int("beams", 4), maxNew = args.Int("max-new-tokens", 40);
        var precisions = args.Strings("precision", "fp32", "bf16").Select(TrainStepScenario.ParsePrecision).ToList();
        string data = args.String("data", Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "..", "..", "shared", "data", "multi30k"));
        int? threads = args.OptionalInt("threads");
        bool skipNoCache = args.Flag("skip-no-cache");
        string? trained = args.String("generator");
        string? export = args.String("export");
        bool skipTraining = args.Flag("skip-training");
        bool copy = args.Flag("copy");
        args.CheckAllUsed();
        if (export is not null && trained is null) throw new ArgumentException("--export: give the model it was exported from with --generator");
        TorchRuntime.SetThreads(threads);
        var report = new Report("seq2seq");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("threads", torch.get_num_threads());
        report.Add("batch", batch);

        var folder = ModelCatalog.Resolve(Workload.ModelName);
        var tokenizer = Tokenizers.FromFolder(folder);
        var (pairs, _) = ParallelText.ReadFiles(Path.Combine(data, "train.de.gz"), Path.Combine(data, "train.en.gz"), skipInvalid: false);
        var (test, _) = ParallelText.ReadFiles(Path.Combine(data, "test_2016_flickr.de.gz"), Path.Combine(data, "test_2016_flickr.en.gz"), skipInvalid: false);
        // Batches of consecutive training pairs (a realistic mix of lengths), the same for every precision.
        var (features, _, _, sourceStats, targetStats) = Seq2SeqFeatures.Build(pairs.Take(batch * 4).ToList(), tokenizer, tokenizer, 128, 64);
        var batches = features.Chunk(batch).Select(c => Seq2SeqFeatures.Collate(c, tokenizer.PaddingTokenId, CPU)).ToList();
        report.Add("source_tokens_per_example", sourceStats.TokensPerText + 2);
        report.Add("target_tokens_per_example", targetStats.TokensPerText + 1);

        var config = new EncoderDecoderConfig
        {
            Encoder = ModelFolder.LoadConfig(folder),
            Decoder = EncoderDecoderConfig.AsDecoder(ModelFolder.LoadConfig(folder)),
            DecoderStartTokenId = Seq2SeqFeatures.StartToken(tokenizer),
            EosTokenId = Seq2SeqFeatures.EndToken(tokenizer),
            PadTokenId = tokenizer.PaddingTokenId,
        };

        // Training: one model per precision (and with --copy, per precision with and without a copy layer; each with
        // its own optimizer), steps alternating.
        var steps = new List<(string Variant, TrainStep Step)>();
        foreach (var precision in skipTraining ? [] : precisions)
            foreach (var copying in copy ? new[] { false, true } : [false])
            {
                random.manual_seed(1);
                var (model, _) = EncoderDecoderFolder.WarmStart(folder, folder, config with { CopyFromSource = copying }, KernelSwitches.Current, new ModelLoadOptions(), fromScratch: false);
                model.Loss = new CrossEntropyLoss(labelSmoothing: 0.1);
                steps.Add((precision.ToString().ToLowerInvariant() + (copying ? "_copy" : ""), new TrainStep(model, precision)));
            }
        if (steps.Count > 0) report.Add("parameters", steps[0].Step.Model.parameters().Sum(p => p.NumberOfElements));
        foreach (var (_, step) in steps)
            for (int i = 0; i < warmup; i++) step.Run(batches[i % batches.Count]);
        var times = steps.ToDictionary(s => s.Variant, _ => new List<double>());
        var rows = new List<IReadOnlyList<object?>>();
        for (int i = 0; i < reps; i++)
            foreach (var (variant, step) in i % 2 == 0 ? steps : Enumerable.Reverse(steps))
            {
                double t = step.Run(batches[i % batches.Count]);
                times[variant].Add(t);
                rows.Add([i + 1, variant, t, batch / t]);
            }
        if (rows.Count > 0) report.Table("training steps (alternating precisions and models)", ["rep", "model", "step_s", "examples_per_s"], rows);
        foreach (var (variant, list) in times)
            report.Add($"train_examples_per_second_{variant}", batch / Stats.Median(list));
        if (times.ContainsKey("fp32") && times.ContainsKey("bf16"))
            report.Add("bf16_speedup", Stats.Median(times["fp32"]) / Stats.Median(times["bf16"]));
        foreach (var variant in times.Keys.Where(v => v.EndsWith("_copy", StringComparison.Ordinal)).ToList())
            report.Add($"copy_layer_step_ratio_{variant[..^5]}", Stats.Median(times[variant]) / Stats.Median(times[variant[..^5]]));
        foreach (var (_, step) in steps)
        {
            step.Model.Dispose();
            step.Dispose();
        }

        // Generation with a fine-tuned model (--generator: a translation run's model/), else with the warm-started one
        // (which has not learnt to stop, so every output runs to --max-new-tokens).
        random.manual_seed(1);
        using var generator = trained is not null
            ? EncoderDecoderFolder.Load(trained, KernelSwitches.Current, new ModelLoadOptions())
            : EncoderDecoderFolder.WarmStart(folder, folder, config, KernelSwitches.Current, new ModelLoadOptions(), fromScratch: false).Model;
        report.Add("generator", trained ?? "warm start, untrained");

        // Generation over the first test sentences, in the first precision.
        var sources = Seq2SeqFeatures.Sources(test.Take(sentences).Select(p => p.Source).ToList(), tokenizer, 128, out _);
        var genRows = new List<IReadOnlyList<object?>>();
        var modes = new List<(string Name, GenerationSettings Settings)> { ("greedy", new(1, MaxNewTokens: maxNew)), ($"beam{beams}", new(beams, MaxNewTokens: maxNew)) };
        if (!skipNoCache)
            modes.Add(($"beam{beams}-no-cache", new(beams, MaxNewTokens: maxNew, UseCache: false)));
        var precisionScope = PrecisionScopes.For(precisions[0], CPU);
        var torchIds = new Dictionary<string, int[][]>();
        foreach (var (name, settings) in modes)
        {
            var sw = Stopwatch.StartNew();
            var ids = Seq2SeqGeneration.Run(generator, sources, settings, batch, tokenizer.PaddingTokenId, CPU, precisionScope);
            double seconds = sw.Elapsed.TotalSeconds;
            torchIds[name] = ids;
            genRows.Add([name, $"torchsharp {precisions[0].ToString().ToLowerInvariant()}", sources.Count, seconds, sources.Count / seconds, ids.Average(o => o.Length), sources.Count]);
            report.Add($"generate_sentences_per_second_{name.Replace('-', '_')}", sources.Count / seconds);
        }
        // The same generation on ONNX Runtime from the model's export: fp32, and int8 when the export has it.
        if (export is not null)
        {
            bool hasInt8 = File.Exists(Path.Combine(export, "onnx", "encoder_model_quantized.onnx"));
            foreach (var int8 in hasInt8 ? new[] { false, true } : [false])
            {
                using var exported = FineTune.Inference.ExportedSeq2Seq.Open(export, int8, threads, "--threads");
                string runtime = $"onnxruntime {(int8 ? "int8" : "fp32")}";
                foreach (var (name, settings) in modes.Where(m => m.Settings.UseCache))
                {
                    var sw = Stopwatch.StartNew();
                    var ids = exported.Generate(sources.Select(f => f.InputIds).ToList(), settings, batch);
                    double seconds = sw.Elapsed.TotalSeconds;
                    int same = ids.Zip(torchIds[name]).Count(p => p.First.SequenceEqual(p.Second));
                    genRows.Add([name, runtime, sources.Count, seconds, sources.Count / seconds, ids.Average(o => o.Length), same]);
                    report.Add($"generate_sentences_per_second_{name.Replace('-', '_')}_onnx_{(int8 ? "int8" : "fp32")}", sources.Count / seconds);
                    report.Add($"same_as_torchsharp_{name.Replace('-', '_')}_onnx_{(int8 ? "int8" : "fp32")}", same);
                }
            }
        }
        report.Table($"generation of {sources.Count} test sentences (batches of {batch})",
            ["mode", "runtime", "sentences", "seconds", "sentences_per_s", "tokens_per_sentence", "same_as_torchsharp"], genRows);
        report.Add("peak_rss_gib", Machine.GiB(Machine.PeakRssBytes()));
        report.Add("load_average_end", Machine.LoadAverage());
        report.Finish();
    }
}
