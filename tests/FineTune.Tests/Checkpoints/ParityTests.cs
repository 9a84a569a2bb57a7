using FineTune.Checkpoints;
using FineTune.Modeling;
using FineTune.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace FineTune.Tests.Checkpoints;

/// <summary>
/// The packaged models loaded through the catalog must compute what ONNX Runtime computes with the original
/// packaged ONNX file, on real sentences, batched with padding.
/// </summary>
public class ParityTests(ITestOutputHelper output)
{
    private static IReadOnlyList<(string Text, string? Pair)> RealInputs()
    {
        var sst = File.ReadLines(Path.Combine(TestSupport.SharedData, "sst2", "dev.tsv")).Skip(1).Take(12)
            .Select(l => (l.Split('\t')[0], (string?)null));
        var mrpc = File.ReadLines(Path.Combine(TestSupport.SharedData, "mrpc", "dev.tsv")).Skip(1).Take(6)
            .Select(l => l.Split('\t')).Select(p => (p[3], (string?)p[4]));
        return sst.Concat(mrpc).ToList();
    }

    [Theory]
    [InlineData("all-MiniLM-L6-v2")]
    [InlineData("snowflake-arctic-embed-xs")]
    public void ParityLastHiddenStateMatchesOnnxRuntime(string name)
    {
        var entry = ModelCatalog.Find(name)!;
        var folder = ModelCatalog.Resolve(name);
        var tokenizer = WordPieceTokenizer.FromFolder(folder);
        var encodings = RealInputs().Select(i => tokenizer.Encode(i.Text, i.Pair)).ToList();
        var batch = tokenizer.ToBatch(encodings);
        int b = batch.BatchSize, t = batch.SequenceLength;
        Assert.Contains(encodings, e => e.Length < t); // padding is exercised

        // Reference: ONNX Runtime on the original file from the package.
        var asm = PackagedModelAssembly.Find(entry.PackageId, entry.PackageVersion)!;
        using var session = new InferenceSession(asm.ReadResource(asm.FindResource(".model.onnx")!));
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(batch.InputIds, [b, t])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(batch.AttentionMask, [b, t])),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(batch.TokenTypeIds, [b, t])),
        };
        using var results = session.Run(inputs);
        var reference = results.First(r => r.Name == "last_hidden_state").AsTensor<float>().ToArray();

        // Ours: the imported folder through the loader.
        var (encoder, report) = ModelFolder.LoadEncoder(folder);
        using var _ = encoder;
        Assert.Empty(report.NewlyInitialized);
        encoder.eval();
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var hidden = encoder.call(new ModelInput(
            tensor(batch.InputIds).view(b, t), tensor(batch.AttentionMask).view(b, t), tensor(batch.TokenTypeIds).view(b, t))).LastHiddenState;
        var ours = hidden.data<float>().ToArray();
        int h = (int)hidden.shape[2];
        double maxDiff = 0;
        int compared = 0;
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++)
            {
                if (batch.AttentionMask[i * t + j] == 0) continue;
                for (int k = 0; k < h; k++)
                {
                    int idx = (i * t + j) * h + k;
                    maxDiff = Math.Max(maxDiff, Math.Abs(ours[idx] - reference[idx]));
                }
                compared++;
            }
        output.WriteLine($"{name}: max abs difference {maxDiff:E2} over {compared} non-pad tokens of {b} sequences (T = {t})");
        Assert.True(compared > 100);
        // Another implementation of six layers whose sums have up to 1,536 terms (typically √1536·u = 39·u off each),
        // on states up to 6.2: 1e-4 is 270·u of that (seen: 3.1e-6, 8.5·u).
        Assert.True(maxDiff <= 1e-4, $"max abs difference {maxDiff:E2} over {compared} tokens");
    }
}
