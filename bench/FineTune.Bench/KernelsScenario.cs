using FineTune.Configuration;
using FineTune.Modeling;
using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Bench;

/// <summary>
/// kernels: the pieces of one encoder layer at the training shape, each timed alone (forward, and forward +
/// backward), in fp32 and under bf16 autocast; with how many of each a training step of the model runs. It shows
/// where a step's time goes, and it is where SDPA and eager attention are compared per shape and dtype.
/// </summary>
internal static class KernelsScenario
{
    private sealed record Case(string Name, int PerStep, Func<Tensor> Forward, double Flops = 0);

    public static void Run(BenchArgs args)
    {
        int batch = args.Int("batch", 32), seq = args.Int("seq", 128);
        int reps = args.Int("reps", 7), warmup = args.Int("warmup", 2);
        var precisions = args.Strings("precision", "fp32", "bf16").Select(TrainStepScenario.ParsePrecision).ToList();
        var only = args.String("only");
        int? threads = args.OptionalInt("threads");
        KernelSwitches.Apply(args);
        s_kernels = KernelSwitches.Current;
        Dropout01 = new FastDropout(0.1, new KernelSwitch(s_kernels));
        ComposedDropout01 = new FastDropout(0.1, new KernelSwitch(s_kernels with { FusedResidualLayerNorm = false }));
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        var report = new Report("kernels");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("threads", torch.get_num_threads());
        report.Add("batch", batch);
        report.Add("seq", seq);
        KernelSwitches.Describe(report);

        const int h = 384, inter = 1536, heads = 12, d = h / heads, layers = 6, vocab = 30522;
        int tokens = batch * seq;
        foreach (var precision in precisions)
        {
            using var scope = NewDisposeScope();
            random.manual_seed(0);
            var x = randn(batch, seq, h).requires_grad_();
            var xi = randn(batch, seq, inter).requires_grad_();
            var q = randn(batch, heads, seq, d).requires_grad_();
            var k = randn(batch, heads, seq, d).requires_grad_();
            var v = randn(batch, heads, seq, d).requires_grad_();
            var scores = randn(batch, heads, seq, seq).requires_grad_();
            var scoresBf16 = randn(batch, heads, seq, seq).to(ScalarType.BFloat16).requires_grad_(); // as they arrive under autocast
            var mask = ones(batch, seq);
            mask[.., (seq * 3 / 4)..] = zeros(1); // a quarter padding
            var bias = (1.0 - mask).mul(finfo(ScalarType.Float32).min).view(batch, 1, 1, seq);
            var lin = Linear(h, h);
            var qkv = Linear(h, 3 * h);
            var up = Linear(h, inter);
            var down = Linear(inter, h);
            var ln = LayerNorm(h, eps: 1e-12);
            var xr = randn(batch, seq, h).requires_grad_();
            var emb = Embedding(vocab, h, padding_idx: 0);
            var ids = randint(1000, vocab, [batch, seq]);
            // per_step: how many of each op one training step of all-MiniLM-L6-v2 runs with the library's choices;
            // the alternatives it chose against have 0.
            var cases = new List<Case>
            {
                new("linear 384->1152 (fused q, k, v)", layers, () => qkv.call(x), 2.0 * tokens * h * 3 * h),
                new("linear 384->384 (attention out)", layers, () => lin.call(x), 2.0 * tokens * h * h),
                new("linear 384->384 x3 (separate q, k, v)", 0, () => lin.call(x) + lin.call(x) + lin.call(x), 3 * 2.0 * tokens * h * h),
                new("linear 384->1536 (up)", layers, () => up.call(x), 2.0 * tokens * h * inter),
                new("linear 1536->384 (down)", layers, () => down.call(xi), 2.0 * tokens * h * inter),
                new("attention: sdpa, no dropout", 0, () => functional.scaled_dot_product_attention(q, k, v, bias, 0.0), 4.0 * tokens * seq * h),
                new("attention: eager, no dropout", 0, () => EagerAttention(q, k, v, bias, 0.0, d), 4.0 * tokens * seq * h),
                new("attention: sdpa, dropout 0.1", 0, () => functional.scaled_dot_product_attention(q, k, v, bias, 0.1), 4.0 * tokens * seq * h),
                new("attention: eager, torch dropout 0.1", 0, () => EagerAttention(q, k, v, bias, 0.1, d), 4.0 * tokens * seq * h),
                new("attention: library (eager, fast dropout 0.1)", layers, () => LibraryAttention(q, k, v, bias, 0.1), 4.0 * tokens * seq * h),
                new("attention: library, probabilities composed (not fused)", 0, () => Unfused(() => LibraryAttention(q, k, v, bias, 0.1)), 4.0 * tokens * seq * h),
                new("probabilities: scale, bias, softmax, fast dropout 0.1", 0, () => Probabilities(scores, scoresBf16, bias, 0.1, d, fused: false)),
                new("probabilities: fused (SoftmaxDropout) 0.1", 0, () => Probabilities(scores, scoresBf16, bias, 0.1, d, fused: true)),
                new("gelu [B,T,1536]", layers, () => functional.gelu(xi)),
                new("layer_norm [B,T,384]", 1, () => ln.call(x)),
                new("dropout 0.1 [B,T,384], torch", 0, () => functional.dropout(x, 0.1, true)),
                new("dropout 0.1 [B,T,384], fast", 1, () => DropoutMask.Apply(x, 0.1)),
                new("add [B,T,384]", 0, () => x + x),
                new("block end: dropout, add, layer_norm (composed)", 0, () => BlockEnd(x, xr, ln, composed: true)),
                new("block end: fused (ResidualLayerNorm)", 2 * layers, () => BlockEnd(x, xr, ln, composed: false)),
                new("embedding 30522x384", 1, () => emb.call(ids)),
            };
            var rows = new List<IReadOnlyList<object?>>();
            double stepTotal = 0;
            foreach (var c in cases)
            {
                if (only is not null && !c.Name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
                double fwd = Stats.Median(Stats.Time(() =>
                {
                    using var s = NewDisposeScope();
                    using var _ = no_grad();
                    using (PrecisionScopes.For(precision, CPU)?.Invoke()) c.Forward();
                }, warmup, reps));
                double both = Stats.Median(Stats.Time(() =>
                {
                    using var s = NewDisposeScope();
                    Tensor y;
                    using (PrecisionScopes.For(precision, CPU)?.Invoke()) y = c.Forward();
                    y.backward([ones_like(y)]);
                }, warmup, reps));
                stepTotal += c.PerStep * both;
                rows.Add([c.Name, c.PerStep, fwd * 1e3, both * 1e3, c.Flops > 0 ? c.Flops / fwd / 1e9 : double.NaN,
                    c.Flops > 0 ? 3 * c.Flops / both / 1e9 : double.NaN, c.PerStep * both]);
            }
            report.Table($"{precision.ToString().ToLowerInvariant()}: one op at B={batch}, T={seq} (ms; GFLOP/s; seconds per training step)",
                ["op", "per_step", "fwd_ms", "fwd_bwd_ms", "fwd_gflops", "fwd_bwd_gflops", "step_s"], rows,
                jsonKey: "ops_" + precision.ToString().ToLowerInvariant());
            report.Add($"sum_of_ops_per_step_seconds_{precision.ToString().ToLowerInvariant()}", stepTotal);
        }
        report.Finish();
    }

    /// <summary>
    /// The end of a block as a layer has it: dropout of the projection (bf16 under autocast), the residual added,
    /// LayerNorm, and under autocast the result also as bf16 for the next linear layer; the sum of both is returned so
    /// that both get a gradient.
    /// </summary>
    private static Tensor BlockEnd(Tensor x, Tensor residual, TorchSharp.Modules.LayerNorm ln, bool composed)
    {
        var low = FineTune.Runtime.Autocast.LowPrecisionFor(TorchSharp.DeviceType.CPU);
        var branch = low is { } dt ? x.to(dt) : x;
        var dropout = composed ? ComposedDropout01 : Dropout01;
        var (y, yLow) = FineTune.Modeling.BlockEnd.Apply(branch, residual, ln, dropout, wantLow: true);
        var next = yLow ?? (low is { } d2 ? y.to(d2) : y);
        return y + next.to(y.dtype);
    }

    // Dropout with the command line's kernel choices (set in Run, after they are read), fused block end on and off.
    private static FastDropout Dropout01 = new(0.1);
    private static FastDropout ComposedDropout01 = new(0.1);

    /// <summary>The library's attention with its choices (eager with fast dropout in training; scores-dtype probabilities in bf16).</summary>
    private static Tensor LibraryAttention(Tensor q, Tensor k, Tensor v, Tensor bias, double dropout)
    {
        // Under autocast the projections hand bf16 q, k, v to attention; cast as they would arrive.
        bool bf16 = FineTune.Runtime.Autocast.IsEnabledFor(TorchSharp.DeviceType.CPU);
        return bf16
            ? FineTune.Modeling.Attention.Compute(q.to(ScalarType.BFloat16), k.to(ScalarType.BFloat16), v.to(ScalarType.BFloat16), bias, dropout, s_kernels)
            : FineTune.Modeling.Attention.Compute(q, k, v, bias, dropout, s_kernels);
    }

    /// <summary>Runs <paramref name="forward"/> with <see cref="KernelOptions.FusedSoftmaxDropout"/> off (its backward follows the graph it built).</summary>
    private static Tensor Unfused(Func<Tensor> forward)
    {
        var kernels = s_kernels;
        s_kernels = kernels with { FusedSoftmaxDropout = false };
        try
        {
            return forward();
        }
        finally
        {
            s_kernels = kernels;
        }
    }

    /// <summary>The kernel choices the library's attention runs with here (the command line's, or with the fused softmax off).</summary>
    private static KernelOptions s_kernels = KernelOptions.Default;

    /// <summary>The element-wise part of eager attention on [B, N, T, T] scores (in the scores' dtype under autocast, as the library has it): composed of libtorch's ops, or fused.</summary>
    private static Tensor Probabilities(Tensor scores, Tensor scoresBf16, Tensor bias, double dropout, int headSize, bool fused)
    {
        var s = FineTune.Runtime.Autocast.IsEnabledFor(TorchSharp.DeviceType.CPU) ? scoresBf16 : scores;
        if (fused) return SoftmaxDropout.Apply(s, bias, 1.0 / Math.Sqrt(headSize), dropout);
        var biased = s.mul(1.0 / Math.Sqrt(headSize)) + bias.to(s.dtype);
        return DropoutMask.Apply(functional.softmax(biased, -1), dropout);
    }

    /// <summary>Attention as Hugging Face's eager path computes it: scores, bias, softmax, dropout, context.</summary>
    internal static Tensor EagerAttention(Tensor q, Tensor k, Tensor v, Tensor bias, double dropout, int headSize, bool fastMask = false)
    {
        var scores = q.matmul(k.transpose(-1, -2)).div(Math.Sqrt(headSize)) + bias;    // [B, N, T, T]
        var probs = functional.softmax(scores, -1);
        if (dropout > 0) probs = fastMask ? DropoutMask.Apply(probs, dropout) : functional.dropout(probs, dropout, true);
        return probs.matmul(v);                                                          // [B, N, T, D]
    }
}
