using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineTune.Training;

/// <summary>
/// AdamW (decoupled weight decay, Loshchilov &amp; Hutter) over flat buffers. At construction every trainable
/// parameter is moved into one contiguous buffer per group (decay / no decay) and left as a view of it; its
/// gradient is likewise a view of one flat gradient buffer. An optimizer step is then one pass over each buffer
/// (<see cref="FlatKernels"/>, for fp32 on the CPU; libtorch's element-wise kernels otherwise) instead of a managed
/// loop of kernels per parameter, and clipping needs one norm. Results equal torch.optim.AdamW's (tested against
/// TorchSharp's AdamW).
/// </summary>
internal sealed class FusedAdamW : IDisposable
{
    private sealed class Group(string name, double weightDecay, List<(string Name, Parameter Parameter, long Offset)> members,
        Tensor values, Tensor grads, Tensor expAvg, Tensor expAvgSq)
    {
        public string Name { get; } = name;
        public double WeightDecay { get; } = weightDecay;
        public List<(string Name, Parameter Parameter, long Offset)> Members { get; } = members;
        public Tensor Values { get; } = values;
        public Tensor Grads { get; } = grads;
        public Tensor ExpAvg { get; } = expAvg;
        public Tensor ExpAvgSq { get; } = expAvgSq;
    }

    private readonly List<Group> _groups = [];
    private readonly double _beta1, _beta2, _eps;

    /// <summary>Steps taken so far (Adam's t).</summary>
    public long StepCount { get; private set; }

    /// <summary>The learning rate of the next step (the trainer sets it from the schedule).</summary>
    public double LearningRate { get; set; }

