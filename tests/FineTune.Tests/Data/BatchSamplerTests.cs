using FineTune.Data;

namespace FineTune.Tests.Data;

public class BatchSamplerTests
{
    [Fact]
    public void SeededRandomIsSplitMix64()
    {
        // The reference SplitMix64 sequence for state 0.
        var random = new SeededRandom(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, random.NextUInt64());
        Assert.Equal(0x6E789E6AA1B965F4UL, random.NextUInt64());
        Assert.Equal(0x06C45D188009454FUL, random.NextUInt64());
    }

    [Fact]
    public void BoundedIntegersAreRoughlyUniform()
    {
        var random = new SeededRandom(123);
        var counts = new int[6];
        for (var i = 0; i < 60_000; i++) counts[random.NextInt(6)]++;
        Assert.All(counts, c => Assert.InRange(c, 9_500, 10_500));
    }

    [Fact]
    public void SequentialKeepsOrder()
    {
        var sampler = new SequentialBatchSampler(7, 3);
        Assert.Equal(3, sampler.BatchesPerEpoch);
        Assert.Equal([[0, 1, 2], [3, 4, 5], [6]], sampler.GetBatches(0));
        Assert.Equal(2, new SequentialBatchSampler(7, 3, dropLast: true).GetBatches(0).Count);
    }

    [Fact]
    public void ShuffledIsAPermutationPerEpochFixedBySeed()
    {
        var sampler = new ShuffledBatchSampler(100, 8, seed: 42);
        Assert.Equal(13, sampler.BatchesPerEpoch);
        var epoch0 = sampler.GetBatches(0);
        Assert.Equal(Enumerable.Range(0, 100), epoch0.SelectMany(b => b).Order());
        Assert.Equal(4, epoch0[^1].Length);
        Assert.Equal(epoch0, new ShuffledBatchSampler(100, 8, seed: 42).GetBatches(0));
        Assert.NotEqual(epoch0, sampler.GetBatches(1));
        Assert.NotEqual(epoch0, new ShuffledBatchSampler(100, 8, seed: 43).GetBatches(0));
        Assert.NotEqual(Enumerable.Range(0, 100), sampler.EpochOrder(0));
    }

    [Fact]
    public void ResumeInsideAnEpochSeesTheSameBatches()
    {
        var sampler = new ShuffledBatchSampler(50, 4, seed: 1);
        var full = sampler.GetBatches(2);
        Assert.Equal(full.Skip(5), sampler.GetBatches(2, startBatch: 5));

        var uninterrupted = sampler.Enumerate(new SamplerPosition(0, 0), epochs: 3).ToArray();
        Assert.Equal(3 * 13, uninterrupted.Length);
        var resumed = sampler.Enumerate(new SamplerPosition(1, 7), epochs: 3).ToArray();
        Assert.Equal(uninterrupted.Skip(13 + 7).Select(x => x.Position), resumed.Select(x => x.Position));
        Assert.Equal(uninterrupted.Skip(13 + 7).Select(x => x.Indices), resumed.Select(x => x.Indices));
        Assert.Equal(new SamplerPosition(1, 7), resumed[0].Position);
        Assert.Equal(new SamplerPosition(2, 0), resumed[6].Position);
    }

    [Fact]
    public void LengthGroupedDefaultMegabatchMultiplierIsHuggingFaces()
    {
        Assert.Equal(50, new LengthGroupedBatchSampler(new int[10_000], 32, 0).MegabatchMultiplier);
        Assert.Equal(19, new LengthGroupedBatchSampler(new int[10_000], 128, 0).MegabatchMultiplier); // 10000 / 512
        Assert.Equal(1, new LengthGroupedBatchSampler(new int[100], 32, 0).MegabatchMultiplier);
        Assert.Equal(4, new LengthGroupedBatchSampler(new int[100], 32, 0, megabatchMultiplier: 4).MegabatchMultiplier);
    }

    [Fact]
    public void LengthGroupedFollowsGroupByLength()
    {
        var random = new Random(5);
        var lengths = Enumerable.Range(0, 1_000).Select(_ => random.Next(1, 200)).ToArray();
        var sampler = new LengthGroupedBatchSampler(lengths, batchSize: 8, seed: 11, megabatchMultiplier: 10);

        for (var epoch = 0; epoch < 3; epoch++)
        {
            var order = sampler.EpochOrder(epoch);
            Assert.Equal(Reference(lengths, 8, 10, SeededRandom.ForStream(11, epoch).Permutation(lengths.Length)), order);

            Assert.Equal(Enumerable.Range(0, lengths.Length), order.Order());
            Assert.Equal(lengths.Max(), lengths[order[0]]);
            // Each megabatch is sorted longest first, except its head, which the swap may have exchanged.
            for (var start = 0; start < order.Length; start += 80)
            {
                var rest = order.Skip(start + 1).Take(79).Select(i => lengths[i]).ToArray();
                Assert.Equal(rest.OrderByDescending(l => l), rest);
            }
        }
        Assert.NotEqual(sampler.EpochOrder(0), sampler.EpochOrder(1));
        Assert.Equal(sampler.GetBatches(1).Skip(3), sampler.GetBatches(1, 3));
    }

    [Fact]
    public void LengthGroupedBatchesHaveSimilarLengths()
    {
        var random = new Random(9);
        var lengths = Enumerable.Range(0, 4_000).Select(_ => random.Next(1, 512)).ToArray();
        var grouped = new LengthGroupedBatchSampler(lengths, 16, seed: 0).GetBatches(0);
        var shuffled = new ShuffledBatchSampler(lengths.Length, 16, seed: 0).GetBatches(0);
        double Padding(IEnumerable<int[]> batches) => batches.Sum(b => b.Length * b.Max(i => lengths[i]) - b.Sum(i => lengths[i]));
        Assert.True(Padding(grouped) < Padding(shuffled) / 5, "grouping by length removes most padding");
        Assert.Equal(lengths.Max(), grouped[0].Max(i => lengths[i]));
    }

    /// <summary>group_by_length written out plainly: permute, cut into megabatches, sort each longest first (stably), swap the longest head to the front.</summary>
    private static int[] Reference(int[] lengths, int batchSize, int multiplier, int[] permutation)
    {
        var size = batchSize * multiplier;
        var megabatches = permutation.Chunk(size).Select(m => m.OrderByDescending(i => lengths[i]).ToList()).ToList();
        var heads = megabatches.Select(m => lengths[m[0]]).ToList();
        var longest = heads.IndexOf(heads.Max());
        (megabatches[0][0], megabatches[longest][0]) = (megabatches[longest][0], megabatches[0][0]);
        return megabatches.SelectMany(m => m).ToArray();
    }
}
