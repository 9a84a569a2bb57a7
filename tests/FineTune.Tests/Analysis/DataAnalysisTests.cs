using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Analysis;
using FineTune.Data;

namespace FineTune.Tests.Analysis;

public class NearDuplicateTests
{
    private static double SetJaccard(string a, string b)
    {
        static HashSet<string> Grams(string t) => t.Length <= 5 ? [t] : Enumerable.Range(0, t.Length - 4).Select(i => t.Substring(i, 5)).ToHashSet();
        var x = Grams(a);
        var y = Grams(b);
        return (double)x.Intersect(y).Count() / x.Union(y).Count();
    }

    [Fact]
    public void JaccardOfShinglesIsThatOfTheFiveGramSetsAndMinHashEstimatesIt()
    {
        var minHash = new NearDuplicates();
        string[] texts =
        [
            "the movie is a gorgeous , witty , seductive film .",
            "the movie is a gorgeous , witty and seductive film .",
            "an utterly charming and hilarious film that reminded me of the great comedies",
            "an utterly charming and hilarious movie that reminded me of the great comedies",
            "short",
            "shorter",
        ];
        for (int i = 0; i < texts.Length; i += 2)
        {
            var a = NearDuplicates.Shingles(texts[i]);
            var b = NearDuplicates.Shingles(texts[i + 1]);
            double exact = SetJaccard(texts[i], texts[i + 1]);
            Assert.Equal(exact, NearDuplicates.Jaccard(a, b), 12);
            // Each of the 120 signature entries agrees with probability J: the share that agree has standard deviation
            // √(J(1−J)/120) ≤ 0.046, and four of those is a bound a fixed seed will not cross by chance.
            var sa = minHash.Signature(a);
            var sb = minHash.Signature(b);
            double agree = sa.Zip(sb).Count(p => p.First == p.Second) / (double)NearDuplicates.Hashes;
            Assert.InRange(agree, exact - 4 * Math.Sqrt(exact * (1 - exact) / NearDuplicates.Hashes) - 1e-9,
                exact + 4 * Math.Sqrt(exact * (1 - exact) / NearDuplicates.Hashes) + 1e-9);
        }
    }

    [Fact]
    public void PairsMatchABruteForceSearchWithScikitLearn()
    {
        if (!ReferencePython.Available()) return;
        // 300 real sentences, and for every fifth one a copy with one word left out or a word doubled: pairs from
        // about 0.6 to 0.95, around the threshold.
        var sentences = File.ReadLines(Path.Combine(TestSupport.SharedData, "sst2", "dev.tsv")).Skip(1).Take(300)
            .Select(l => DataAnalyzer.Normalize(l.Split('\t')[0])).ToList();
        var texts = new List<string>(sentences);
        for (int i = 0; i < sentences.Count; i += 5)
        {
            var words = sentences[i].Split(' ').ToList();
            if (i % 10 == 0) words.RemoveAt(words.Count / 2);
            else words.Insert(words.Count / 2, words[words.Count / 2]);
            texts.Add(string.Join(' ', words));
        }
        texts = texts.Distinct().ToList();
        using var dir = new TestSupport.TempDir();
        var input = dir.File("texts.json");
        File.WriteAllText(input, JsonSerializer.Serialize(new { texts, threshold = 0.8 }));
        var reference = JsonNode.Parse(ReferencePython.Script("near_duplicates.py", input))!["pairs"]!.AsArray()
            .Select(p => (A: p![0]!.GetValue<int>(), B: p[1]!.GetValue<int>(), J: p[2]!.GetValue<double>())).ToList();
        var ours = new NearDuplicates().Pairs(texts.Select(NearDuplicates.Shingles).ToList(), 0.8);
        Assert.True(reference.Count >= 20, $"only {reference.Count} reference pairs");
        Assert.Equal(reference.Select(p => (p.A, p.B)), ours.Select(p => (p.A, p.B)));
        foreach (var (r, o) in reference.Zip(ours)) Assert.Equal(r.J, o.Jaccard, 12);
    }
}

public class DataAnalyzerTests
{
    private static AnalysisExample E(string text, params string[] labels) => new(text, null, labels, "f.csv", 1);

    [Fact]
    public void FindsImbalanceDuplicatesLeakageConflictsAndAPlantedShortcut()
    {
        var train = new List<AnalysisExample>();
        for (int i = 0; i < 24; i++) train.Add(E($"review number {i} was fine and the plot worked well zqx", "pos"));
        for (int i = 0; i < 6; i++) train.Add(E($"a dull and lifeless film that goes nowhere, number {i}", "neg"));
        train.Add(E("A  Good   Movie", "pos"));
        train.Add(E("a good movie", "pos"));
        train.Add(E("so so", "pos"));
        train.Add(E("So so", "neg"));
        var test = new List<AnalysisExample>
        {
            E("a good movie", "pos"),                                                        // leaked exactly
            E("review number 3 was fine and the plot worked well zqx!", "pos"),              // leaked nearly
            E("something else entirely, never seen before in any split", "neg"),
        };
        var data = new AnalysisData("classification", [("train", train), ("test", test)], "label");
        var tokenizer = FineTune.Text.WordPieceTokenizer.FromFolder(FineTune.Checkpoints.ModelCatalog.Resolve("all-MiniLM-L6-v2"));
        var a = DataAnalyzer.Analyze(data, tokenizer, new AnalysisSettings(MaxLength: 13));

        Assert.Equal(27.0 / 7, a.ImbalanceRatio!.Value, 12);                                // 27 pos, 7 neg in train
        int longer = train.Count(e => tokenizer.Encode(e.Text).Length > 13);
        Assert.InRange(longer, 1, train.Count - 1);
        Assert.Equal(longer, a.Splits[0].Truncated);
        var exactTrain = a.ExactDuplicates.Single(d => d.Splits.SequenceEqual(["train"]));
        Assert.Equal(2, exactTrain.Groups);                                               // "a good movie" and "so so"
        Assert.Equal(4, exactTrain.ExamplesInvolved);
        var leak = a.ExactDuplicates.Single(d => d.Splits.SequenceEqual(["train", "test"]));
        Assert.Equal(1, leak.ExamplesInvolved);
        Assert.Equal(1.0 / 3, leak.Share, 12);
        var near = a.NearDuplicates.Single(d => d.Splits.SequenceEqual(["train", "test"]));
        Assert.Equal(1, near.ExamplesInvolved);
        Assert.Equal("review number 3 was fine and the plot worked well zqx!", near.Samples[0].Texts[1]);
        Assert.Equal(1, a.ConflictingLabels!.Groups);
        Assert.Equal(new Dictionary<string, int> { ["pos"] = 1, ["neg"] = 1 }, a.ConflictingLabels.Samples[0].Labels);
        // The planted word: in 24 training examples, all positive; the other words of those reviews share it.
        var top = a.Shortcuts[0];
        Assert.Equal(("pos", 24, 1.0), (top.Label, top.Count, top.LabelShare));
        Assert.Contains(a.Shortcuts, t => t.Token == "zqx");
        Assert.Equal(Math.Log2(1.0 / (27.0 / 34)), a.Shortcuts.Single(t => t.Token == "zqx").Pmi, 12);
    }

    [Fact]
    public void LengthStatisticsUseTheNearestRankPercentile()
    {
        var s = DataAnalyzer.Stats([5, 1, 3, 2, 4, 100, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
        Assert.Equal((20, 14.5, 10.5, 19, 100), (s.Count, s.Mean, s.Median, (int)s.P95, s.Max));
    }
}
