using FineTune.Configuration;
using FineTune.Training;

namespace FineTune.Tests.Training;

public class LearningRateScheduleTests
{
    [Theory]
    [InlineData(ScheduleKind.Linear)]
    [InlineData(ScheduleKind.Cosine)]
    [InlineData(ScheduleKind.Constant)]
    public void WarmupRisesLinearlyFromZero(ScheduleKind kind)
    {
        Assert.Equal(0.0, LearningRateSchedule.Multiplier(kind, 0, 10, 100));
        Assert.Equal(0.5, LearningRateSchedule.Multiplier(kind, 5, 10, 100), 12);
        Assert.Equal(1.0, LearningRateSchedule.Multiplier(kind, 10, 10, 100), 12);
    }

    [Fact]
    public void LinearDecaysToZeroAtTheLastStep()
    {
        Assert.Equal(0.5, LearningRateSchedule.Multiplier(ScheduleKind.Linear, 55, 10, 100), 12);
        Assert.Equal(1.0 / 90, LearningRateSchedule.Multiplier(ScheduleKind.Linear, 99, 10, 100), 12);
        Assert.Equal(0.0, LearningRateSchedule.Multiplier(ScheduleKind.Linear, 100, 10, 100));
    }

    [Fact]
    public void CosineFollowsHalfACosine()
    {
        Assert.Equal(0.5, LearningRateSchedule.Multiplier(ScheduleKind.Cosine, 55, 10, 100), 12);
        Assert.Equal(0.5 * (1 + Math.Cos(Math.PI * 0.25)), LearningRateSchedule.Multiplier(ScheduleKind.Cosine, 32.5 > 0 ? 32 : 0, 10, 98), 12);
        Assert.Equal(0.0, LearningRateSchedule.Multiplier(ScheduleKind.Cosine, 100, 10, 100), 12);
    }

    [Fact]
    public void ConstantStaysAfterWarmup()
    {
        Assert.Equal(1.0, LearningRateSchedule.Multiplier(ScheduleKind.Constant, 99, 10, 100));
    }

    [Fact]
    public void NoWarmupStartsAtTheFullRate()
    {
        Assert.Equal(1.0, LearningRateSchedule.Multiplier(ScheduleKind.Linear, 0, 0, 100));
    }

    [Fact]
    public void WarmupRatioRoundsUpAndStepsWin()
    {
        Assert.Equal(11, LearningRateSchedule.WarmupSteps(new TrainingOptions { WarmupRatio = 0.1 }, 101));
        Assert.Equal(7, LearningRateSchedule.WarmupSteps(new TrainingOptions { WarmupRatio = 0.1, WarmupSteps = 7 }, 101));
    }
}
