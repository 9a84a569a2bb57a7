using FineTune.Configuration;
using FineTune.Modeling;
using FineTune.Runtime;
using static TorchSharp.torch;

namespace FineTune.Tests.Modeling;

/// <summary>The fused block end LayerNorm(dropout(branch) + residual) against libtorch's ops composed.</summary>
[Collection(SeededTestsCollection.Name)]
public class ResidualLayerNormTests
{
    private const double Eps = 1e-12;

    private static double MaxError(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();

    private static double MaxAbs(Tensor a) => a.to(ScalarType.Float64).abs().max().item<double>();

    /// <summary>
    /// <paramref name="actual"/> is within <paramref name="bound"/> times the largest absolute value of
    /// <paramref name="expected"/> (the bound of <see cref="TestSupport.SumOrderBound"/>, for the longest sum).
    /// </summary>
    private static void AssertWithin(Tensor actual, Tensor expected, double bound, string what)
    {
        double error = MaxError(actual, expected), scale = MaxAbs(expected);
        Assert.True(error <= bound * scale, $"{what}: {error:E2} > {bound:E2} x {scale:G4}");
    }

    [Theory]
    [InlineData(48, 0.0)]
    [InlineData(48, 0.1)]
    [InlineData(20, 0.3)]   // 16 lanes and a tail of 4
    [InlineData(7, 0.1)]    // only the tail
    public void EqualsTheCompositionInFp32(int h, double p)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(31);
        var branch = randn(3, 11, h) * 2;
        var residual = randn(3, 11, h) + 0.5;
        var weight = (randn(h) * 0.3 + 1).requires_grad_();
        var bias = (randn(h) * 0.1).requires_grad_();
        var grad = randn(3, 11, h);

        var b1 = branch.clone().requires_grad_();
        var r1 = residual.clone().requires_grad_();
        random.manual_seed(5);
        var (y, low) = ResidualLayerNorm.Apply(b1, r1, weight, bias, Eps, p, low: false);
        Assert.Null(low);
        y.backward([grad]);
        var fused = (b1.grad!.clone(), r1.grad!.clone(), weight.grad!.clone(), bias.grad!.clone());
        weight.grad!.zero_();
        bias.grad!.zero_();

        var b2 = branch.clone().requires_grad_();
        var r2 = residual.clone().requires_grad_();
        random.manual_seed(5);
        var mask = p > 0 ? DropoutMask.Create([3, 11, h], p) : ones(3, 11, h);
        var expected = nn.functional.layer_norm(b2 * mask + r2, [h], weight, bias, Eps);
        expected.backward([grad]);

        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.Equal(branch.shape, y.shape);
        // The same values up to the order of the sums: 2·n·u of the largest value, n the longest sum (the row's h
        // elements, or the weight and bias gradients' 3·11 rows).
        double bound = TestSupport.SumOrderBound(Math.Max(h, 3 * 11));
        AssertWithin(y, expected, bound, "output");
        AssertWithin(fused.Item1, b2.grad!, bound, "branch gradient");
        AssertWithin(fused.Item2, r2.grad!, bound, "residual gradient");
        AssertWithin(fused.Item3, weight.grad!, bound, "weight gradient");
        AssertWithin(fused.Item4, bias.grad!, bound, "bias gradient");
        if (p > 0)
        {
            // Dropped elements of the branch get no gradient; the residual's gradient does not depend on the mask.
            var dropped = mask.eq(0);
            Assert.True(dropped.any().item<bool>());
            Assert.Equal(0.0, MaxAbs(fused.Item1.masked_select(dropped)));
        }
    }

    [Fact]
    public void Bf16BranchGivesTheFp32ResultAndItsBf16Rounding()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(32);
        const int h = 64;
        const double p = 0.1;
        var branch = (randn(4, 9, h) * 2).to(ScalarType.BFloat16);
        var residual = randn(4, 9, h);
        var weight = (randn(h) * 0.3 + 1).requires_grad_();
        var bias = (randn(h) * 0.1).requires_grad_();
        var g1 = randn(4, 9, h);
        var g2 = randn(4, 9, h);

