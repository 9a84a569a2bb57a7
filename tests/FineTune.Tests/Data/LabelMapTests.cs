using FineTune.Data;

namespace FineTune.Tests.Data;

public class LabelMapTests
{
    [Fact]
    public void NumericLabelsSortByValue()
    {
        Assert.Equal(["0", "1", "2", "10"], LabelMap.FromObserved(["10", "1", "2", "0", "1"]).Labels);
        Assert.Equal(["-1", "0", "1"], LabelMap.FromObserved(["1", "-1", "0"]).Labels);
        Assert.Equal(["0.5", "1", "1.0", "2"], LabelMap.FromObserved(["2", "1.0", "1", "0.5"]).Labels);
    }

    [Fact]
    public void OtherLabelsSortOrdinally()
    {
        Assert.Equal(["B", "a", "b"], LabelMap.FromObserved(["b", "a", "B"]).Labels);
        Assert.Equal(["1", "10", "2", "x"], LabelMap.FromObserved(["x", "2", "10", "1"]).Labels);
        Assert.Equal(["NaN", "positive"], LabelMap.FromObserved(["positive", "NaN"]).Labels);
    }

    [Fact]
    public void GivenOrderIsKept()
    {
        var map = LabelMap.FromOrdered(["neutral", "admiration"]);
        Assert.Equal((0, 1), (map.GetId("neutral"), map.GetId("admiration")));
        Assert.Throws<ArgumentException>(() => LabelMap.FromOrdered(["a", "a"]));
        Assert.Throws<ArgumentException>(() => LabelMap.FromOrdered([]));
    }

    [Fact]
    public void Id2LabelAndLabel2IdRoundTrip()
    {
        var map = LabelMap.FromObserved(["pos", "neg"]);
        Assert.Equal(new Dictionary<int, string> { [0] = "neg", [1] = "pos" }, map.Id2Label);
        Assert.Equal(new Dictionary<string, int> { ["neg"] = 0, ["pos"] = 1 }, map.Label2Id);
        Assert.Equal(map, LabelMap.FromId2Label(map.Id2Label));
        Assert.Equal(map, LabelMap.FromLabel2Id(map.Label2Id));
        Assert.Equal(map, LabelMap.FromId2Label(new Dictionary<string, string> { ["1"] = "pos", ["0"] = "neg" }));
        Assert.Equal(map.GetHashCode(), LabelMap.FromOrdered(["neg", "pos"]).GetHashCode());
    }

    [Fact]
    public void Id2LabelNeedsEveryIdOnce()
    {
        Assert.Throws<ArgumentException>(() => LabelMap.FromId2Label(new Dictionary<int, string> { [0] = "a", [2] = "b" }));
        Assert.Throws<ArgumentException>(() => LabelMap.FromId2Label(new Dictionary<string, string> { ["zero"] = "a" }));
    }

    [Fact]
    public void UnknownLabelListsTheKnownOnes()
    {
        var map = LabelMap.FromObserved(["pos", "neg"]);
        Assert.False(map.TryGetId("meh", out _));
        var e = Assert.Throws<KeyNotFoundException>(() => map.GetId("meh"));
        Assert.Equal("unknown label 'meh'; the labels are: neg, pos", e.Message);
        Assert.Equal("0, 1, 2, … (5 in all)", LabelMap.FromObserved(["0", "1", "2", "3", "4"]).Describe(3));
    }
}
