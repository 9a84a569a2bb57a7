using FineTune.Configuration;
using FineTune.Modeling;
using FineTune.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineTune.Tests.Training;

[Collection(SeededTestsCollection.Name)]
public class FusedAdamWTests
{
    private static TaskModel TinyClassifier(int seed)
    {
        random.manual_seed(seed);
        var model = TestSupport.Create(TestSupport.Tiny().WithLabels(["a", "b", "c"], "single_label_classification"), "classification");
        model.eval(); // no dropout: both runs must see the same function
        return model;
    }

    private static ModelInput Batch(int seed)
    {
        var (ids, mask) = TestSupport.Batch(100, [6, 9, 4, 9], seed: seed);
        return new ModelInput(ids, mask, Labels: tensor(new long[] { 0, 2, 1, 2 }));
    }

    [Fact]
    public void MatchesTorchSharpAdamWWithDecayGroupsAndAccumulation()
    {
        using var scope = NewDisposeScope();
        var ours = TinyClassifier(7);
        var reference = TinyClassifier(7);
        const double lr = 1e-3, wd = 0.1;
        using var fused = new FusedAdamW(ours.named_parameters(), lr, wd);
        var (decay, noDecay) = ParameterGroups.Split(reference.named_parameters());
        var torchAdamW = optim.AdamW(new[]
        {
            new AdamW.ParamGroup(decay.Select(p => p.Parameter), new AdamW.Options { LearningRate = lr, weight_decay = wd }),
            new AdamW.ParamGroup(noDecay.Select(p => p.Parameter), new AdamW.Options { LearningRate = lr, weight_decay = 0.0 }),
        }, lr);

        var referenceParameters = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        const int steps = 6;
        for (int step = 0; step < steps; step++)
        {
            fused.ZeroGrad();
            reference.zero_grad();
            // Two micro-batches accumulate into the same gradients.
            foreach (var micro in new[] { 2 * step, 2 * step + 1 })
                ours.call(Batch(micro)).Loss!.backward();
            // Both optimizers get exactly the same gradients. (Computed by each model, gradients that are zero in
            // exact arithmetic, such as those of the key biases, are rounding noise that differs with the last bit
            // of the weights; Adam scales noise up to full-size steps, so that would compare noise, not optimizers.)
            using (no_grad())
                foreach (var (name, p) in ours.named_parameters())
                    referenceParameters[name].grad = p.grad!.clone();
            fused.Step();
            torchAdamW.step();
        }

        var a = ours.state_dict();
        var b = reference.state_dict();
        foreach (var (key, value) in a)
        {
            double diff = (value - b[key]).abs().max().item<float>();
            double bound = AdamWDriftBound(steps, value);
            Assert.True(diff <= bound, $"{key}: max abs difference {diff:E2} > {bound:E2}");
        }
        // Something was learned: parameters moved from their initial values.
        var initial = TinyClassifier(7).state_dict();
        Assert.True((a["classifier.weight"] - initial["classifier.weight"]).abs().max().item<float>() > 1e-3);
    }

    /// <summary>
    /// How far two AdamW implementations given the same gradients may drift apart in <paramref name="steps"/> steps:
    /// each rounds a parameter at most twice a step (the decay, the update) from values that differ only by the
    /// update's own roundings (a few u of lr·m̂/(√v̂ + ε), far below an ulp of the parameter), so they end up at most
    /// 2 ulps apart per step: 2·steps·ulp ≤ 4·steps·u·max(1, |p|), u = 2^-24.
    /// </summary>
    private static double AdamWDriftBound(int steps, Tensor parameters) =>
        4 * steps * TestSupport.Fp32Unit * Math.Max(1, parameters.abs().max().item<float>());

    [Fact]
    public void ParametersAndGradientsAreViewsOfTheFlatBuffers()
    {
        using var scope = NewDisposeScope();
        var model = TinyClassifier(3);
        using var fused = new FusedAdamW(model.named_parameters(), 1e-3, 0.01);
        model.call(Batch(1)).Loss!.backward();
        var gradsBefore = model.parameters().Select(p => p.grad!.clone()).ToList();
        // If autograd had replaced a .grad instead of accumulating into the view, this would re-attach it.
        fused.EnsureGradViews();
        var gradsAfter = model.parameters().Select(p => p.grad!).ToList();
        for (int i = 0; i < gradsBefore.Count; i++)
            Assert.True((gradsBefore[i] - gradsAfter[i]).abs().max().item<float>() == 0);
        double norm = fused.ClipGradNorm(0);
        double expected = Math.Sqrt(gradsBefore.Sum(g => g.square().sum().item<float>()));
        // To 4 decimal places, 6e-5 of this norm (0.83): both sum the squares in fp32 over up to 3,200 terms (a
        // tensor; the flat kernel's blocks are shorter), then in double: typically off by √3200·u = 3.4e-6 of the
        // norm or less (seen: 0.13·u).
        Assert.Equal(expected, norm, 4);
        Assert.True(norm > 0);
        fused.ZeroGrad();
        Assert.All(model.parameters(), p => Assert.Equal(0f, p.grad!.abs().max().item<float>()));
    }

