using System.Numerics;
using System.Runtime.CompilerServices;

namespace FineTune.Training;

/// <summary>
/// The optimizer's element-wise work over flat fp32 buffers, as single passes over memory on all threads. libtorch
/// does an AdamW step as about ten kernels, each reading and writing whole buffers (22.7 M values for MiniLM); here
/// it is one pass that reads the parameter, gradient and both moments once and writes them once. Each value is
/// computed with the same float operations in the same order as torch.optim.AdamW's single-tensor path.
/// </summary>
internal static unsafe class FlatKernels
{
    public readonly record struct AdamWArgs(float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2,
        float DecayFactor, float BiasCorrection2Sqrt, float Eps, float StepSize);

    /// <summary>
    /// p ← p·decay; m ← m·β1 + (1−β1)·g; v ← v·β2 + (1−β2)·g·g; p ← p + stepSize·m / (√v / bc2 + ε), with stepSize = −lr / bc1.
    /// </summary>
    public static void AdamW(float* p, float* g, float* m, float* v, long n, AdamWArgs a) =>
        ForRanges(n, (start, end) => AdamWRange(p, g, m, v, start, end, a));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AdamWRange(float* p, float* g, float* m, float* v, long start, long end, AdamWArgs a)
    {
        long i = start;
        if (Vector.IsHardwareAccelerated)
        {
            var beta1 = new Vector<float>(a.Beta1);
            var oneMinusBeta1 = new Vector<float>(a.OneMinusBeta1);
            var beta2 = new Vector<float>(a.Beta2);
            var oneMinusBeta2 = new Vector<float>(a.OneMinusBeta2);
            var decay = new Vector<float>(a.DecayFactor);
            var bc2 = new Vector<float>(a.BiasCorrection2Sqrt);
            var eps = new Vector<float>(a.Eps);
            var stepSize = new Vector<float>(a.StepSize);
            for (; i + Vector<float>.Count <= end; i += Vector<float>.Count)
            {
                var gi = Vector.Load(g + i);
                var pi = Vector.Load(p + i) * decay;
                var mi = Vector.Load(m + i) * beta1 + oneMinusBeta1 * gi;
                var vi = Vector.Load(v + i) * beta2 + oneMinusBeta2 * gi * gi;
                var denominator = Vector.SquareRoot(vi) / bc2 + eps;
                pi += stepSize * mi / denominator;
                mi.Store(m + i);
                vi.Store(v + i);
                pi.Store(p + i);
            }
        }
        for (; i < end; i++)
        {
            float gi = g[i];
            float pi = p[i] * a.DecayFactor;
            float mi = m[i] * a.Beta1 + a.OneMinusBeta1 * gi;
            float vi = v[i] * a.Beta2 + a.OneMinusBeta2 * gi * gi;
            float denominator = MathF.Sqrt(vi) / a.BiasCorrection2Sqrt + a.Eps;
            pi += a.StepSize * mi / denominator;
            m[i] = mi;
            v[i] = vi;
            p[i] = pi;
        }
    }

    /// <summary>
    /// <see cref="AdamW"/> over <paramref name="rows"/> rows of <paramref name="width"/> values, skipping every row
    /// whose gradient is all zero (its parameter and moments are left as they are).
    /// </summary>
    public static void LazyRowsAdamW(float* p, float* g, float* m, float* v, long rows, long width, AdamWArgs a) =>
        ForRanges(rows, Ranges(rows * width), (start, end, _) =>
        {
            for (long r = start; r < end; r++)
            {
                long o = r * width;
                if (!IsZero(g + o, width)) AdamWRange(p + o, g + o, m + o, v + o, 0, width, a);
            }
        });

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool IsZero(float* x, long n)
    {
        long i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
                if (!Vector.EqualsAll(Vector.Load(x + i), Vector<float>.Zero)) return false;
        for (; i < n; i++)
            if (x[i] != 0) return false;
        return true;
    }

    /// <summary>x ← x·factor.</summary>
    public static void Scale(float* x, long n, float factor) => ForRanges(n, (start, end) => ScaleRange(x, start, end, factor));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaleRange(float* x, long start, long end, float factor)
    {
        long i = start;
        if (Vector.IsHardwareAccelerated)
        {
            var f = new Vector<float>(factor);
            for (; i + Vector<float>.Count <= end; i += Vector<float>.Count)
                (Vector.Load(x + i) * f).Store(x + i);
        }
        for (; i < end; i++) x[i] *= factor;
    }

    /// <summary>Σ x² accumulated in double (per vector lane, then per range).</summary>
    public static double SumOfSquares(float* x, long n)
    {
        var partial = new double[Ranges(n)];
        ForRanges(n, (start, end, index) => partial[index] = SumOfSquaresRange(x, start, end));
        return partial.Sum();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumOfSquaresRange(float* x, long start, long end)
    {
        double total = 0;
        long i = start;
        if (Vector.IsHardwareAccelerated)
        {
            // Float partial sums over blocks short enough to stay exact to ~1e-7, then added in double.
            const int Block = 1024;
            while (i + Block <= end)
            {
                var acc = Vector<float>.Zero;
                for (long j = i; j < i + Block; j += Vector<float>.Count)
                {
                    var xi = Vector.Load(x + j);
                    acc += xi * xi;
                }
                total += Vector.Sum(acc);
                i += Block;
            }
        }
        for (; i < end; i++) total += (double)x[i] * x[i];
        return total;
    }

    private const long MinimumPerThread = 1 << 16;

    private static int Ranges(long n) =>
        (int)Math.Max(1, Math.Min(TorchSharp.torch.get_num_threads(), n / MinimumPerThread));

    private static void ForRanges(long n, Action<long, long> body) => ForRanges(n, Ranges(n), (s, e, _) => body(s, e));

    private static void ForRanges(long n, Action<long, long, int> body) => ForRanges(n, Ranges(n), body);

    /// <summary>Splits [0, n) into <paramref name="ranges"/> ranges (boundaries on 64-element multiples) and runs them in parallel.</summary>
    private static void ForRanges(long n, int ranges, Action<long, long, int> body)
    {
        if (ranges == 1)
        {
            body(0, n, 0);
            return;
        }
        long per = ((n + ranges - 1) / ranges + 63) & ~63L;
        Parallel.For(0, ranges, new ParallelOptions { MaxDegreeOfParallelism = ranges },
            r => body(Math.Min(n, r * per), Math.Min(n, (r + 1) * per), r));
    }
}
