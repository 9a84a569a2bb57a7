using FineTune.Configuration;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Tests;

/// <summary>Helpers shared by tests: tiny configs, temp folders, paths to the repository and shared data.</summary>
internal static class TestSupport
{
    /// <summary>A tiny config (hidden 32, 2 layers, 4 heads) of the given family, as HF's BertModelTester uses.</summary>
    public static EncoderConfig Tiny(string modelType = "bert", int vocab = 100) => new()
    {
        ModelType = modelType,
        VocabSize = vocab,
        HiddenSize = 32,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        IntermediateSize = 64,
        MaxPositionEmbeddings = 64,
        TypeVocabSize = modelType == "distilbert" ? 0 : modelType is "roberta" or "xlm-roberta" ? 1 : 2,
        PadTokenId = modelType is "roberta" or "xlm-roberta" ? 1 : 0,
        LayerNormEps = modelType is "roberta" or "xlm-roberta" ? 1e-5 : 1e-12,
        EmbeddingSize = modelType == "electra" ? 16 : null,
    };

    /// <summary>A task by name (as FineTuneRequest.Task names it).</summary>
    internal static FineTune.Tasks.FineTuneTask Task(string name) => FineTune.Tasks.TaskRegistry.Get(name);

    /// <summary>The model of a task over <paramref name="config"/> (its labels from the config), freshly initialised.</summary>
    internal static FineTune.Modeling.TaskModel Create(EncoderConfig config, string task) => Task(task).CreateModel(config, KernelOptions.Default);

    /// <summary>A model folder loaded with a task's head (<paramref name="labels"/>, or the folder's own).</summary>
    internal static (FineTune.Modeling.TaskModel Model, FineTune.Checkpoints.LoadReport Report) Load(string folder, string task,
        IReadOnlyList<string>? labels = null, ModelLoadOptions? options = null) => Task(task).LoadModel(folder, labels, options);

    /// <summary>Hugging Face's problem_type of a sequence task's head, or null.</summary>
    internal static string? ProblemType(string task) => Task(task) is FineTune.Tasks.SequenceTaskBase s ? s.ProblemType : null;

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string SharedData => Path.Combine(RepoRoot, "..", "shared", "data");

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FineTune.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("FineTune.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A fresh temporary folder, deleted when disposed.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "finetune-test-" + Guid.NewGuid().ToString("N")[..10]);
        public TempDir() => Directory.CreateDirectory(Path);
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>A deterministic batch of ids in [2, vocab) with the given lengths, padded with <paramref name="pad"/>.</summary>
    public static (Tensor Ids, Tensor Mask) Batch(int vocab, int[] lengths, int pad = 0, int seed = 1)
    {
        var rng = new Random(seed);
        int t = lengths.Max();
        var ids = new long[lengths.Length * t];
        var mask = new long[lengths.Length * t];
        for (int b = 0; b < lengths.Length; b++)
            for (int i = 0; i < t; i++)
            {
                bool real = i < lengths[b];
                ids[b * t + i] = real ? rng.Next(2, vocab) : pad;
                mask[b * t + i] = real ? 1 : 0;
            }
        return (tensor(ids).view(lengths.Length, t), tensor(mask).view(lengths.Length, t));
    }

    /// <summary>
    /// A tiny BERT encoder (weights drawn after seeding torch with <paramref name="seed"/>) with dropout 0.1 in the
    /// hidden states and the attention probabilities, in training mode, and a batch of four sequences of lengths 7,
    /// 20, 3 and 20: for comparing kernel choices through <see cref="ForwardBackward"/>.
    /// </summary>
    public static (FineTune.Modeling.TransformerEncoder Encoder, FineTune.Modeling.ModelInput Input) DropoutEncoder(long seed)
    {
        random.manual_seed(seed);
        var config = Tiny() with { HiddenDropoutProb = 0.1, AttentionProbsDropoutProb = 0.1 };
        var encoder = FineTune.Modeling.TaskModels.CreateEncoder(config);
        encoder.train();
        var (ids, mask) = Batch(100, [7, 20, 3, 20], seed: 4);
        return (encoder, new FineTune.Modeling.ModelInput(ids, mask));
    }

    /// <summary>
    /// One forward pass of <paramref name="encoder"/> (in training mode, under bf16 autocast when asked, dropout seeded
    /// with <paramref name="seed"/>) and the backward pass of <see cref="WeightedSum"/> of its output: the output in
    /// fp32 and every parameter's gradient. For comparing kernel choices that must give the same results.
    /// </summary>
    public static (Tensor Output, Tensor[] Grads) ForwardBackward(FineTune.Modeling.TransformerEncoder encoder, FineTune.Modeling.ModelInput input, long seed, bool bf16)
    {
        encoder.train();
        encoder.zero_grad();
        random.manual_seed(seed);
        Tensor output;
        using (bf16 ? FineTune.Runtime.Autocast.Enter(TorchSharp.DeviceType.CPU, ScalarType.BFloat16) : null)
            output = encoder.call(input).LastHiddenState;
        WeightedSum(output.to(ScalarType.Float32), input.AttentionMask).backward();
        return (output.detach().to(ScalarType.Float32), encoder.parameters().Select(p => p.grad?.clone() ?? zeros_like(p)).ToArray());
    }

    /// <summary>
    /// A loss for comparing gradients: the sum over the real tokens (<paramref name="mask"/>) of the hidden states
    /// <paramref name="output"/> [B, T, H] times fixed weights drawn uniformly from [−1, 1] (by
    /// <see cref="Random"/>, so that torch's generator is not touched). Not the sum of squares: a LayerNorm with
    /// its initial weight 1 and bias 0 ends every encoder, and the sum of squares of its output row is
    /// H·σ²/(σ² + ε), a constant: every gradient below that LayerNorm would be zero in exact arithmetic (1e-10 in
    /// fp64), and comparing two fp32 passes would compare their rounding noise (up to 1.3e-5, by the order of the sums).
    /// </summary>
    public static Tensor WeightedSum(Tensor output, Tensor mask)
    {
        var rng = new Random(20_240_601);
        var weights = new float[output.NumberOfElements];
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)(rng.NextDouble() * 2 - 1);
        using var w = tensor(weights, dtype: output.dtype).view(output.shape);
        return output.mul(mask.unsqueeze(-1).to(output.dtype)).mul(w).sum();
    }

