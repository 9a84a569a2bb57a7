using FineTune.Runtime;

namespace FineTune.Tests.Runtime;

public class GlibcHeapGuardTests
{
    private const long MiB = 1 << 20;

    [Fact]
    public void TrimsOnlyWhenTheResidentSetOutgrowsAFreshStepByTheMargin()
    {
        var guard = new GlibcHeapGuard(256 * MiB);
        int trims = 0;
        bool Step(long residentMiB) => guard.Observe(residentMiB * MiB, () => { trims++; return true; });

        Assert.False(Step(1500));            // the first step sets the limit: 1500 + 256
        Assert.False(Step(1600));
        Assert.False(Step(1756));            // at the limit
        Assert.True(Step(1757));             // above it: trimmed
        Assert.Equal(1, trims);
        Assert.False(Step(1400));            // the step after a trim is fresh; a smaller one keeps the limit (1756)
        Assert.False(Step(1700));
        Assert.True(Step(1800));
        Assert.False(Step(1900));            // a larger fresh step raises the limit to 2156
        Assert.False(Step(2100));
        Assert.True(Step(2157));
        Assert.Equal(3, trims);
        Assert.Equal(3, guard.Trims);
        Assert.False(guard.Observe(-1, () => throw new InvalidOperationException("no trim when RSS is unknown")));
    }

    [Theory]
    [InlineData(32, 128, 0)]
    [InlineData(32, 181, 0)]    // 1,048,352 < 2^20
    [InlineData(32, 182, 1)]    // 1,059,968
    [InlineData(32, 256, 1)]
    [InlineData(8, 512, 1)]
    [InlineData(1, 1000, 0)]
    public void TrimsBetweenForwardAndBackwardOnlyForLongBatches(long rows, long length, int trims)
    {
        var guard = new GlibcHeapGuard(256 * MiB);
        guard.BeforeBackward(rows, length);
        Assert.Equal(trims, guard.BackwardTrims);
        Assert.Equal(0, guard.Trims);
    }

    [Fact]
    public void ReadsThisProcesssResidentSetAndIsOnlyActiveOnGlibcWithTheLibrarysSettings()
    {
        if (OperatingSystem.IsLinux()) Assert.True(GlibcHeapGuard.ResidentBytes() > 0);
        var guard = GlibcHeapGuard.ForThisProcess();
        bool expected = NativeMemory.Current == "glibc" && NativeMemory.Choice is not AllocatorChoice.System;
        Assert.Equal(expected, guard is not null);
        if (guard is not null) Assert.Equal(NativeMemory.GlibcDefaults.TrimMargin, (int)guard.Margin);
        Assert.Throws<ArgumentOutOfRangeException>(() => new GlibcHeapGuard(0));
    }
}
