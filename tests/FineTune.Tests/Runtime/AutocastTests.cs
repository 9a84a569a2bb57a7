using FineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Tests.Runtime;

public class AutocastTests
{
    [Fact]
    public void MatmulRunsInBf16InsideTheScopeAndFp32Outside()
    {
        using var scope = NewDisposeScope();
        var a = randn(8, 16);
        var w = nn.Linear(16, 4);
        Assert.Equal(ScalarType.Float32, w.call(a).dtype);
        using (Autocast.Enter(DeviceType.CPU, ScalarType.BFloat16))
        {
            Assert.True(Autocast.IsEnabledFor(DeviceType.CPU));
            Assert.Equal(ScalarType.BFloat16, w.call(a).dtype);
            Assert.Equal(ScalarType.BFloat16, a.matmul(a.t()).dtype);
            // Reductions that autocast keeps in fp32 on the CPU.
            Assert.Equal(ScalarType.Float32, nn.functional.layer_norm(a, [16]).dtype);
        }
        Assert.False(Autocast.IsEnabledFor(DeviceType.CPU));
        Assert.Equal(ScalarType.Float32, w.call(a).dtype);
    }

    [Fact]
    public void GradientsReachFp32Weights()
    {
        using var scope = NewDisposeScope();
        var w = nn.Linear(16, 4);
        var x = randn(8, 16);
        using (Autocast.Enter(DeviceType.CPU, ScalarType.BFloat16))
        {
            var loss = w.call(x).to(ScalarType.Float32).square().mean();
            loss.backward();
        }
        Assert.Equal(ScalarType.Float32, w.weight!.grad!.dtype);
        Assert.True(w.weight!.grad!.abs().sum().item<float>() > 0);
    }

    [Theory]
    [InlineData(true, true, FineTune.Configuration.Precision.Bf16)]   // Sapphire Rapids and later: AMX
    [InlineData(false, true, FineTune.Configuration.Precision.Bf16)]  // AVX512-BF16 without AMX (Zen 4, Cooper Lake)
    [InlineData(false, false, FineTune.Configuration.Precision.Fp32)] // neither: bf16 products are converted or emulated
    public void AutoFollowsTheCpusBf16Instructions(bool amx, bool avx512Bf16, FineTune.Configuration.Precision expected) =>
        Assert.Equal(expected, PrecisionScopes.ForCpu(amx, avx512Bf16));

    [Fact]
    public void AutoResolvesForThisCpuAndExplicitPrecisionsStay()
    {
        var expected = PrecisionScopes.ForCpu(FineTune.Runtime.CpuFeatures.HasAmxBf16, FineTune.Runtime.CpuFeatures.HasAvx512Bf16);
        Assert.Equal(expected, PrecisionScopes.Resolve(FineTune.Configuration.Precision.Auto, CPU));
        Assert.Equal(FineTune.Configuration.Precision.Fp32, PrecisionScopes.Resolve(FineTune.Configuration.Precision.Fp32, CPU));
        Assert.Equal(FineTune.Configuration.Precision.Bf16, PrecisionScopes.Resolve(FineTune.Configuration.Precision.Bf16, CPU));
        Assert.Equal(FineTune.Configuration.Precision.Fp32, PrecisionScopes.Resolve(FineTune.Configuration.Precision.Auto, new Device(DeviceType.CUDA, 0)));
        Assert.Null(PrecisionScopes.For(FineTune.Configuration.Precision.Fp32, CPU));
        Assert.Equal(expected == FineTune.Configuration.Precision.Bf16, PrecisionScopes.For(FineTune.Configuration.Precision.Auto, CPU) is not null);
    }
}
