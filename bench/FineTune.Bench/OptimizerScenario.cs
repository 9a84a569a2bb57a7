using FineTune.Runtime;
using FineTune.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// optimizer: the time of the optimizer's part of a training step on all-MiniLM-L6-v2's 22.7 M parameters
/// (normalise the summed gradients, clip to norm 1, AdamW step with decay groups), for FusedAdamW's one-pass kernels,
/// FusedAdamW on libtorch's element-wise kernels, and TorchSharp's AdamW (a managed loop over parameters, with
/// torch.nn.utils.clip_grad_norm_).
/// </summary>
internal static class OptimizerScenario
{
    public static void Run(BenchArgs args)
    {
        int reps = args.Int("reps", 15), warmup = args.Int("warmup", 3);
        int? threads = args.OptionalInt("threads");
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        var report = new Report("optimizer");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("threads", torch.get_num_threads());

        var rows = new List<IReadOnlyList<object?>>();
        var medians = new Dictionary<string, double>();
        long parameters = 0;
        foreach (var variant in new[] { "fused, one-pass kernels", "fused, one-pass, lazy embedding rows", "fused, libtorch kernels", "torchsharp AdamW" })
        {
            using var scope = NewDisposeScope();
            random.manual_seed(1);
            using var model = Workload.LoadClassifier();
            var named = model.named_parameters().ToList();
            parameters = named.Sum(p => p.parameter.NumberOfElements);
            // As in training: embedding matrices get gradient only in the rows of the batch's tokens (32 x 128 here).
            var ids = randint(0, model.Config.VocabSize, [32 * 128]);
            var gradients = named.Select(p =>
            {
                var g = randn(p.parameter.shape) * 1e-3;
                if (p.name.EndsWith("word_embeddings.weight", StringComparison.Ordinal))
                {
                    var rows = zeros(p.parameter.shape[0]).index_fill_(0, ids, 1.0).unsqueeze(1);
                    g = g * rows;
                }
                return g;
            }).ToList();
            Action step;
            IDisposable optimizer;
            if (variant.StartsWith("fused", StringComparison.Ordinal))
            {
                bool flat = variant.Contains("one-pass", StringComparison.Ordinal);
                var fused = new FusedAdamW(named, 5e-5, 0.01, lazyEmbeddingRows: variant.Contains("lazy", StringComparison.Ordinal));
                optimizer = fused;
                step = () =>
                {
                    FusedAdamW.FlatKernelsEnabled = flat;
                    using (no_grad())
                        for (int i = 0; i < named.Count; i++) named[i].parameter.grad!.copy_(gradients[i]);
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    fused.ScaleGradients(1.0 / 32);
                    fused.ClipGradNorm(1.0);
                    fused.Step();
                    _lastSeconds = sw.Elapsed.TotalSeconds;
                };
            }
            else
            {
                var (decay, noDecay) = ParameterGroups.Split(named);
                var adamw = optim.AdamW([
                    new AdamW.ParamGroup(decay.Select(p => p.Parameter), new AdamW.Options { LearningRate = 5e-5, weight_decay = 0.01 }),
                    new AdamW.ParamGroup(noDecay.Select(p => p.Parameter), new AdamW.Options { LearningRate = 5e-5, weight_decay = 0.0 }),
                ], 5e-5);
                optimizer = adamw;
                step = () =>
                {
                    using (no_grad())
                        for (int i = 0; i < named.Count; i++) named[i].parameter.grad = gradients[i].clone();
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    using (no_grad())
                        foreach (var (_, p) in named) p.grad!.mul_(1.0 / 32);
                    nn.utils.clip_grad_norm_(named.Select(p => p.parameter), 1.0);
                    adamw.step();
                    _lastSeconds = sw.Elapsed.TotalSeconds;
                };
            }
            var times = new List<double>();
            for (int i = 0; i < warmup + reps; i++)
            {
                using var stepScope = NewDisposeScope();
                step();
                if (i >= warmup) times.Add(_lastSeconds);
            }
            FusedAdamW.FlatKernelsEnabled = true;
            optimizer.Dispose();
            medians[variant] = Stats.Median(times);
            rows.Add([variant, Stats.Median(times) * 1e3, Stats.Min(times) * 1e3]);
        }
        report.Table("normalise + clip + AdamW step over all parameters (ms)", ["optimizer", "median_ms", "min_ms"], rows, jsonKey: "variants");
        report.Add("parameters", parameters);
        report.Add("fused_one_pass_seconds", medians["fused, one-pass kernels"]);
        report.Add("fused_one_pass_lazy_rows_seconds", medians["fused, one-pass, lazy embedding rows"]);
        report.Add("fused_libtorch_seconds", medians["fused, libtorch kernels"]);
        report.Add("torchsharp_adamw_seconds", medians["torchsharp AdamW"]);
        report.Add("speedup_vs_torchsharp", medians["torchsharp AdamW"] / medians["fused, one-pass kernels"]);
        report.Finish();
    }

    private static double _lastSeconds;
}
