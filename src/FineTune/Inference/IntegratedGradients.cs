using FineTune.Modeling;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Inference;

/// <summary>
/// How much each token of one input moved one scalar output of the model (a class probability, a value, a start
/// logit …) away from its value at a baseline: <see cref="Attributions"/> per token, the output at the input
/// (<see cref="Score"/>) and at the baseline (<see cref="BaselineScore"/>).
/// </summary>
internal sealed record TokenAttributions(double[] Attributions, double Score, double BaselineScore)
{
    /// <summary>f(x) − f(baseline): what the attributions add up to when the path integral is exact.</summary>
    public double Delta => Score - BaselineScore;

    /// <summary>
    /// |Σ attributions − (f(x) − f(baseline))| / |f(x) − f(baseline)|: how far the sum of the attributions is from
    /// the change it explains (0 when exact). When the output does not change at all, 0 if the attributions are
    /// all 0 too and +∞ otherwise.
    /// </summary>
    public double CompletenessGap
    {
        get
        {
            double error = Math.Abs(Attributions.Sum() - Delta);
            if (Delta != 0) return error / Math.Abs(Delta);
            return error == 0 ? 0 : double.PositiveInfinity;
        }
    }
}

/// <summary>
/// Integrated gradients (Sundararajan, Taly and Yan 2017) on the word embeddings of an input: the path integral of
/// the gradient of a scalar output along the straight line from a baseline's word embeddings to the input's, times
/// their difference, summed over the embedding dimension; one attribution per token.
/// </summary>
/// <remarks>
/// <para>
/// The baseline keeps the input's special tokens ([CLS], [SEP]) and replaces every other token's word embedding by
/// the padding token's ([PAD]); position and token-type embeddings and the attention mask are the input's at every
/// point of the path, so only what the words contribute is attributed, and special tokens get 0.
/// </para>
/// <para>
/// The integral over α ∈ [0, 1] is taken with the Gauss–Legendre rule of <see cref="Steps"/> nodes (exact for
/// polynomials up to degree 2·steps − 1; Captum's default rule); the points go through the model
/// <see cref="BatchSize"/> at a time, each batch one forward and one backward pass. The model's weights need no
/// gradients: they are frozen while attributing.
/// </para>
/// </remarks>
internal sealed class IntegratedGradients
{
    private readonly TaskModel _model;
    private readonly Device _device;
    private readonly (double[] Alphas, double[] Weights) _rule;

    /// <param name="model">The model, in eval mode, on <paramref name="device"/>.</param>
    /// <param name="steps">Points on the path (at least 1).</param>
    /// <param name="batchSize">Points per forward pass (at least 1).</param>
    public IntegratedGradients(TaskModel model, Device device, int steps, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _model = model;
        _device = device;
        Steps = steps;
        BatchSize = batchSize;
        _rule = GaussLegendre.UnitInterval(steps);
        foreach (var p in model.parameters()) p.requires_grad = false;
    }

    public int Steps { get; }
    public int BatchSize { get; }

    /// <summary>
    /// The baseline of <paramref name="encoding"/>'s tokens: the padding id for every token of a text, the token
    /// itself for special tokens (those of no sequence).
    /// </summary>
    public static int[] Baseline(Encoding encoding, int padId) =>
        encoding.Ids.Select((id, t) => encoding.SequenceIds[t] is null ? id : padId).ToArray();

    /// <summary>The model's logits for one input [1, …] (no gradients), to choose what to attribute.</summary>
    public Tensor Logits(Feature input)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = Batch(input, 1);
        return _model.call(batch).Logits.to(ScalarType.Float32).detach().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The attributions to each token of <paramref name="input"/> of the output <paramref name="score"/> selects from
    /// a batch of the model's logits (one value per row), from the baseline <paramref name="baselineIds"/>.
    /// </summary>
    public TokenAttributions Attribute(Feature input, int[] baselineIds, Func<Tensor, Tensor> score)
    {
        if (baselineIds.Length != input.Length) throw new ArgumentException($"{baselineIds.Length} baseline tokens for {input.Length} input tokens", nameof(baselineIds));
        using var scope = NewDisposeScope();
        int t = input.Length;
        var encoder = _model.Encoder;
        Tensor x, b;
        using (no_grad())
        {
            x = encoder.WordEmbeddings(Ids(input.InputIds)).squeeze(0).to(ScalarType.Float32);        // [1, T] -> [T, E]
            b = encoder.WordEmbeddings(Ids(baselineIds)).squeeze(0).to(ScalarType.Float32);
        }
        var difference = x - b;                                                                      // [T, E]
        double fx, fb;
        using (no_grad())
        {
            var ends = Scores(input, stack([x, b]), score);                                          // [2]
            fx = ends[0].item<float>();
            fb = ends[1].item<float>();
        }
        var integral = zeros_like(x);                                                                // [T, E]
        var (alphas, weights) = _rule;
        for (int from = 0; from < alphas.Length; from += BatchSize)
        {
            using var step = NewDisposeScope();
            int n = Math.Min(BatchSize, alphas.Length - from);
            var a = tensor(alphas.AsSpan(from, n).ToArray().Select(v => (float)v).ToArray(), device: _device).view(n, 1, 1);
            var w = tensor(weights.AsSpan(from, n).ToArray().Select(v => (float)v).ToArray(), device: _device).view(n, 1, 1);
            var points = (b.unsqueeze(0) + a * difference.unsqueeze(0)).detach().requires_grad_(true);   // [n, T, E]
            using (enable_grad())
                Scores(input, points, score).sum().backward();
            using (no_grad())
                integral.add_((points.grad! * w).sum(dim: 0));                                            // [n, T, E] -> [T, E]
        }
        var attributions = (difference * integral).sum(-1).to(ScalarType.Float64).cpu().data<double>().ToArray();   // [T, E] -> [T]
        return new TokenAttributions(attributions, fx, fb);
    }

