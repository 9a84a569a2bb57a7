using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Modeling;
using FineTune.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineTune.Bench;

/// <summary>The packaged all-MiniLM-L6-v2 with a 2-class head, and random full-length batches for it.</summary>
internal static class Workload
{
    public const string ModelName = "all-MiniLM-L6-v2";

    /// <summary>The packaged model with a new 2-class head (as a classification run builds it), with <see cref="KernelSwitches.Current"/>.</summary>
    public static TaskModel LoadClassifier(string model = ModelName)
    {
        var folder = ModelCatalog.Resolve(model);
        var config = ModelFolder.LoadConfig(folder).WithLabels(["negative", "positive"], "single_label_classification");
        var (pooling, _) = ModelFolder.ResolvePooling(folder, config, null);
        var (m, _) = ModelFolder.LoadTaskModel(folder, config with { ClassifierPooling = pooling }, c => TaskModels.SequenceClassifier(c, c.NumLabels, KernelSwitches.Current));
        return m;
    }

    /// <summary>A batch of <paramref name="batch"/> × <paramref name="seq"/> real (unpadded) tokens: [CLS] random ids [SEP].</summary>
    public static ModelInput RandomBatch(EncoderConfig config, int batch, int seq, int seed, bool withLabels = true)
    {
        var g = new Random(seed);
        var ids = new long[batch * seq];
        for (int i = 0; i < ids.Length; i++) ids[i] = g.Next(1000, config.VocabSize);
        for (int b = 0; b < batch; b++) { ids[b * seq] = 101; ids[b * seq + seq - 1] = 102; }
        var labels = withLabels ? tensor(Enumerable.Range(0, batch).Select(_ => (long)g.Next(2)).ToArray()) : null;
        return new ModelInput(tensor(ids).view(batch, seq), ones(batch, seq, dtype: ScalarType.Int64),
            zeros(batch, seq, dtype: ScalarType.Int64), labels);
    }

    /// <summary>
    /// Forward matrix-product FLOPs of a sequence classifier on <paramref name="batch"/> × <paramref name="seq"/> tokens:
    /// per layer the Q, K, V and output projections (4·H²), the feed-forward (2·H·I), and attention scores and
    /// context (2·T·H each), per token, times 2; plus the pooler and classifier on the first tokens.
    /// Embedding lookups, LayerNorm, softmax and activations are not counted. Training is 3× this.
    /// </summary>
    public static double ForwardFlops(EncoderConfig c, int batch, int seq)
    {
        double h = c.HiddenSize, i = c.IntermediateSize, t = seq, tokens = (double)batch * seq;
        double perTokenPerLayer = 2 * (4 * h * h + 2 * h * i) + 2 * (2 * t * h);
        double head = 2 * batch * (h * h + h * c.NumLabels);
        double projection = c.EmbeddingWidth != c.HiddenSize ? 2 * tokens * c.EmbeddingWidth * h : 0;
        return tokens * perTokenPerLayer * c.NumHiddenLayers + head + projection;
    }
}

/// <summary>
/// One optimizer step exactly as <see cref="Trainer"/> takes it (zero, forward in the precision scope, summed loss,
/// backward, normalise, clip, AdamW), with the time of each phase.
/// </summary>
internal sealed class TrainStep : IDisposable
{
    private readonly TaskModel _model;

    /// <summary>The model the step trains.</summary>
    public TaskModel Model => _model;
    private readonly FusedAdamW? _fused;
    private readonly optim.Optimizer? _reference;
    private readonly Func<IDisposable?>? _precision;

    public TrainStep(TaskModel model, Precision precision, bool referenceOptimizer = false)
    {
        _model = model;
        _model.train();
        _precision = Runtime.PrecisionScopes.For(precision, CPU);
        if (referenceOptimizer)
        {
            var (decay, noDecay) = ParameterGroups.Split(model.named_parameters());
            _reference = optim.AdamW([
                new AdamW.ParamGroup(decay.Select(p => p.Parameter), new AdamW.Options { LearningRate = 5e-5, weight_decay = 0.01 }),
                new AdamW.ParamGroup(noDecay.Select(p => p.Parameter), new AdamW.Options { LearningRate = 5e-5, weight_decay = 0.0 }),
            ], 5e-5);
        }
        else
        {
            _fused = new FusedAdamW(model.named_parameters(), 5e-5, 0.01);
        }
    }