        var b1 = branch.clone().requires_grad_();
        var r1 = residual.clone().requires_grad_();
        random.manual_seed(6);
        var (y, low) = ResidualLayerNorm.Apply(b1, r1, weight, bias, Eps, p, low: true);
        Assert.NotNull(low);
        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.Equal(ScalarType.BFloat16, low!.dtype);
        // The bf16 copy is the fp32 result rounded as a cast rounds it.
        Assert.True(low.eq(y.detach().to(ScalarType.BFloat16)).all().item<bool>());
        ((y * g1).sum() + (low.to(ScalarType.Float32) * g2).sum()).backward();
        Assert.Equal(ScalarType.BFloat16, b1.grad!.dtype);
        Assert.Equal(ScalarType.Float32, r1.grad!.dtype);
        var fused = (b1.grad!.clone(), r1.grad!.clone(), weight.grad!.clone(), bias.grad!.clone());
        weight.grad!.zero_();
        bias.grad!.zero_();

        // The composition as a bf16 autocast step has it: dropout of the bf16 branch (scaled in fp32, rounded once),
        // the fp32 sum, LayerNorm in fp32, and the cast for the next linear layer.
        var b2 = branch.clone().requires_grad_();
        var r2 = residual.clone().requires_grad_();
        random.manual_seed(6);
        var dropped = DropoutMask.Apply(b2, p);
        var expected = nn.functional.layer_norm(dropped + r2, [h], weight, bias, Eps);
        var expectedLow = expected.to(ScalarType.BFloat16);
        ((expected * g1).sum() + (expectedLow.to(ScalarType.Float32) * g2).sum()).backward();

        // The fp32 values up to the order of the sums: 2·n·u of the largest value, n the longest sum (the row's h
        // elements, or the weight and bias gradients' 4·9 rows).
        double bound = TestSupport.SumOrderBound(Math.Max(h, 4 * 9));
        AssertWithin(y, expected, bound, "output");
        // Equal up to the last bit of LayerNorm's sums: a bf16 rounding may fall the other way, by one bf16 ulp of the
        // value, at most 2^-7 of the largest.
        Assert.True(MaxError(low, expectedLow) <= Math.Pow(2, -7) * MaxAbs(expected), $"bf16 output {MaxError(low, expectedLow)}");
        // The branch gradient is rounded to bf16 once here (off by half an ulp at most), twice in the composition,
        // before and after the mask (off by 0.5 + 0.5/0.9 ulp at most): less than two ulps apart, so one, as bf16
        // values of one binade differ by whole ulps; at most 2^-7 of the largest value.
        Assert.True(MaxError(fused.Item1, b2.grad!) <= Math.Pow(2, -7) * MaxAbs(b2.grad!), $"branch gradient {MaxError(fused.Item1, b2.grad!)}");
        AssertWithin(fused.Item2, r2.grad!, bound, "residual gradient");
        AssertWithin(fused.Item3, weight.grad!, bound, "weight gradient");
        AssertWithin(fused.Item4, bias.grad!, bound, "bias gradient");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AnOutputThatNothingUsesContributesNoGradient(bool useLow)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(33);
        const int h = 32;
        var branch = randn(5, h).to(ScalarType.BFloat16).requires_grad_();
        var residual = randn(5, h).requires_grad_();
        var weight = ones(h).requires_grad_();
        var bias = zeros(h).requires_grad_();
        var g = randn(5, h);
        var (y, low) = ResidualLayerNorm.Apply(branch, residual, weight, bias, Eps, 0.0, low: true);
        (useLow ? (low!.to(ScalarType.Float32) * g).sum() : (y * g).sum()).backward();

