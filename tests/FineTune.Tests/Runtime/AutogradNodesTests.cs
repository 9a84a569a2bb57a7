using FineTune.Runtime;
using static TorchSharp.torch;

namespace FineTune.Tests.Runtime;

public class AutogradNodesTests
{
    [Fact]
    public void EachThreadReleasesTheBuffersOfTheNodeItBuiltNotTheNewestOne()
    {
        // Two threads apply a function; the first releases after the second has built a newer node. Releasing "the
        // newest node" would free the second thread's buffers (and both threads would then free them at once).
        Assert.True(AutogradNodes.CanRelease);
        using var built = new SemaphoreSlim(0);
        using var newerBuilt = new SemaphoreSlim(0);
        bool? firstReleased = null;
        Exception? error = null;
        var first = new Thread(() =>
        {
            try
            {
                using var scope = NewDisposeScope();
                var x = ones(4, 8).requires_grad_();
                var y = Releasing.apply(x);
                built.Release();
                newerBuilt.Wait();
                firstReleased = AutogradNodes.ReleaseOutputCache<Releasing>();
                y.sum().backward();
                Assert.Equal(2.0f, x.grad!.mean().item<float>()); // exact: every element's gradient is 2
            }
            catch (Exception e) { error = e; }
        });
        first.Start();
        Assert.True(built.Wait(TimeSpan.FromSeconds(30)));

        using var scope = NewDisposeScope();
        var x = ones(4, 8).requires_grad_();
        var y = Releasing.apply(x);                                   // the newest node from here on
        Assert.Equal(1, AutogradNodes.CachedOutputs<Releasing>());
        newerBuilt.Release();
        Assert.True(first.Join(TimeSpan.FromSeconds(30)));
        Assert.Null(error);
        Assert.True(firstReleased);
        Assert.Equal(1, AutogradNodes.CachedOutputs<Releasing>());   // the other thread left this one alone

        Assert.True(AutogradNodes.ReleaseOutputCache<Releasing>());
        Assert.Equal(0, AutogradNodes.CachedOutputs<Releasing>());
        Assert.False(AutogradNodes.ReleaseOutputCache<Releasing>()); // once per node built
        y.sum().backward();
        Assert.Equal(2.0f, x.grad!.mean().item<float>());
    }

    private sealed class Releasing : TorchSharp.torch.autograd.SingleTensorFunction<Releasing>
    {
        public override string Name => nameof(Releasing);

        public override Tensor forward(TorchSharp.torch.autograd.AutogradContext ctx, params object[] vars)
        {
            AutogradNodes.WithoutZeroGradients(ctx);
            return ((Tensor)vars[0]).mul(2);
        }

        public override List<Tensor> backward(TorchSharp.torch.autograd.AutogradContext ctx, Tensor gradOutput) => [gradOutput.mul(2)];
    }
}