    /// <summary>The selected output for each row of word embeddings <paramref name="words"/> [n, T, E] of the input's tokens.</summary>
    private Tensor Scores(Feature input, Tensor words, Func<Tensor, Tensor> score)
    {
        var batch = Batch(input, (int)words.shape[0]) with { WordEmbeddings = words };
        var values = score(_model.call(batch).Logits.to(ScalarType.Float32));
        if (values.shape.Length != 1 || values.shape[0] != words.shape[0])
            throw new InvalidOperationException($"the score of a target must be one value per row, got shape [{string.Join(", ", values.shape)}]");
        return values;
    }

    /// <summary>The input repeated <paramref name="rows"/> times: ids, types and a mask of ones [rows, T].</summary>
    private ModelInput Batch(Feature input, int rows)
    {
        int t = input.Length;
        var ids = Ids(input.InputIds).expand(rows, t);
        var types = tensor(input.TypeIds.Select(v => (long)v).ToArray(), device: _device).view(1, t).expand(rows, t);
        return new ModelInput(ids, ones(rows, t, ScalarType.Int64, _device), types);
    }

    private Tensor Ids(int[] ids) => tensor(ids.Select(v => (long)v).ToArray(), device: _device).view(1, ids.Length);
}

/// <summary>Gauss–Legendre quadrature: nodes and weights of the rule with n points.</summary>
internal static class GaussLegendre
{
    /// <summary>
    /// The n nodes in (−1, 1) (the roots of the Legendre polynomial P_n, ascending) and their weights
    /// 2 / ((1 − x²) P_n′(x)²), found by Newton's method from Tricomi's approximation of each root.
    /// </summary>
    public static (double[] Nodes, double[] Weights) Rule(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var nodes = new double[n];
        var weights = new double[n];
        for (int i = 0; i < (n + 1) / 2; i++)
        {
            // The i-th largest root, approximately; Newton's iteration converges quadratically from here.
            double x = Math.Cos(Math.PI * (i + 0.75) / (n + 0.5));
            double derivative = 0;
            for (int iteration = 0; iteration < 100; iteration++)
            {
                (double p, derivative) = Legendre(n, x);
                double dx = p / derivative;
                x -= dx;
                if (Math.Abs(dx) < 1e-15) break;
            }
            (_, derivative) = Legendre(n, x);
            double w = 2 / ((1 - x * x) * derivative * derivative);
            nodes[n - 1 - i] = x;
            nodes[i] = -x;
            weights[n - 1 - i] = weights[i] = w;
        }
        return (nodes, weights);
    }

    /// <summary>The rule moved to [0, 1]: nodes (x + 1) / 2, weights halved; the weights add up to 1.</summary>
    public static (double[] Alphas, double[] Weights) UnitInterval(int n)
    {
        var (nodes, weights) = Rule(n);
        return (nodes.Select(x => (x + 1) / 2).ToArray(), weights.Select(w => w / 2).ToArray());
    }

    /// <summary>P_n(x) and P_n′(x) by the three-term recurrence.</summary>
    private static (double Value, double Derivative) Legendre(int n, double x)
    {
        double previous = 1, current = x;
        if (n == 0) return (1, 0);
        for (int k = 2; k <= n; k++)
        {
            double next = ((2 * k - 1) * x * current - (k - 1) * previous) / k;
            previous = current;
            current = next;
        }
        return (current, n * (x * current - previous) / (x * x - 1));
    }
}