    /// <summary>
    /// <see cref="ForwardBackward"/> with a kernel switch off and then on (<paramref name="set"/> flips it; it is left
    /// on, the library's default, whatever happens): the two results, for comparing the kernel choices.
    /// </summary>
    public static ((Tensor Output, Tensor[] Grads) Off, (Tensor Output, Tensor[] Grads) On) ForwardBackwardOffAndOn(
        FineTune.Modeling.TransformerEncoder encoder, FineTune.Modeling.ModelInput input, long seed, bool bf16, Action<bool> set)
    {
        try
        {
            set(false);
            var off = ForwardBackward(encoder, input, seed, bf16);
            set(true);
            return (off, ForwardBackward(encoder, input, seed, bf16));
        }
        finally
        {
            set(true);
        }
    }

    /// <summary>fp32's unit roundoff: rounding to fp32 changes a value by at most this fraction of it.</summary>
    public const double Fp32Unit = 1.0 / (1 << 24);

    /// <summary>bf16's unit roundoff (8 significant bits): rounding to bf16 changes a value by at most this fraction of it.</summary>
    public const double Bf16Unit = 1.0 / (1 << 8);

    /// <summary>
    /// The bound, relative to the largest value, on the difference between two fp32 computations of the same values
    /// that order their sums differently, when the longest sum has <paramref name="n"/> terms: 2·n·u, u =
    /// <see cref="Fp32Unit"/>. A sum of n terms is off by at most n·u·Σ|terms|, which is n·u·|sum| when the terms
    /// have one sign (squares, exponentials); when their signs are mixed the rounding errors add up as a random walk,
    /// to about √n·u·Σ|terms|, again about n·u·|sum| since Σ|terms| is then about √n·|sum|. The two computations may
    /// be off in opposite directions.
    /// </summary>
    public static double SumOrderBound(long n) => 2 * n * Fp32Unit;

    /// <summary>
    /// <see cref="SumOrderBound"/> for two fp32 <see cref="ForwardBackward"/> passes of <paramref name="input"/>: n is
    /// the longest sum in the pass (the gradients' sums over the B·T token rows, the Q/K/V input gradient's over 3H,
    /// the feed-forward product's over its intermediate width). (2·96·u = 1.1e-5 for <see cref="DropoutEncoder"/>;
    /// the fused kernels' largest difference from the composition there was 6.5·u, and each was within 8.3·u of an
    /// fp64 evaluation.)
    /// </summary>
    public static double Fp32SumOrderBound(FineTune.Configuration.EncoderConfig config, FineTune.Modeling.ModelInput input) =>
        SumOrderBound(Math.Max(input.InputIds.NumberOfElements, Math.Max(3L * config.HiddenSize, config.IntermediateSize)));

    /// <summary>
    /// The relative bound on the difference between two <see cref="ForwardBackward"/> passes under bf16 autocast:
    /// 2·√k·u, with u = <see cref="Bf16Unit"/> and k = 24 roundings to bf16 per layer on the way from the output
    /// back to the embeddings (forward: the layer's input, the Q/K/V, scores, probabilities, their dropout, context,
    /// attention output, LayerNorm, intermediate, activation, output and LayerNorm results; backward: as many
    /// gradients). Each pass is off by about √k·u (random walk), the two passes in either direction. (0.054 for
    /// two layers; the largest difference seen in <see cref="DropoutEncoder"/> was 0.009.)
    /// </summary>
    public static double Bf16RoundingBound(FineTune.Configuration.EncoderConfig config) =>
        2 * Math.Sqrt(24.0 * config.NumHiddenLayers) * Bf16Unit;

    /// <summary>
    /// Two <see cref="ForwardBackward"/> results agree: the outputs at real tokens (<paramref name="mask"/>), and each
    /// gradient, within <paramref name="bound"/> times the reference's largest absolute value, at least 1. (1 is the
    /// scale of the loss's weights, |∂loss/∂output| ≤ 1: gradients that are zero in exact arithmetic, such as the key
    /// biases', since softmax ignores a shift common to all scores, are the rounding noise of sums of such terms.)
    /// </summary>
    public static void AssertSameForwardBackward((Tensor Output, Tensor[] Grads) reference, (Tensor Output, Tensor[] Grads) other, Tensor mask,
        double bound, string what = "")
    {
        var real = mask.unsqueeze(-1).to(ScalarType.Bool);
        var referenceOutput = reference.Output.masked_select(real);
        double outputError = (other.Output.masked_select(real) - referenceOutput).abs().max().item<float>();
        double outputScale = Math.Max(1, referenceOutput.abs().max().item<float>());
        Assert.True(outputError <= bound * outputScale, $"{what}output: {outputError:E2} > {bound:E2} x {outputScale:G4}");
        for (int i = 0; i < reference.Grads.Length; i++)
        {
            double error = (other.Grads[i] - reference.Grads[i]).abs().max().item<float>();
            double scale = Math.Max(1, reference.Grads[i].abs().max().item<float>());
            Assert.True(error <= bound * scale, $"{what}gradient {i}: {error:E2} > {bound:E2} x {scale:G4}");
        }
    }
}