    /// <param name="lazyEmbeddingRows">
    /// Skip the rows of embedding matrices whose gradient is zero in a step (no moment decay, no weight decay, no
    /// update), as TensorFlow's LazyAdam does: less work per step (most of a vocabulary is absent from a batch), but
    /// different results from AdamW, whose moments keep moving those rows. Off by default.
    /// </param>
    public FusedAdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, double learningRate, double weightDecay,
        double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, bool lazyEmbeddingRows = false)
    {
        LazyEmbeddingRows = lazyEmbeddingRows;
        LearningRate = learningRate;
        _beta1 = beta1;
        _beta2 = beta2;
        _eps = eps;
        var (decay, noDecay) = ParameterGroups.Split(parameters);
        if (decay.Count > 0) _groups.Add(Flatten("decay", weightDecay, decay));
        if (noDecay.Count > 0) _groups.Add(Flatten("no_decay", 0.0, noDecay));
    }

    /// <summary>Whether rows of embedding matrices without gradient are skipped (see the constructor).</summary>
    public bool LazyEmbeddingRows { get; }

    /// <summary>The number of trainable values in the decay and no-decay groups.</summary>
    public IReadOnlyDictionary<string, long> GroupSizes => _groups.ToDictionary(g => g.Name, g => g.Values.NumberOfElements);

    private static Group Flatten(string name, double weightDecay, List<(string Name, Parameter Parameter)> parameters)
    {
        long total = parameters.Sum(p => p.Parameter.NumberOfElements);
        var first = parameters[0].Parameter;
        var values = empty(total, dtype: first.dtype, device: first.device);
        var grads = zeros(total, dtype: first.dtype, device: first.device);
        var members = new List<(string, Parameter, long)>();
        long offset = 0;
        using (no_grad())
        {
            foreach (var (pname, p) in parameters)
            {
                long n = p.NumberOfElements;
                using (var slot = values.narrow(0, offset, n))
                using (var detached = p.detach())
                using (var flat = detached.reshape(-1))
                    slot.copy_(flat);
                using (var view = values.narrow(0, offset, n).view(p.shape))
                    p.set_(view);
                // The gradient is a view of the flat buffer. Autograd accumulates into an existing .grad in place
                // when nothing else holds it, so our handle is released right after assigning it.
                using (var gradView = grads.narrow(0, offset, n).view(p.shape))
                    p.grad = gradView;
                members.Add((pname, p, offset));
                offset += n;
            }
        }
        return new Group(name, weightDecay, members, values, grads, zeros_like(values), zeros_like(values));
    }

    /// <summary>The flat gradient buffer of each group (the parameters' .grad are views of them).</summary>
    public IReadOnlyList<Tensor> GradientBuffers => _groups.Select(g => g.Grads).ToList();

    /// <summary>The flat parameter buffer of each group (the parameters are views of them).</summary>
    public IReadOnlyList<Tensor> ParameterBuffers => _groups.Select(g => g.Values).ToList();

    /// <summary>Zeroes the flat gradient buffers (the parameters' .grad views stay in place).</summary>
    public void ZeroGrad()
    {
        foreach (var g in _groups) g.Grads.zero_();
    }

    /// <summary>
    /// Checks that every parameter's gradient is still the view of the flat buffer (autograd replaces it when
    /// someone else holds a reference); re-attaches it when not, copying the values over.
    /// </summary>
    public void EnsureGradViews()
    {
        using var _ = no_grad();
        foreach (var g in _groups)
            foreach (var (_, p, offset) in g.Members)
            {
                using var grad = p.grad;
                using var expected = g.Grads.narrow(0, offset, p.NumberOfElements);
                if (grad is null || Runtime.NativeTensor.DataPointer(grad) != Runtime.NativeTensor.DataPointer(expected))
                {
                    if (grad is not null) expected.copy_(grad.reshape(-1));
                    using var view = expected.view(p.shape);
                    p.grad = view;
                }
            }
    }

    /// <summary>Multiplies every gradient by <paramref name="factor"/> (normalising summed losses by their count).</summary>
    public void ScaleGradients(double factor)
    {
        if (factor == 1.0) return;
        foreach (var g in _groups) Scale(g.Grads, factor);
    }

    /// <summary>The global L2 norm of all gradients; when above <paramref name="maxNorm"/> (and it is positive) they are scaled down to it.</summary>
    public double ClipGradNorm(double maxNorm)
    {
        double sumOfSquares = 0;
        foreach (var g in _groups) sumOfSquares += SumOfSquares(g.Grads);
        double norm = Math.Sqrt(sumOfSquares);
        if (maxNorm > 0 && norm > maxNorm)
        {
            double coefficient = maxNorm / (norm + 1e-6);
            foreach (var g in _groups) Scale(g.Grads, coefficient);
        }
        return norm;
    }

    /// <summary>One AdamW step with <see cref="LearningRate"/>.</summary>
    public void Step()
    {
        StepCount++;
        double lr = LearningRate;
        double biasCorrection1 = 1 - Math.Pow(_beta1, StepCount);
        double biasCorrection2Sqrt = Math.Sqrt(1 - Math.Pow(_beta2, StepCount));
        using var _ = no_grad();
        foreach (var g in _groups)
        {
            if (UsesFlatKernels(g.Values))
            {
                var args = new FlatKernels.AdamWArgs((float)_beta1, (float)(1 - _beta1), (float)_beta2, (float)(1 - _beta2),
                    (float)(1 - lr * g.WeightDecay), (float)biasCorrection2Sqrt, (float)_eps, (float)(-lr / biasCorrection1));
                unsafe
                {
                    float* p = Pointer(g.Values), grad = Pointer(g.Grads), m = Pointer(g.ExpAvg), v = Pointer(g.ExpAvgSq);
                    foreach (var (offset, length, rowWidth) in Segments(g))
                    {
                        if (rowWidth > 0)
                            FlatKernels.LazyRowsAdamW(p + offset, grad + offset, m + offset, v + offset, length / rowWidth, rowWidth, args);
                        else
                            FlatKernels.AdamW(p + offset, grad + offset, m + offset, v + offset, length, args);
                    }
                }
                continue;
            }
            using var scope = NewDisposeScope();
            if (g.WeightDecay != 0) g.Values.mul_(1 - lr * g.WeightDecay);
            g.ExpAvg.mul_(_beta1).add_(g.Grads, 1 - _beta1);
            g.ExpAvgSq.mul_(_beta2).addcmul_(g.Grads, g.Grads, 1 - _beta2);
            var denominator = g.ExpAvgSq.sqrt().div_(biasCorrection2Sqrt).add_(_eps);
            g.Values.addcdiv_(g.ExpAvg, denominator, -lr / biasCorrection1);
        }
    }

    /// <summary>
    /// The group's buffer as (offset, length, row width) segments: embedding matrices updated row by row when
    /// <see cref="LazyEmbeddingRows"/> is on (row width > 0), everything else as whole runs (row width 0).
    /// </summary>
    private IEnumerable<(long Offset, long Length, long RowWidth)> Segments(Group g)
    {
        long total = g.Values.NumberOfElements;
        if (!LazyEmbeddingRows)
        {
            yield return (0, total, 0);
            yield break;
        }
        long runStart = 0;
        foreach (var (name, p, offset) in g.Members)
        {
            if (p.dim() != 2 || !name.Contains("embeddings.", StringComparison.Ordinal)) continue;
            if (offset > runStart) yield return (runStart, offset - runStart, 0);
            yield return (offset, p.NumberOfElements, p.shape[1]);
            runStart = offset + p.NumberOfElements;
        }
        if (total > runStart) yield return (runStart, total - runStart, 0);
    }

    /// <summary>Whether a buffer can be updated by <see cref="FlatKernels"/>: fp32 in CPU memory (and the switch is on).</summary>
    private static bool UsesFlatKernels(Tensor t) =>
        FlatKernelsEnabled && t.dtype == ScalarType.Float32 && t.device_type == DeviceType.CPU && t.is_contiguous();

    /// <summary>Off only to measure libtorch's element-wise kernels against <see cref="FlatKernels"/>.</summary>
    internal static bool FlatKernelsEnabled { get; set; } = true;

    private static unsafe float* Pointer(Tensor t) => (float*)Runtime.NativeTensor.DataPointer(t);

    private static void Scale(Tensor t, double factor)
    {
        if (UsesFlatKernels(t))
        {
            unsafe { FlatKernels.Scale(Pointer(t), t.NumberOfElements, (float)factor); }
            return;
        }
        t.mul_(factor);
    }

    private static double SumOfSquares(Tensor t)
    {
        if (UsesFlatKernels(t))
            unsafe { return FlatKernels.SumOfSquares(Pointer(t), t.NumberOfElements); }
        using var scope = NewDisposeScope();
        return t.to(ScalarType.Float64).square().sum().item<double>();
    }

    /// <summary>The optimizer state for a checkpoint: per group its moments, and the step count.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor> { ["step"] = tensor(new[] { StepCount }) };
        foreach (var g in _groups)
        {
            state[$"{g.Name}.exp_avg"] = g.ExpAvg;
            state[$"{g.Name}.exp_avg_sq"] = g.ExpAvgSq;
        }
        return state;
    }

    /// <summary>Restores a state written by <see cref="StateDict"/>; <paramref name="source"/> names the file in errors.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        if (!state.TryGetValue("step", out var step))
            throw new ModelLoadException("optimizer state has no step count", source, "step");
        using var _ = no_grad();
        foreach (var g in _groups)
            foreach (var (key, target) in new[] { ($"{g.Name}.exp_avg", g.ExpAvg), ($"{g.Name}.exp_avg_sq", g.ExpAvgSq) })
            {
                if (!state.TryGetValue(key, out var value))
                    throw new ModelLoadException("missing from the optimizer state", source, key);
                if (value.NumberOfElements != target.NumberOfElements)
                    throw new ModelLoadException($"has {value.NumberOfElements} values but the model has {target.NumberOfElements} trainable values in this group", source, key);
                using var flat = value.reshape(-1);
                target.copy_(flat);
            }
        StepCount = step.item<long>();
    }

    public void Dispose()
    {
        foreach (var g in _groups)
        {
            g.Grads.Dispose();
            g.ExpAvg.Dispose();
            g.ExpAvgSq.Dispose();
        }
        _groups.Clear();
    }
}
