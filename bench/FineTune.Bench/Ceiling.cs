using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>
/// The machine's matrix-product ceiling for a dtype: the median rate of an n×n by n×n product (2n³ FLOPs) on the
/// threads in use, measured in the same process as what it is compared with.
/// </summary>
internal static class Ceiling
{
    public static double MatmulFlopsPerSecond(ScalarType dtype, int n = 2048, int warmup = 2, int reps = 7)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var a = randn(n, n).to(dtype);
        var b = randn(n, n).to(dtype);
        var times = Stats.Time(() => { using var c = a.matmul(b); }, warmup, reps);
        return 2.0 * n * n * n / Stats.Median(times);
    }
}