    public double ForwardSeconds { get; private set; }
    public double BackwardSeconds { get; private set; }
    public double OptimizerSeconds { get; private set; }

    /// <summary>
    /// An experiment, not a library feature (<c>--ab split-batch</c>): the batch as two halves, forward and backward of
    /// each on its own thread with one intra-op thread, both adding into the same gradients; then the optimizer on all
    /// threads. The sums are the same up to the order of the additions, so results are not bit-for-bit those of the
    /// whole batch, and dropout draws its seeds from the shared generator in whichever order the threads come.
    /// <see cref="ForwardSeconds"/> is 0 and <see cref="BackwardSeconds"/> covers both passes.
    /// </summary>
    public static bool SplitBatch { get; set; }

    /// <summary>Forward and backward of rows [first, first + count) on the calling thread, with one intra-op thread.</summary>
    private (double LossDenominator, Exception? Error) Half(ModelInput input, long first, long count)
    {
        try
        {
            torch.set_num_threads(1);
            using var scope = NewDisposeScope();
            ModelInput part = new(input.InputIds.narrow(0, first, count), input.AttentionMask.narrow(0, first, count),
                input.TokenTypeIds?.narrow(0, first, count), input.Labels?.narrow(0, first, count));
            ModelOutput output;
            using (_precision?.Invoke())
                output = _model.call(part);
            output.LossSum!.backward();
            return (output.LossDenominator, null);
        }
        catch (Exception e) { return (0, e); }
    }

    private double RunSplit(ModelInput input)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int threads = torch.get_num_threads();
        if (_fused is null) throw new ArgumentException("--ab split-batch: needs --optimizer fused");
        _fused.ZeroGrad();
        long b = input.InputIds.shape[0], h = b / 2;
        (double LossDenominator, Exception? Error) second = default;
        var worker = new Thread(() => second = Half(input, h, b - h));
        worker.Start();
        var first = Half(input, 0, h);
        worker.Join();
        torch.set_num_threads(threads);
        if ((first.Error ?? second.Error) is { } error) throw error;
        double backward = sw.Elapsed.TotalSeconds;
        using (NewDisposeScope())
            Update(first.LossDenominator + second.LossDenominator);
        double total = sw.Elapsed.TotalSeconds;
        ForwardSeconds = 0;
        BackwardSeconds = backward;
        OptimizerSeconds = total - backward;
        return total;
    }

    /// <summary>Called between the forward and the backward pass, as the library's trainer calls its heap guard.</summary>
    public Action<ModelInput>? BeforeBackward { get; set; }

    public double Run(ModelInput input)
    {
        if (SplitBatch) return RunSplit(input);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        if (_fused is not null) _fused.ZeroGrad(); else _reference!.zero_grad();
        ModelOutput output;
        using (_precision?.Invoke())
            output = _model.call(input);
        var lossSum = output.LossSum!;
        double forward = sw.Elapsed.TotalSeconds;
        BeforeBackward?.Invoke(input);
        lossSum.backward();
        double backward = sw.Elapsed.TotalSeconds;
        Update(output.LossDenominator);
        double total = sw.Elapsed.TotalSeconds;
        ForwardSeconds = forward;
        BackwardSeconds = backward - forward;
        OptimizerSeconds = total - backward;
        return total;
    }

    /// <summary>The optimizer's part of a step: gradients of the summed loss divided by its denominator, clipped to norm 1, then the update.</summary>
    private void Update(double lossDenominator)
    {
        if (_fused is not null)
        {
            _fused.EnsureGradViews();
            _fused.ScaleGradients(1.0 / lossDenominator);
            _fused.ClipGradNorm(1.0);
            _fused.Step();
        }
        else
        {
            using (no_grad())
                foreach (var p in _model.parameters())
                    p.grad?.mul_(1.0 / lossDenominator);
            nn.utils.clip_grad_norm_(_model.parameters(), 1.0);
            _reference!.step();
        }
    }

    public void Dispose()
    {
        _fused?.Dispose();
        _reference?.Dispose();
    }
}
