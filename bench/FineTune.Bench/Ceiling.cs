using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// The machine's matrix-product ceiling for a dtype: the rate of an n×n by n×n product (2n³ FLOPs) on the threads in
/// use, measured in the same process as what it is compared with.
/// The rate on these machines is not one number: the bf16 product (AMX) switches between about 600–750 and about
/// 1,300–1,600 GFLOP/s within a second, and the products at the model's own shapes switch with it (the
/// <c>ceiling</c> scenario prints the timeline). A ceiling measured once before or after the steps lands in one
/// regime while the steps span both; <see cref="Sampler"/> takes a short sample before every step instead, so that the
/// ceiling and the steps see the same mixture.
/// </summary>
internal static class Ceiling
{
    public const int N = 2048;

    /// <summary>Short ceiling samples taken between the measured steps (one product to warm the caches, then the median of three).</summary>
    public sealed class Sampler : IDisposable
    {
        private readonly Tensor _a, _b;
        private readonly int _n;

        public Sampler(ScalarType dtype, int n = N)
        {
            _n = n;
            using var _ = no_grad();
            using var a = randn(n, n);
            using var b = randn(n, n);
            _a = a.to(dtype);
            _b = b.to(dtype);
        }

        public List<double> Samples { get; } = [];

        /// <summary>Takes one sample (FLOP/s) and keeps it.</summary>
        public double Sample()
        {
            using var _ = no_grad();
            var times = Stats.Time(() => { using var c = _a.matmul(_b); }, 1, 3);
            double rate = 2.0 * _n * _n * _n / Stats.Median(times);
            Samples.Add(rate);
            return rate;
        }

        public void Dispose()
        {
            _a.Dispose();
            _b.Dispose();
        }
    }
}
