using System.Diagnostics;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Tasks;
using FineTune.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace FineTune.Bench;

/// <summary>
/// onnx: an export's float32 and int8 models (finetune export --quantize int8) in ONNX Runtime, in the same process
/// with the same threads, alternating run by run: the median seconds per batch of each shape and their ratio, the
/// file sizes, and with a labelled file the accuracy (SST-2 TSV) or entity F1 (CoNLL) of each model.
/// </summary>
internal static class OnnxExportScenario
{
    public static void Run(BenchArgs args)
    {
        var export = args.String("export") ?? throw new ArgumentException("--export DIR (a folder written by finetune export --quantize int8) is required");
        var shapes = args.Strings("shapes", "1x24", "32x128").Select(s => s.Split('x').Select(int.Parse).ToArray()).ToList();
        int reps = args.Int("reps", 21), warmup = args.Int("warmup", 3), threads = args.Int("threads", 2);
        var sst2 = args.String("sst2");
        var conll = args.String("conll");
        var only = args.Strings("onnx", "fp32", "int8");
        args.CheckAllUsed();

        var report = new Report("onnx");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("export", export);
        report.Add("threads", threads);
        report.Add("onnxruntime_version", typeof(InferenceSession).Assembly.GetName().Version?.ToString());
        var files = only.ToDictionary(p => p, p => Path.Combine(export, "onnx", p == "int8" ? "model_quantized.onnx" : "model.onnx"));
        foreach (var (p, f) in files) report.Add($"{p}_bytes", new FileInfo(f).Length, $"{new FileInfo(f).Length / 1e6:0.0} MB");
        if (files.Count == 2) report.Add("int8_size_ratio", (double)new FileInfo(files["int8"]).Length / new FileInfo(files["fp32"]).Length);

        var sessions = files.ToDictionary(kv => kv.Key, kv => Session(kv.Value, threads));
        var tokenizer = Tokenizers.FromFolder(export);
        var rows = new List<IReadOnlyList<object?>>();
        foreach (var shape in shapes)
        {
            int b = shape[0], t = shape[1];
            var times = sessions.Keys.ToDictionary(k => k, _ => new List<double>());
            var feeds = sessions.ToDictionary(kv => kv.Key, kv => Feeds(kv.Value, b, t, tokenizer.VocabSize));
            for (int w = 0; w < warmup; w++)
                foreach (var (k, s) in sessions) s.Run(feeds[k]).Dispose();
            for (int r = 0; r < reps; r++)
                foreach (var (k, s) in sessions)
                {
                    var clock = Stopwatch.StartNew();
                    s.Run(feeds[k]).Dispose();
                    times[k].Add(clock.Elapsed.TotalSeconds);
                }
            var medians = times.ToDictionary(kv => kv.Key, kv => Stats.Median(kv.Value));
            foreach (var (k, m) in medians)
                rows.Add([$"{b}x{t}", k, $"{m * 1e3:0.00} ms", $"{b / m:0.0}", medians.TryGetValue("fp32", out var f) ? $"{f / m:0.00}x" : ""]);
        }
        report.Table("ONNX Runtime, median per batch (alternating runs)", ["batch x tokens", "model", "median", "examples/s", "speed-up vs fp32"], rows, "timings");

        if (sst2 is not null)
            foreach (var p in only)
            {
                using var classifier = FineTune.Onnx.TextClassifier.Load(export, new FineTune.Onnx.OnnxPredictorOptions { Precision = Precision(p), Threads = threads });
                var lines = File.ReadLines(sst2).Skip(1).Select(l => l.Split('\t')).Where(c => c.Length >= 2).ToList();
                var predictions = classifier.Predict(lines.Select(c => (c[0], (string?)null)).ToList());
                double accuracy = lines.Zip(predictions).Count(x => x.First[1].Trim() == x.Second.Label) / (double)lines.Count;
                report.Add($"sst2_accuracy_{p}", accuracy, $"{accuracy:0.0000} ({lines.Count} sentences)");
            }
        if (conll is not null)
            foreach (var p in only)
            {
                var f1 = EntityF1(export, files[p], conll, tokenizer, threads);
                report.Add($"conll_f1_{p}", f1, $"{f1:0.0000}");
            }
        report.Add("load_average_end", Machine.LoadAverage());
        report.Finish();
        foreach (var s in sessions.Values) s.Dispose();
    }

