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
    /// with <paramref name="seed"/>) and the backward pass of the masked sum of squares of its output: the output in
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
        output.to(ScalarType.Float32).mul(input.AttentionMask.unsqueeze(-1)).square().sum().backward();
        return (output.detach().to(ScalarType.Float32), encoder.parameters().Select(p => p.grad?.clone() ?? zeros_like(p)).ToArray());
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

    /// <summary>
    /// Two <see cref="ForwardBackward"/> results agree: the outputs at real tokens (<paramref name="mask"/>) within
    /// <paramref name="tolerance"/>, each gradient within <paramref name="tolerance"/> times its largest value (at least 1).
    /// </summary>
    public static void AssertSameForwardBackward((Tensor Output, Tensor[] Grads) reference, (Tensor Output, Tensor[] Grads) other, Tensor mask, double tolerance)
    {
        var real = mask.unsqueeze(-1).to(ScalarType.Bool);
        Assert.True((other.Output - reference.Output).masked_select(real).abs().max().item<float>() < tolerance, "output");
        for (int i = 0; i < reference.Grads.Length; i++)
            Assert.True((other.Grads[i] - reference.Grads[i]).abs().max().item<float>() < tolerance * Math.Max(1, reference.Grads[i].abs().max().item<float>()),
                $"gradient {i}");
    }
}
