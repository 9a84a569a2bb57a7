using FineTune.Configuration;
using FineTune.Modeling;
using FineTune.Runtime;
using static TorchSharp.torch;

namespace FineTune.Tests.Modeling;

[Collection(SeededTestsCollection.Name)]
public class KernelTests
{
    [Fact]
    public void DropoutMaskKeepsOneMinusPScaledByItsInverse()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(1);
        var mask = DropoutMask.Create([1000, 1000], 0.1);
        var values = mask.unique().output.data<float>().ToArray().Order().ToArray();
        Assert.Equal([0f, (float)(1 / 0.9)], values);
        double kept = mask.ne(0).to(ScalarType.Float64).mean().item<double>();
        Assert.InRange(kept, 0.9 - 0.002, 0.9 + 0.002); // 6.7 standard deviations of a binomial over 10^6
        Assert.InRange(mask.to(ScalarType.Float64).mean().item<double>(), 1 - 0.0025, 1 + 0.0025);
        // Neighbouring elements and rows are not correlated.
        var rows = mask.ne(0).to(ScalarType.Float64);
        double sameAsNext = rows[.., 1..].eq(rows[.., ..^1]).to(ScalarType.Float64).mean().item<double>();
        Assert.InRange(sameAsNext, 0.82 - 0.003, 0.82 + 0.003); // 0.9² + 0.1²
    }

    [Fact]
    public void DropoutMaskFollowsTheSeedAndNotTheThreadCount()
    {
        using var scope = NewDisposeScope();
        int threads = TorchSharp.torch.get_num_threads();
        try
        {
            random.manual_seed(7);
            var a = DropoutMask.Create([300_001], 0.25);
            var a2 = DropoutMask.Create([300_001], 0.25);
            TorchSharp.torch.set_num_threads(1);
            random.manual_seed(7);
            var b = DropoutMask.Create([300_001], 0.25);
            Assert.True(a.eq(b).all().item<bool>());
            Assert.False(a.eq(a2).all().item<bool>());
        }
        finally
        {
            TorchSharp.torch.set_num_threads(threads);
        }
    }

    [Fact]
    public void FastDropoutScalesKeptValuesAndItsGradientIsTheMask()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var dropout = new FastDropout(0.2);
        var x = randn(64, 50).requires_grad_();
        var y = dropout.call(x);
        var kept = y.ne(0);
        Assert.True(y.masked_select(kept).allclose(x.masked_select(kept) / 0.8, 1e-6, 1e-6));
        y.sum().backward();
        Assert.True(x.grad!.allclose(kept.to(ScalarType.Float32) / 0.8, 1e-6, 1e-6));
        dropout.eval();
        Assert.True(dropout.call(x).eq(x).all().item<bool>());
    }

    [Fact]
    public void Bf16DropoutScalesInFp32AndRoundsOnce()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(4);
        var x = randn(1000, 37).to(ScalarType.BFloat16).requires_grad_();
        random.manual_seed(4);
        var y = DropoutMask.Apply(x, 0.1);
        random.manual_seed(4);
        var mask = DropoutMask.Create([1000, 37], 0.1);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        var expected = (x.detach().to(ScalarType.Float32) * mask).to(ScalarType.BFloat16);
        Assert.True(y.detach().eq(expected).all().item<bool>());
        y.to(ScalarType.Float32).sum().backward();
        Assert.True(x.grad!.to(ScalarType.Float32).eq(mask.to(ScalarType.BFloat16).to(ScalarType.Float32)).all().item<bool>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EagerAttentionAndFusedProjectionsEqualSdpaAndSeparateProjections(bool distil)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var config = TestSupport.Tiny(distil ? "distilbert" : "bert") with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 };
        var encoder = TaskModels.CreateEncoder(config);
        encoder.train();
        var (ids, mask) = TestSupport.Batch(100, [7, 12, 3, 12], seed: 4);
        var input = new BertInput(ids, mask);
        (Tensor Output, Tensor[] Grads) Run(AttentionKernel attention, bool fuse)
        {
            KernelSettings.Attention = attention;
            KernelSettings.FuseQkv = fuse;
            try
            {
                encoder.zero_grad();
                var output = encoder.call(input).LastHiddenState;
                output.mul(mask.unsqueeze(-1)).square().sum().backward();
                return (output.detach().clone(), encoder.parameters().Select(p => p.grad?.clone() ?? zeros_like(p)).ToArray());
            }
            finally
            {
                KernelSettings.Attention = AttentionKernel.Auto;
                KernelSettings.FuseQkv = true;
            }
        }
        var reference = Run(AttentionKernel.Sdpa, fuse: false);
        foreach (var (attention, fuse) in new[] { (AttentionKernel.Eager, false), (AttentionKernel.Eager, true), (AttentionKernel.Sdpa, true) })
        {
            var other = Run(attention, fuse);
            var real = mask.unsqueeze(-1).to(ScalarType.Bool);
            Assert.True((other.Output - reference.Output).masked_select(real).abs().max().item<float>() < 1e-5, $"{attention} fuse={fuse}: output");
            for (int i = 0; i < reference.Grads.Length; i++)
                Assert.True((other.Grads[i] - reference.Grads[i]).abs().max().item<float>() < 1e-4 * Math.Max(1, reference.Grads[i].abs().max().item<float>()),
                    $"{attention} fuse={fuse}: gradient {i}");
        }
    }

    [Fact]
    public void EmbeddingGradientsEqualTorchsWithAndWithoutAFlatGradientBuffer()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(8);
        var config = TestSupport.Tiny() with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 };
        var (ids, mask) = TestSupport.Batch(100, [7, 12, 3, 12], pad: 0, seed: 4);
        Tensor[] Gradients(bool sparse, bool flatBuffer)
        {
            random.manual_seed(8);
            var encoder = TaskModels.CreateEncoder(config);
            encoder.train();
            using var optimizer = flatBuffer ? new FineTune.Training.FusedAdamW(encoder.named_parameters(), 1e-3, 0.01) : null;
            KernelSettings.SparseEmbeddingGradients = sparse;
            try
            {
                for (int i = 0; i < 2; i++) // accumulates over two passes
                    encoder.call(new BertInput(ids, mask)).LastHiddenState.square().sum().backward();
            }
            finally
            {
                KernelSettings.SparseEmbeddingGradients = true;
            }
            var grad = encoder.named_parameters().First(p => p.name == "embeddings.word_embeddings.weight").parameter.grad!;
            Assert.False(grad.is_sparse);
            return [grad.clone()];
        }
        var reference = Gradients(sparse: false, flatBuffer: false)[0];
        Assert.Equal(0f, reference[0].abs().max().item<float>()); // the padding row
        foreach (var (sparse, flat) in new[] { (true, false), (true, true), (false, true) })
        {
            var other = Gradients(sparse, flat)[0];
            Assert.True((other - reference).abs().max().item<float>() < 1e-5, $"sparse={sparse} flat={flat}");
        }
    }

    [Fact]
    public void AttentionDropoutDropsProbabilitiesInTraining()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        var config = TestSupport.Tiny() with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0.5 };
        var encoder = TaskModels.CreateEncoder(config);
        var (ids, mask) = TestSupport.Batch(100, [9, 9], seed: 2);
        var input = new BertInput(ids, mask);
        encoder.eval();
        var evaluation = encoder.call(input).LastHiddenState;
        encoder.train();
        var first = encoder.call(input).LastHiddenState;
        var second = encoder.call(input).LastHiddenState;
        Assert.True((first - evaluation).abs().max().item<float>() > 1e-3);
        Assert.True((first - second).abs().max().item<float>() > 1e-3);
        random.manual_seed(99);
        var again1 = encoder.call(input).LastHiddenState;
        random.manual_seed(99);
        var again2 = encoder.call(input).LastHiddenState;
        Assert.True(again1.eq(again2).all().item<bool>());
    }
}
