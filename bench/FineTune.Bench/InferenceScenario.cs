using FineTune.Checkpoints;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Training;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// inference: examples/s of our encoder (last_hidden_state, in inference mode) and of ONNX Runtime running the
/// packaged ONNX file of the same model, on the same batch in the same process with the same threads.
/// </summary>
internal static class InferenceScenario
{
    public static void Run(BenchArgs args)
    {
        int batch = args.Int("batch", 32), seq = args.Int("seq", 128);
        int warmup = args.Int("warmup", 3), reps = args.Int("reps", 9);
        var precisions = args.Strings("precision", "fp32", "bf16").Select(TrainStepScenario.ParsePrecision).ToList();
        bool withOrt = args.Flag("vs-onnxruntime");
        int? threads = args.OptionalInt("threads");
        KernelSwitches.Apply(args);
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        int n = torch.get_num_threads();
        var report = new Report("inference");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("threads", n);
        report.Add("batch", batch);
        report.Add("seq", seq);
        KernelSwitches.Describe(report);

        var folder = ModelCatalog.Resolve(Workload.ModelName);
        var (encoder, _) = ModelFolder.LoadEncoder(folder);
        using var _ = encoder;
        encoder.eval();
        var input = Workload.RandomBatch(encoder.Config, batch, seq, seed: 3, withLabels: false);

        float[]? reference = null;
        double ortSeconds = double.NaN;
        if (withOrt)
        {
            var entry = ModelCatalog.Find(Workload.ModelName)!;
            var asm = PackagedModelAssembly.Find(entry.PackageId, entry.PackageVersion)
                ?? throw new InvalidOperationException($"package {entry.PackageId} {entry.PackageVersion} not found");
            using var options = new SessionOptions
            {
                IntraOpNumThreads = n,
                InterOpNumThreads = 1,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            };
            using var session = new InferenceSession(asm.ReadResource(asm.FindResource(".model.onnx")!), options);
            var ids = input.InputIds.data<long>().ToArray();
            var mask = input.AttentionMask.data<long>().ToArray();
            var types = input.TokenTypeIds!.data<long>().ToArray();
            var feeds = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, [batch, seq])),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, [batch, seq])),
                NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(types, [batch, seq])),
            };
            var times = Stats.Time(() =>
            {
                using var results = session.Run(feeds);
                reference ??= results.First(r => r.Name == "last_hidden_state").AsTensor<float>().ToArray();
            }, warmup, reps);
            ortSeconds = Stats.Median(times);
            report.Add("onnxruntime_version", typeof(InferenceSession).Assembly.GetName().Version?.ToString());
            report.Add("onnxruntime_seconds", ortSeconds);
            report.Add("onnxruntime_examples_per_second", batch / ortSeconds);
        }

        var rows = new List<IReadOnlyList<object?>>();
        foreach (var precision in precisions)
        {
            var scope = PrecisionScopes.For(precision, CPU);
            float[]? ours = null;
            var times = Stats.Time(() =>
            {
                using var s = NewDisposeScope();
                using var mode = inference_mode();
                torch.Tensor hidden;
                using (scope?.Invoke())
                    hidden = encoder.call(input).LastHiddenState;
                ours ??= hidden.to(ScalarType.Float32).data<float>().ToArray();
            }, warmup, reps);
            double seconds = Stats.Median(times);
            double maxDiff = reference is null ? double.NaN : ours!.Zip(reference).Max(p => Math.Abs(p.First - p.Second));
            string name = precision.ToString().ToLowerInvariant();
            rows.Add([name, seconds, batch / seconds, withOrt ? ortSeconds / seconds : double.NaN, maxDiff]);
            report.Json($"{name}_seconds", seconds);
            report.Json($"{name}_examples_per_second", batch / seconds);
            if (withOrt)
            {
                report.Json($"{name}_ratio_vs_onnxruntime", ortSeconds / seconds);
                report.Json($"{name}_max_abs_diff_vs_onnxruntime", maxDiff);
            }
        }
        report.Table("our encoder (ratio = our examples/s over ONNX Runtime's)", ["precision", "seconds", "examples_per_s", "ratio_vs_onnxruntime", "max_abs_diff"], rows);
        if (withOrt)
        {
            var best = rows.OrderByDescending(r => (double)r[3]!).First();
            report.Add("ratio_vs_onnxruntime", (double)best[3]!);
            report.Add("ratio_precision", best[0]);
        }
        report.Finish();
    }
}
