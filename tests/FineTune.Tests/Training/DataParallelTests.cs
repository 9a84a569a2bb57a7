using FineTune.Configuration;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Tests.Cli;
using FineTune.Training;
using static TorchSharp.torch;

namespace FineTune.Tests.Training;

/// <summary>The parts of data-parallel training that need no second process (the 2-rank runs are in <see cref="DistributedTests"/>).</summary>
public class DataParallelTests
{
    [Fact]
    public void ShardsCoverTheBatchInOrderWithSizesDifferingByAtMostOne()
    {
        for (int length = 0; length <= 9; length++)
            for (int size = 1; size <= 4; size++)
            {
                var batch = Enumerable.Range(100, length).ToArray();
                var shards = Enumerable.Range(0, size).Select(r => Communicators.Shard(batch, r, size)).ToList();
                Assert.Equal(batch, shards.SelectMany(s => s));
                Assert.True(shards.Max(s => s.Length) - shards.Min(s => s.Length) <= 1, $"{length} over {size}: {string.Join(",", shards.Select(s => s.Length))}");
            }
    }

    [Fact]
    public void ModelOutputsGoThroughBytesUnchanged()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(1);
        var logits = randn(3, 5, 2).to(ScalarType.BFloat16);
        var loss = randn(1).squeeze();
        var output = new ModelOutput(logits, loss, loss * 3, 17.5);
        var back = OutputBytes.Read(OutputBytes.Write(output));
        Assert.Equal(ScalarType.BFloat16, back.Logits.dtype);
        Assert.Equal(logits.shape, back.Logits.shape);
        Assert.Equal(logits.bytes.ToArray(), back.Logits.bytes.ToArray());
        Assert.Equal(loss.item<float>(), back.Loss!.item<float>());
        Assert.Equal((loss * 3).item<float>(), back.LossSum!.item<float>());
        Assert.Equal(17.5, back.LossDenominator);

        var bare = OutputBytes.Read(OutputBytes.Write(new ModelOutput(randn(4, 3))));
        Assert.Null(bare.Loss);
        Assert.Null(bare.LossSum);
        Assert.Equal([4L, 3L], bare.Logits.shape);
    }

    [Fact]
    public void TheChecksumSeesEveryBitAndTheOrder()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(2);
        var a = randn(1001);
        var b = a.clone();
        Assert.Equal(DataParallel.Checksum([a, b]), DataParallel.Checksum([b.clone(), a.clone()]));
        var flipped = a.clone();
        var raw = flipped.bytes.ToArray();
        raw[500 * sizeof(float)] ^= 1;                             // the lowest mantissa bit of one value
        flipped.bytes = raw;
        Assert.NotEqual(DataParallel.Checksum([a]), DataParallel.Checksum([flipped]));
        var swapped = a.clone();
        swapped[0] = a[1].clone();
        swapped[1] = a[0].clone();
        Assert.NotEqual(DataParallel.Checksum([a]), DataParallel.Checksum([swapped]));
        Assert.NotEqual(DataParallel.Checksum([a, b]), DataParallel.Checksum([a]));
    }

    [Fact]
    public void EachRankDrawsItsOwnDropoutStream()
    {
        var seeds = new[] { (42, 1, 0L), (42, 2, 0L), (42, 1, 10L), (43, 1, 0L) }.Select(x => DataParallel.DropoutSeed(x.Item1, x.Item2, x.Item3)).ToList();
        Assert.Equal(seeds.Count, seeds.Distinct().Count());
        Assert.Equal(DataParallel.DropoutSeed(42, 1, 0), DataParallel.DropoutSeed(42, 1, 0));
        Assert.All(seeds, s => Assert.True(s >= 0));
    }

    [Fact]
    public void BadDistributedOptionsAreClearErrorsBeforeMpiStarts()
    {
        var error = Assert.Throws<OptionException>(() => Communicators.Open(new DistributedOptions { Backend = DistributedBackend.Mpi, ChecksumSteps = -1 }));
        Assert.Equal("DistributedOptions.ChecksumSteps", error.Option);
        Assert.Same(SingleProcess.Instance, Communicators.Open(new DistributedOptions()));
    }
}

[Collection("Console")]
public class DistributedCliTests
{
    [Fact]
    public void DistributedFlagsAreCheckedAndNamed()
    {
        using var dir = new TestSupport.TempDir();
        var data = Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv");
        var (code, _, error) = CliTests.Run("train", "--data", data, "--output", dir.File("run"), "--distributed", "nccl");
        Assert.Equal(2, code);
        Assert.Contains("--distributed: expected one of none, mpi, got 'nccl'", error);
        (code, _, error) = CliTests.Run("train", "--data", data, "--output", dir.File("run"), "--distributed", "mpi", "--distributed-timeout", "0");
        Assert.Equal(2, code);
        Assert.Contains("--distributed-timeout: expected a number above 0, got 0", error);
        Assert.False(Directory.Exists(dir.File("run")));
    }
}