        var r2 = residual.detach().clone().requires_grad_();
        var expected = nn.functional.layer_norm(branch.detach().to(ScalarType.Float32) + r2, [h], null, null, Eps);
        (useLow ? (expected.to(ScalarType.BFloat16).to(ScalarType.Float32) * g).sum() : (expected * g).sum()).backward();
        AssertWithin(residual.grad!, r2.grad!, TestSupport.SumOrderBound(h), "residual gradient"); // sums of h terms
        Assert.False(branch.grad!.isnan().any().item<bool>());
    }

    [Fact]
    public void WithoutGradientsItIsTheForwardAlone()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(34);
        const int h = 40;
        var branch = randn(2, 6, h);
        var residual = randn(2, 6, h);
        var weight = randn(h).requires_grad_();
        var bias = randn(h).requires_grad_();
        using (no_grad())
        {
            var (y, _) = ResidualLayerNorm.Apply(branch, residual, weight, bias, 1e-5, 0.0, low: false);
            Assert.False(y.requires_grad);
            var expected = nn.functional.layer_norm(branch + residual, [h], weight, bias, 1e-5);
            AssertWithin(y, expected, TestSupport.SumOrderBound(h), "output"); // sums of h terms
        }
    }

    [Fact]
    public void FollowsTheSeedAndNotTheThreadCount()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(35);
        const int h = 384;
        var branch = randn(16, 128, h).to(ScalarType.BFloat16);
        var residual = randn(16, 128, h);
        var weight = randn(h).requires_grad_();
        var bias = randn(h).requires_grad_();
        var g = randn(16, 128, h);
        int threads = get_num_threads();
        (Tensor Y, Tensor Branch, Tensor Weight) Run(int seed)
        {
            weight.grad?.zero_();
            var b = branch.clone().requires_grad_();
            random.manual_seed(seed);
            var (y, _) = ResidualLayerNorm.Apply(b, residual, weight, bias, Eps, 0.1, low: false);
            (y * g).sum().backward();
            return (y.detach(), b.grad!, weight.grad!.clone());
        }
        try
        {
            set_num_threads(2);
            var a = Run(9);
            var a2 = Run(10);
            set_num_threads(1);
            var c = Run(9);
            Assert.True(a.Y.eq(c.Y).all().item<bool>());
            Assert.True(a.Branch.eq(c.Branch).all().item<bool>());
            // The weight gradient's sums may be split differently over the threads: the rows are summed in fp32 over
            // blocks of 64 (then in double), and a block split elsewhere is off by about √64·u·Σ|g·x̂| either way.
            // Σ|g·x̂| is 10.5 times the largest gradient here: 2·8·10.5·u = 1e-5 of it. (These 2048 rows split into
            // two ranges on a block boundary, and the sums agree exactly.)
            Assert.True(MaxError(a.Weight, c.Weight) < 1e-5 * MaxAbs(c.Weight));
            Assert.False(a.Y.eq(a2.Y).all().item<bool>());
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Fact]
    public void RejectsWhatItDoesNotSupport()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 8);
        Assert.False(ResidualLayerNorm.Supports(x, randn(2, 9), ones(8), zeros(8)));
        Assert.False(ResidualLayerNorm.Supports(x, randn(2, 8), ones(9), zeros(9)));
        Assert.False(ResidualLayerNorm.Supports(x.to(ScalarType.Float64), randn(2, 8), ones(8), zeros(8)));
        Assert.False(ResidualLayerNorm.Supports(x, randn(2, 8), ones(8).to(ScalarType.BFloat16), zeros(8)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ResidualLayerNorm.Apply(x, randn(2, 8), ones(8), zeros(8), Eps, 1.0, low: false));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FusedBlockEndsInAnEncoderEqualTheComposition(bool bf16)
    {
        using var scope = NewDisposeScope();
        var (encoder, input) = TestSupport.DropoutEncoder(seed: 13);
        var (reference, other) = TestSupport.ForwardBackwardOffAndOn(encoder, input, seed: 78, bf16,
            fused => encoder.Kernels = encoder.Kernels with { FusedResidualLayerNorm = fused });
        // The same masks: the block ends draw the same seeds in the same order as dropout did. The same values up to
        // the order of the sums (fp32: 2·n·u relative, n the longest sum) or the bf16 roundings (2·√k·u, k per path).
        TestSupport.AssertSameForwardBackward(reference, other, input.AttentionMask,
            bf16 ? TestSupport.Bf16RoundingBound(encoder.Config) : TestSupport.Fp32SumOrderBound(encoder.Config, input));
        // And the run changed something: the outputs differ from the same encoder with other dropout masks.
        encoder.Kernels = encoder.Kernels with { FusedResidualLayerNorm = true };
        random.manual_seed(79);
        var otherMasks = encoder.call(input).LastHiddenState.detach();
        Assert.True((otherMasks - other.Output).abs().max().item<float>() > 1e-3);
    }

    [Fact]
    public void TheLibrarysAutogradFunctionsKeepNoOutputBuffersInTheGraph()
    {
        // TorchSharp keeps an output-sized buffer per output of a custom autograd function until backward; the
        // library's functions release theirs (AutogradNodes). The TorchSharp in use must lay its nodes out as expected.
        Assert.True(AutogradNodes.CanRelease);
        using var scope = NewDisposeScope();
        random.manual_seed(36);
        var x = randn(4, 16).requires_grad_();
        // A function that does not release: its buffer is there to be seen.
        var kept = KeepsItsBuffer.apply(x);
        Assert.Equal(1, AutogradNodes.CachedOutputs<KeepsItsBuffer>());

        var branch = randn(4, 16).to(ScalarType.BFloat16).requires_grad_();
        var residual = randn(4, 16).requires_grad_();
        var (y, low) = ResidualLayerNorm.Apply(branch, residual, ones(16), zeros(16), Eps, 0.1, low: true);
        Assert.Equal(0, ResidualLayerNorm.CachedOutputsOfNewestNode());
        var scores = randn(2, 3, 8, 8).requires_grad_();
        var probabilities = SoftmaxDropout.Apply(scores, null, 0.5, 0.1);
        Assert.Equal(0, SoftmaxDropout.CachedOutputsOfNewestNode());
        var dropped = DropoutMask.Apply(randn(4, 16).requires_grad_(), 0.1);
        Assert.Equal(0, DropoutMask.CachedOutputsOfNewestNode());
        var embedding = nn.Embedding(10, 16);
        var weightGrad = zeros_like(embedding.weight!);
        embedding.weight!.grad = weightGrad; // a dense gradient to add into, as FusedAdamW attaches one
        var rows = Words.Lookup(embedding, tensor(new long[] { 1, 2, 2, 0 }).view(1, 4), paddingIndex: 0, KernelOptions.Default);
        Assert.Equal(0, AutogradNodes.CachedOutputs<EmbeddingLookup>());

        // Backward still works, with a gradient for every input.
        ((y + low!.to(ScalarType.Float32)).sum() + probabilities.sum() + kept.sum() + dropped.sum() + rows.sum()).backward();
        Assert.NotNull(branch.grad);
        Assert.NotNull(residual.grad);
        Assert.NotNull(scores.grad);
        Assert.False(scores.grad!.isnan().any().item<bool>());
        // Two lookups of row 2, one of row 1, none of the padding row.
        var embeddingGrad = embedding.weight!.grad!;
        Assert.Equal(2f, embeddingGrad[2, 0].item<float>());
        Assert.Equal(1f, embeddingGrad[1, 0].item<float>());
        Assert.Equal(0f, embeddingGrad[0].abs().sum().item<float>());
    }

    private sealed class KeepsItsBuffer : TorchSharp.torch.autograd.SingleTensorFunction<KeepsItsBuffer>
    {
        public override string Name => nameof(KeepsItsBuffer);
        public override Tensor forward(TorchSharp.torch.autograd.AutogradContext ctx, params object[] vars) => ((Tensor)vars[0]).mul(2);
        public override List<Tensor> backward(TorchSharp.torch.autograd.AutogradContext ctx, Tensor gradOutput) => [gradOutput.mul(2)];
    }
}