    private static FineTune.Onnx.OnnxPrecision Precision(string p) => p == "int8" ? FineTune.Onnx.OnnxPrecision.Int8 : FineTune.Onnx.OnnxPrecision.Fp32;

    private static InferenceSession Session(string file, int threads) => new(file, new SessionOptions
    {
        IntraOpNumThreads = threads,
        InterOpNumThreads = 1,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
    });

    private static List<NamedOnnxValue> Feeds(InferenceSession session, int b, int t, int vocab)
    {
        var random = new Random(3);
        var ids = Enumerable.Range(0, b * t).Select(i => (long)(i % t == 0 ? 101 : random.Next(1000, vocab))).ToArray();
        var feeds = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, [b, t])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, b * t).ToArray(), [b, t])),
        };
        if (session.InputMetadata.ContainsKey("token_type_ids"))
            feeds.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[b * t], [b, t])));
        return feeds;
    }

    /// <summary>
    /// Entity F1 (seqeval's, micro) of an export's model on a CoNLL file, scored as `finetune evaluate` scores the model
    /// folder: sentences tokenized as pre-split words (truncated to the trained length), each word tagged by its first
    /// sub-token, gold tags converted to the model's scheme.
    /// </summary>
    private static double EntityF1(string export, string file, string conll, ITokenizer tokenizer, int threads)
    {
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(export, "config.json")))!;
        var tags = Enumerable.Range(0, config["id2label"]!.AsObject().Count).Select(i => (string)config["id2label"]![i.ToString()]!).ToList();
        int maxLength = (int?)config["finetune"]!["max_length"] ?? 512;
        var labels = new TokenLabelMap(tags);
        var data = ConllReader.Load(conll, new ConllReadOptions { TargetScheme = labels.Scheme, Labels = labels });
        var (features, _) = TokenClassificationFeatures.Build(data.Examples, tokenizer, labels, maxLength);
        using var session = Session(file, threads);
        var metrics = new EntityMetrics();
        foreach (var batch in features.Chunk(32))
        {
            int b = batch.Length, t = batch.Max(f => f.Length), c = tags.Count;
            var ids = new long[b * t];
            var mask = new long[b * t];
            Array.Fill(ids, tokenizer.PaddingTokenId);
            for (int r = 0; r < b; r++)
                for (int j = 0; j < batch[r].Length; j++) { ids[r * t + j] = batch[r].InputIds[j]; mask[r * t + j] = 1; }
            var feeds = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, [b, t])),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, [b, t])),
            };
            if (session.InputMetadata.ContainsKey("token_type_ids"))
                feeds.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[b * t], [b, t])));
            using var results = session.Run(feeds);
            var logits = results.First().AsTensor<float>().ToArray();
            for (int r = 0; r < b; r++)
            {
                var example = data.Examples[batch[r].ExampleIndex];
                var predicted = Enumerable.Repeat(TagSchemes.Outside, example.Words.Count).ToArray();
                var seen = new bool[example.Words.Count];
                for (int j = 0; j < batch[r].Length; j++)
                    if (batch[r].WordIds[j] is int w && !seen[w])
                    {
                        seen[w] = true;
                        predicted[w] = tags[SequenceScores.Softmax(logits.AsSpan((r * t + j) * c, c)).Best];
                    }
                metrics.Add(example.Tags, predicted);
            }
        }
        return metrics.F1;
    }
}
