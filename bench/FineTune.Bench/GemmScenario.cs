using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// gemm: the rate of the matrix products one training step of all-MiniLM-L6-v2 runs, at their own shapes (forward,
/// input gradient, weight gradient), next to the n×n×n product the train-step scenario takes as its ceiling. It shows
/// how much of the ceiling a step's products can reach at all: small inner dimensions (384) keep the products of this
/// model well below the square product's rate.
/// </summary>
internal static class GemmScenario
{
    public static void Run(BenchArgs args)
    {
        int batch = args.Int("batch", 32), seq = args.Int("seq", 128);
        int reps = args.Int("reps", 9), warmup = args.Int("warmup", 3);
        var dtypes = args.Strings("precision", "bf16", "fp32").Select(Dtypes.Parse).ToList();
        int? threads = args.OptionalInt("threads");
        args.CheckAllUsed();
        TorchRuntime.SetThreads(threads);
        var report = new Report("gemm");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("threads", torch.get_num_threads());
        report.Add("batch", batch);
        report.Add("seq", seq);

        const int h = 384, inter = 1536, heads = 12, d = h / heads, layers = 6;
        int m = batch * seq;
        // (name, rows, inner, columns, weight transposed as nn.Linear stores it, how many per training step)
        var shapes = new List<(string Name, int M, int K, int N, bool TransB, int PerStep)>
        {
            ("square 2048 (ceiling)", 2048, 2048, 2048, false, 0),
            ("q,k,v forward", m, h, 3 * h, true, layers),
            ("q,k,v input grad", m, 3 * h, h, false, layers),
            ("q,k,v weight grad", 3 * h, m, h, false, layers),
            ("attn out forward", m, h, h, true, layers),
            ("attn out input grad", m, h, h, false, layers),
            ("attn out weight grad", h, m, h, false, layers),
            ("up forward", m, h, inter, true, layers),
            ("up input grad", m, inter, h, false, layers),
            ("up weight grad", inter, m, h, false, layers),
            ("down forward", m, inter, h, true, layers),
            ("down input grad", m, h, inter, false, layers),
            ("down weight grad", h, m, inter, false, layers),
        };
        var rows = new List<IReadOnlyList<object?>>();
        foreach (var dtype in dtypes)
        {
            string dt = dtype == ScalarType.BFloat16 ? "bf16" : "fp32";
            double stepFlops = 0, stepSeconds = 0, squareRate = 0;
            foreach (var (name, M, K, N, transB, perStep) in shapes)
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var a = randn(M, K).to(dtype);
                var b = transB ? randn(N, K).to(dtype) : randn(K, N).to(dtype);
                var bt = transB ? b.t() : b;
                var times = Stats.Time(() => { using var c = a.matmul(bt); }, warmup, reps);
                double flops = 2.0 * M * K * N, seconds = Stats.Median(times), rate = flops / seconds;
                if (perStep == 0) squareRate = rate;
                stepFlops += perStep * flops;
                stepSeconds += perStep * seconds;
                rows.Add([dt, name, $"{M}x{K}x{N}", perStep, seconds * 1e3, rate / 1e9]);
            }
            // The attention products: scores = q·kᵀ and context = p·v per head, and their gradients (two each).
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var q = randn(batch * heads, seq, d).to(dtype);
                var kt = randn(batch * heads, d, seq).to(dtype);
                var times = Stats.Time(() => { using var c = q.bmm(kt); }, warmup, reps);
                double flops = 2.0 * batch * heads * seq * seq * d, seconds = Stats.Median(times);
                int perStep = 6 * layers; // two products forward, four backward, each of this size
                stepFlops += perStep * flops;
                stepSeconds += perStep * seconds;
                rows.Add([dt, "attention q·kᵀ (batched)", $"{batch * heads}x{seq}x{d}x{seq}", perStep, seconds * 1e3, flops / seconds / 1e9]);
            }
            double stepRate = stepFlops / stepSeconds;
            report.Add($"square_gflops_{dt}", squareRate / 1e9);
            report.Add($"step_products_seconds_{dt}", stepSeconds);
            report.Add($"step_products_gflops_{dt}", stepRate / 1e9);
            report.Add($"step_products_over_square_{dt}", stepRate / squareRate);
        }
        report.Table("matrix products at the training step's shapes (ms; GFLOP/s)", ["dtype", "product", "shape", "per_step", "ms", "gflops"], rows);
        report.Finish();
    }
}
