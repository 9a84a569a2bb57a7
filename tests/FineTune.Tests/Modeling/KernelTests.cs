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
        Assert.InRange(mask.to(ScalarType.Float64).mean().item<double>(), 1 - 0.0025, 1 + 0.0025); // 7.5 standard deviations
        // Neighbouring elements and rows are not correlated.
        var rows = mask.ne(0).to(ScalarType.Float64);
        double sameAsNext = rows[.., 1..].eq(rows[.., ..^1]).to(ScalarType.Float64).mean().item<double>();
        Assert.InRange(sameAsNext, 0.82 - 0.003, 0.82 + 0.003); // 0.9² + 0.1², ± 5.8 standard deviations (999,000 pairs, neighbours sharing an element)
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
        // x · 1.25 against x / 0.8: a few fp32 roundings (0.8, the quotient, the product), 3u = 1.8e-7 apart at most,
        // within rtol 1e-6.
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
        var input = new ModelInput(ids, mask);
        (Tensor Output, Tensor[] Grads) Run(AttentionKernel attention, bool fuse)
        {
            encoder.Kernels = encoder.Kernels with { Attention = attention };
            encoder.Kernels = encoder.Kernels with { FuseQkv = fuse };
            try
            {
                encoder.zero_grad();
                var output = encoder.call(input).LastHiddenState;
                TestSupport.WeightedSum(output, mask).backward();
                return (output.detach().clone(), encoder.parameters().Select(p => p.grad?.clone() ?? zeros_like(p)).ToArray());
            }
            finally
            {
                encoder.Kernels = encoder.Kernels with { Attention = AttentionKernel.Auto };
                encoder.Kernels = encoder.Kernels with { FuseQkv = true };
            }
        }
        var reference = Run(AttentionKernel.Sdpa, fuse: false);
        // The same values up to the order of the sums: 2·n·u relative, n the longest sum (TestSupport.Fp32SumOrderBound).
        double bound = TestSupport.Fp32SumOrderBound(config, input);
        foreach (var (attention, fuse) in new[] { (AttentionKernel.Eager, false), (AttentionKernel.Eager, true), (AttentionKernel.Sdpa, true) })
        {
            var other = Run(attention, fuse);
            TestSupport.AssertSameForwardBackward(reference, other, mask, bound, $"{attention} fuse={fuse}: ");
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
            encoder.Kernels = encoder.Kernels with { SparseEmbeddingGradients = sparse };
            try
            {
                for (int i = 0; i < 2; i++) // accumulates over two passes
                    TestSupport.WeightedSum(encoder.call(new ModelInput(ids, mask)).LastHiddenState, ones_like(mask)).backward();
            }
            finally
            {
                encoder.Kernels = encoder.Kernels with { SparseEmbeddingGradients = true };
            }
            var grad = encoder.named_parameters().First(p => p.name == "embeddings.word_embeddings.weight").parameter.grad!;
            Assert.False(grad.is_sparse);
            return [grad.clone()];
        }
        var reference = Gradients(sparse: false, flatBuffer: false)[0];
        Assert.Equal(0f, reference[0].abs().max().item<float>()); // the padding row
        // The same rows added in another order: a row's gradient sums at most the 2·B·T looked-up rows of both
        // passes, 2·n·u of max(1, the largest value) apart (TestSupport.SumOrderBound; the loss's weights are in [−1, 1]).
        double bound = TestSupport.SumOrderBound(2 * ids.NumberOfElements) * Math.Max(1, reference.abs().max().item<float>());
        foreach (var (sparse, flat) in new[] { (true, false), (true, true), (false, true) })
        {
            var other = Gradients(sparse, flat)[0];
            double error = (other - reference).abs().max().item<float>();
            Assert.True(error <= bound, $"sparse={sparse} flat={flat}: {error:E2} > {bound:E2}");
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
        var input = new ModelInput(ids, mask);
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

    // SoftmaxDropout: dropout(softmax(scores · scale + bias)) in one pass, against the composition of libtorch's ops
    // with the same mask (DropoutMask.Create draws the same seed from the generator).

    private static int PaddingStart(int t) => Math.Max(1, t - 10);

    private static Tensor PaddingBias(int batch, int t, float masked)
    {
        var bias = zeros(batch, 1, 1, t);
        bias[1, .., .., PaddingStart(t)..] = tensor(masked); // the second example: up to 10 positions of padding
        bias[2] = tensor(masked);                     // the third: every position masked
        return bias;
    }

    [Theory]
    [InlineData(40, 0.0)]
    [InlineData(40, 0.1)]
    [InlineData(128, 0.1)]
    [InlineData(7, 0.3)]
    public void SoftmaxDropoutEqualsTheCompositionInFp32(int t, double p)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(21);
        var scores = randn(3, 4, 9, t) * 4;
        var bias = PaddingBias(3, t, (float)finfo(ScalarType.Float32).min);
        var grad = randn(3, 4, 9, t);
        double scale = 1 / Math.Sqrt(32);

        var fused = scores.clone().requires_grad_();
        random.manual_seed(5);
        var y = SoftmaxDropout.Apply(fused, bias, scale, p);
        y.backward([grad]);

        var reference = scores.clone().requires_grad_();
        random.manual_seed(5);
        var mask = p > 0 ? DropoutMask.Create([3, 4, 9, t], p) : ones(3, 4, 9, t);
        var expected = nn.functional.softmax(reference * scale + bias, -1) * mask;
        expected.backward([grad]);

        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.False(y.isnan().any().item<bool>());
        // The same values up to the order of the sums over the row's t elements (the exponentials' sum, and the
        // gradient's Σ p·g): 2·t·u of the largest value (TestSupport.SumOrderBound).
        double bound = TestSupport.SumOrderBound(t);
        double outputError = (y - expected).abs().max().item<float>(), outputScale = expected.abs().max().item<float>();
        Assert.True(outputError <= bound * outputScale, $"output {outputError:E2} > {bound:E2} x {outputScale:G4}");
        double gradError = (fused.grad! - reference.grad!).abs().max().item<float>(), gradScale = reference.grad!.abs().max().item<float>();
        Assert.True(gradError <= bound * gradScale, $"gradient {gradError:E2} > {bound:E2} x {gradScale:G4}");
        // The fully masked example is uniform, as libtorch's softmax makes it with a finite bias.
        Assert.True((y[2] - mask[2] / t).abs().max().item<float>() <= bound * outputScale);
        // Padding gets nothing.
        Assert.Equal(0f, y[1, .., .., PaddingStart(t)..].abs().max().item<float>());
    }

    [Theory]
    [InlineData(40, 0.1)]
    [InlineData(128, 0.1)]
    [InlineData(128, 0.0)]
    public void SoftmaxDropoutInBf16IsAsExactAsTheComposition(int t, double p)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(22);
        var scores = (randn(3, 4, 9, t) * 4).to(ScalarType.BFloat16);
        var bias = PaddingBias(3, t, (float)finfo(ScalarType.Float32).min);
        var grad = randn(3, 4, 9, t).to(ScalarType.BFloat16);
        double scale = 1 / Math.Sqrt(32);

        var fused = scores.clone().requires_grad_();
        random.manual_seed(5);
        var y = SoftmaxDropout.Apply(fused, bias, scale, p);
        y.backward([grad]);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        Assert.Equal(ScalarType.BFloat16, fused.grad!.dtype);

        random.manual_seed(5);
        var mask = p > 0 ? DropoutMask.Create([3, 4, 9, t], p) : ones(3, 4, 9, t);
        // The exact values, in fp64 from the same bf16 inputs.
        var exact = scores.to(ScalarType.Float64).requires_grad_();
        var expected = nn.functional.softmax(exact * scale + bias.to(ScalarType.Float64), -1) * mask.to(ScalarType.Float64);
        expected.backward([grad.to(ScalarType.Float64)]);
        // libtorch's ops in bf16, as the eager path composes them (the bias cast to bf16 is −∞; the fully masked
        // example, NaN there, is compared below).
        var composed = scores.clone().requires_grad_();
        var composedY = nn.functional.softmax(composed.mul(scale) + bias.to(ScalarType.BFloat16), -1) * mask.to(ScalarType.BFloat16);
        composedY.backward([grad]);

        var rows = TensorIndex.Slice(0, 2);
        double Error(Tensor a, Tensor b) => (a[rows].to(ScalarType.Float64) - b[rows].to(ScalarType.Float64)).abs().max().item<double>();
        double fusedError = Error(y, expected), composedError = Error(composedY, expected);
        // One rounding to bf16: half a bf16 ulp, at most 2^-9 for values below 1 (all are here; 1/(1−p) is slack for
        // kept ones), and no more than the composition's error (to 1%).
        Assert.True(fusedError <= Math.Pow(2, -9) / (1 - p) * 1.01, $"output error {fusedError}");
        Assert.True(fusedError <= composedError * 1.01, $"output error {fusedError} > composition's {composedError}");
        double gradError = Error(fused.grad!, exact.grad!), composedGradError = Error(composed.grad!, exact.grad!);
        double gradMax = exact.grad![rows].abs().max().item<double>();
        // The gradient goes through bf16 roundings of the probabilities it keeps, which enter twice (p·(g − Σ p·g)),
        // and of the result, each within 2^-8 of a value: 3·2^-8 of the largest value; and it is no less exact than
        // the composition's, to 25%.
        Assert.True(gradError <= 3 * TestSupport.Bf16Unit * gradMax, $"gradient error {gradError} of {gradMax}");
        Assert.True(gradError <= composedGradError * 1.25, $"gradient error {gradError} > composition's {composedGradError}");
        // The fully masked example: uniform, no NaN.
        Assert.True((y[2].to(ScalarType.Float64) - expected[2]).abs().max().item<double>() <= Math.Pow(2, -9) / (1 - p));
        Assert.False(fused.grad!.isnan().any().item<bool>());
    }

    [Fact]
    public void SoftmaxDropoutOfARowOfMinusInfinityIsZero()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(23);
        var scores = randn(3, 2, 5, 20).requires_grad_();
        var bias = PaddingBias(3, 20, float.NegativeInfinity);
        var y = SoftmaxDropout.Apply(scores, bias, 1.0, 0.1);
        y.backward([ones_like(y)]);
        Assert.Equal(0f, y[2].abs().max().item<float>());
        Assert.Equal(0f, scores.grad![2].abs().max().item<float>());
        Assert.False(y.isnan().any().item<bool>() || scores.grad!.isnan().any().item<bool>());
        var rowSums = (y[0] * 0.9).sum(-1);
        Assert.True(rowSums.gt(0).all().item<bool>());
    }

    [Fact]
    public void SoftmaxDropoutOfARowWithANaNIsNaN()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(25);
        var scores = randn(2, 3, 40);
        scores[1, 2, 17] = tensor(float.NaN);
        var y = SoftmaxDropout.Apply(scores, null, 1.0, 0.0);
        Assert.True(y[1, 2].isnan().all().item<bool>());
        Assert.Equal(2 * 3 - 1, (int)y.isnan().any(-1).logical_not().sum().item<long>());
    }

    [Fact]
    public void SoftmaxDropoutFollowsTheSeedAndNotTheThreadCount()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(24);
        var scores = randn(4, 12, 64, 64).to(ScalarType.BFloat16);
        var bias = PaddingBias(4, 64, (float)finfo(ScalarType.Float32).min);
        int threads = get_num_threads();
        try
        {
            random.manual_seed(9);
            var a = SoftmaxDropout.Apply(scores, bias, 0.2, 0.1);
            var a2 = SoftmaxDropout.Apply(scores, bias, 0.2, 0.1);
            set_num_threads(1);
            random.manual_seed(9);
            var b = SoftmaxDropout.Apply(scores, bias, 0.2, 0.1);
            Assert.True(a.eq(b).all().item<bool>());
            Assert.False(a.eq(a2).all().item<bool>());
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FusedSoftmaxDropoutInAnEncoderEqualsTheComposition(bool bf16)
    {
        using var scope = NewDisposeScope();
        var (encoder, input) = TestSupport.DropoutEncoder(seed: 12);
        encoder.Kernels = encoder.Kernels with { Attention = AttentionKernel.Eager };
        (Tensor Output, Tensor[] Grads) reference, other;
        try
        {
            (reference, other) = TestSupport.ForwardBackwardOffAndOn(encoder, input, seed: 77, bf16, fused => encoder.Kernels = encoder.Kernels with { FusedSoftmaxDropout = fused });
        }
        finally
        {
            encoder.Kernels = encoder.Kernels with { Attention = AttentionKernel.Auto };
        }
        // The same masks: dropout draws the same seeds in the same order. The same values up to the order of the sums
        // (fp32: 2·n·u relative, n the longest sum) or the bf16 roundings (2·√k·u, k per path).
        TestSupport.AssertSameForwardBackward(reference, other, input.AttentionMask,
            bf16 ? TestSupport.Bf16RoundingBound(encoder.Config) : TestSupport.Fp32SumOrderBound(encoder.Config, input));
    }

    [Fact]
    public void LinearLayersCastForAutocastAsAutocastDoes()
    {
        using var scope = NewDisposeScope();
        var (encoder, input) = TestSupport.DropoutEncoder(seed: 14);
        var (byAutocast, explicitly) = TestSupport.ForwardBackwardOffAndOn(encoder, input, seed: 80, bf16: true,
            explicitCasts => encoder.Kernels = encoder.Kernels with { ExplicitAutocastCasts = explicitCasts });
        // The same operands in the same dtypes. libtorch's bf16 linear takes another path when autocast casts for it
        // (at 4096 x 384 -> 1536, 7% of the outputs round to a neighbouring bf16 value; the mean error against fp64 is
        // the same, 8.7e-4), so the results agree to bf16's precision rather than bit for bit: within the bound on
        // two bf16 passes' rounding differences, 2·√k·u relative (TestSupport.Bf16RoundingBound), at every position.
        Assert.Equal(ScalarType.Float32, explicitly.Output.dtype);
        Assert.All(explicitly.Grads, g => Assert.Equal(ScalarType.Float32, g.dtype));
        TestSupport.AssertSameForwardBackward(byAutocast, explicitly, ones_like(input.AttentionMask), TestSupport.Bf16RoundingBound(encoder.Config));
        // Without autocast nothing is cast: the module's own call, bit for bit.
        encoder.Kernels = encoder.Kernels with { ExplicitAutocastCasts = true };
        var x = randn(3, 5, encoder.Config.HiddenSize);
        var linear = nn.Linear(encoder.Config.HiddenSize, 7);
        Assert.True(Dense.Apply(linear, x, KernelOptions.Default).eq(linear.call(x)).all().item<bool>());
        Assert.Null(Dense.Apply(x, linear.weight!, linear.bias, KernelOptions.Default));
    }
}