    [Fact]
    public void ClippingScalesTheGlobalNormDown()
    {
        using var scope = NewDisposeScope();
        var model = TinyClassifier(4);
        using var fused = new FusedAdamW(model.named_parameters(), 1e-3, 0.01);
        model.call(Batch(2)).Loss!.backward();
        double before = fused.ClipGradNorm(0.01);
        Assert.True(before > 0.01);
        double after = fused.ClipGradNorm(0);
        Assert.Equal(0.01, after, 4); // 0.01 · norm / (norm + 1e-6), to 4 decimal places
    }

    [Fact]
    public void OnePassKernelsEqualLibTorchElementWiseKernels()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(2);
        var a = nn.Parameter(randn(70_001, 3));
        var b = nn.Parameter(a.detach().clone());
        var c = nn.Parameter(randn(70_001));
        var d = nn.Parameter(c.detach().clone());
        using var flat = new FusedAdamW([("a.weight", a), ("c.bias", c)], 2e-3, 0.05);
        using var plain = new FusedAdamW([("b.weight", b), ("d.bias", d)], 2e-3, 0.05);
        try
        {
            int steps = 0;
            foreach (var magnitude in new[] { 1.0, 1e-3, 1e-7, 10.0 })
            {
                steps++;
                var g1 = randn(70_001, 3) * magnitude;
                var g2 = randn(70_001) * magnitude;
                double[] norms = new double[2];
                for (int which = 0; which < 2; which++)
                {
                    FusedAdamW.FlatKernelsEnabled = which == 0;
                    var optimizer = which == 0 ? flat : plain;
                    optimizer.ZeroGrad();
                    using (no_grad())
                    {
                        (which == 0 ? a : b).grad!.copy_(g1);
                        (which == 0 ? c : d).grad!.copy_(g2);
                    }
                    optimizer.ScaleGradients(0.25);
                    norms[which] = optimizer.ClipGradNorm(1.0);
                    optimizer.Step();
                }
                // To 4 decimal places (the norms are 1.3e-5 to 1324; at 1324 that is 0.6·u of it): both add the
                // squares up in double, the flat kernel after fp32 partial sums over blocks of 1,024 (by vector lane),
                // whose rounding errors, of either sign, mostly cancel over the 273 blocks (seen: 0.02·u at most).
                Assert.Equal(norms[1], norms[0], 4);
                double weightBound = AdamWDriftBound(steps, b), biasBound = AdamWDriftBound(steps, d);
                Assert.True((a - b).abs().max().item<float>() <= weightBound, $"weights at gradient scale {magnitude}");
                Assert.True((c - d).abs().max().item<float>() <= biasBound, $"biases at gradient scale {magnitude}");
            }
        }
        finally
        {
            FusedAdamW.FlatKernelsEnabled = true;
        }
    }

    [Fact]
    public void LazyEmbeddingRowsLeaveRowsWithoutGradientAsTheyAre()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(6);
        var e1 = nn.Parameter(randn(50, 8));
        var w1 = nn.Parameter(randn(8, 8));
        var e2 = nn.Parameter(e1.detach().clone());
        var w2 = nn.Parameter(w1.detach().clone());
        using var lazy = new FusedAdamW([("embeddings.word_embeddings.weight", e1), ("dense.weight", w1)], 1e-2, 0.1, lazyEmbeddingRows: true);
        using var dense = new FusedAdamW([("embeddings.word_embeddings.weight", e2), ("dense.weight", w2)], 1e-2, 0.1);
        Assert.True(lazy.LazyEmbeddingRows);
        var before = e1.detach().clone();
        var gradE = zeros(50, 8);
        gradE[3] = randn(8);
        gradE[17] = randn(8);
        var gradW = randn(8, 8);
        foreach (var (optimizer, e, w) in new[] { (lazy, e1, w1), (dense, e2, w2) })
        {
            using (no_grad()) { e.grad!.copy_(gradE); w.grad!.copy_(gradW); }
            optimizer.Step();
        }
        // Rows 3 and 17 and the dense matrix are updated exactly as by AdamW; every other row is untouched (AdamW decays them).
        foreach (var row in new[] { 3, 17 })
            Assert.True((e1[row] - e2[row]).abs().max().item<float>() == 0);
        Assert.True((w1 - w2).abs().max().item<float>() == 0);
        Assert.True((e1[0] - before[0]).abs().max().item<float>() == 0);
        Assert.True((e2[0] - before[0]).abs().max().item<float>() > 0);
    }

    [Fact]
    public void MatricesDecayAndVectorsDoNot()
    {
        using var scope = NewDisposeScope();
        var model = TinyClassifier(1);
        var (decay, noDecay) = ParameterGroups.Split(model.named_parameters());
        Assert.Contains(decay, p => p.Name == "bert.embeddings.word_embeddings.weight");
        Assert.Contains(decay, p => p.Name == "bert.encoder.layer.0.attention.self.query.weight");
        Assert.Contains(decay, p => p.Name == "classifier.weight");
        Assert.Contains(noDecay, p => p.Name == "bert.encoder.layer.0.attention.self.query.bias");
        Assert.Contains(noDecay, p => p.Name == "bert.embeddings.LayerNorm.weight");
        Assert.Contains(noDecay, p => p.Name == "bert.encoder.layer.1.output.LayerNorm.bias");
        Assert.DoesNotContain(decay, p => p.Name.EndsWith(".bias") || p.Name.Contains("LayerNorm"));
    }
}
