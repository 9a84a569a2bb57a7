using FineTune.Data;
using FineTune.Evaluation;

namespace FineTune.Tests.Ner;

public class EntityMetricsTests
{
    private static string[] Tags(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>"PER 0 2; LOC 3 4": each entity's type and token range.</summary>
    private static string Spans(params (string Type, int Start, int End)[] spans) => string.Join("; ", spans.Select(s => $"{s.Type} {s.Start} {s.End}"));

    [Theory]
    [MemberData(nameof(ChunkCases))]
    public void ExtractsEntitiesAsConllevalDoes(string tags, string expected) =>
        Assert.Equal(expected, Spans(EntityChunker.Extract(Tags(tags)).Select(e => (e.Type, e.Start, e.End)).ToArray()));

    public static TheoryData<string, string> ChunkCases() => new()
    {
        { "B-PER I-PER O B-LOC", Spans(("PER", 0, 2), ("LOC", 3, 4)) },
        { "O I-PER I-PER O", Spans(("PER", 1, 3)) },                          // I- after O starts an entity
        { "I-PER I-PER B-PER", Spans(("PER", 0, 2), ("PER", 2, 3)) },         // IOB1
        { "B-PER I-LOC I-LOC", Spans(("PER", 0, 1), ("LOC", 1, 3)) },         // type change mid-entity
        { "B-PER I-PER I-LOC B-LOC", Spans(("PER", 0, 2), ("LOC", 2, 3), ("LOC", 3, 4)) },
        { "B-PER E-PER S-LOC", Spans(("PER", 0, 2), ("LOC", 2, 3)) },         // BIOES
        { "B-PER I-PER E-PER I-PER", Spans(("PER", 0, 3), ("PER", 3, 4)) },   // I- after E- starts again
        { "S-PER E-PER", Spans(("PER", 0, 1), ("PER", 1, 2)) },
        { "O E-LOC O", Spans(("LOC", 1, 2)) },
        { "B-PER I-PER", Spans(("PER", 0, 2)) },                              // a BIOES entity without E- still ends at the sequence end
        { "O O", Spans() },
        { "", Spans() },
    };

    [Fact]
    public void ScoresTheSeqevalReadmeExample()
    {
        var metrics = new EntityMetrics();
        metrics.Add(Tags("O O O B-MISC I-MISC I-MISC O"), Tags("O O B-MISC I-MISC I-MISC I-MISC O"));
        metrics.Add(Tags("B-PER I-PER O"), Tags("B-PER I-PER O"));

        Assert.Equal(0.5, metrics.Precision, 12);
        Assert.Equal(0.5, metrics.Recall, 12);
        Assert.Equal(0.5, metrics.F1, 12);
        Assert.Equal(0.8, metrics.Accuracy, 12);
        var misc = metrics.PerType.Single(s => s.Type == "MISC");
        Assert.Equal((0L, 1L, 1L), (misc.TruePositives, misc.Gold, misc.Predicted));
        Assert.Equal(0, misc.F1);
        var per = metrics.PerType.Single(s => s.Type == "PER");
        Assert.Equal(1, per.F1);
        Assert.Equal(1, per.Support);
    }

    [Fact]
    public void MalformedIStartsCountAsEntities()
    {
        var metrics = new EntityMetrics();
        // Predicted I- starts read as the same entities as the gold B- starts.
        metrics.Add(Tags("B-PER I-PER O B-LOC"), Tags("I-PER I-PER O I-LOC"));
        Assert.Equal(1, metrics.F1);
        Assert.Equal(0.5, metrics.Accuracy);
    }

    [Fact]
    public void ATypeChangeMidEntitySplitsItAndMatchesNothing()
    {
        var metrics = new EntityMetrics();
        metrics.Add(Tags("B-PER I-PER I-PER O"), Tags("B-PER I-PER I-LOC O"));
        Assert.Equal(0, metrics.TruePositives);
        Assert.Equal(1, metrics.GoldEntities);
        Assert.Equal(2, metrics.PredictedEntities);
        Assert.Equal(0, metrics.F1);
        Assert.Equal(0.75, metrics.Accuracy);
    }

    [Fact]
    public void HandComputedMicroAndPerTypeScores()
    {
        var metrics = new EntityMetrics();
        // gold: PER(0,2) LOC(3,4) ORG(5,6); predicted: PER(0,2) correct, LOC(3,5) wrong end, ORG(5,6) correct, MISC(6,7) spurious
        metrics.Add(Tags("B-PER I-PER O B-LOC O B-ORG O"), Tags("B-PER I-PER O B-LOC I-LOC B-ORG B-MISC"));
        // gold: PER(1,2); predicted nothing
        metrics.Add(Tags("O B-PER O"), Tags("O O O"));

        Assert.Equal(2, metrics.TruePositives);
        Assert.Equal(4, metrics.GoldEntities);
        Assert.Equal(4, metrics.PredictedEntities);
        Assert.Equal(0.5, metrics.Precision, 12);
        Assert.Equal(0.5, metrics.Recall, 12);
        Assert.Equal(0.5, metrics.F1, 12);
        Assert.Equal(7.0 / 10, metrics.Accuracy, 12);

        var per = metrics.PerType.Single(s => s.Type == "PER");
        Assert.Equal(1.0, per.Precision, 12);
        Assert.Equal(0.5, per.Recall, 12);
        Assert.Equal(2.0 / 3, per.F1, 12);
        Assert.Equal(2, per.Support);
        Assert.Equal(["LOC", "MISC", "ORG", "PER"], metrics.PerType.Select(s => s.Type));

        var values = metrics.ToDictionary();
        Assert.Equal(["precision", "recall", "f1", "accuracy", "LOC_precision", "LOC_recall", "LOC_f1", "LOC_support"], values.Keys.Take(8));
        Assert.Equal(2.0 / 3, values["PER_f1"], 12);
        Assert.Equal(0, values["MISC_support"]);
        Assert.Equal(1, values["ORG_f1"]);
    }

    [Fact]
    public void NoEntitiesAtAllScoresZeroNotNaN()
    {
        var metrics = new EntityMetrics();
        metrics.Add(Tags("O O"), Tags("O O"));
        Assert.Equal(0, metrics.F1);
        Assert.Equal(1, metrics.Accuracy);
        Assert.Empty(metrics.PerType);
        Assert.Equal(0, new EntityMetrics().Accuracy);
    }

    [Fact]
    public void AccumulatesOverBatchesAsOverTheWholeSet()
    {
        var gold = ConllReader.Load(DataFiles.ConllTestA).Examples.Select(e => e.Tags).ToArray();
        // Deterministic damage: every 7th sentence loses its tags, every 5th token of every 3rd sentence becomes O.
        var predicted = gold.Select((tags, s) => tags.Select((t, i) => s % 7 == 0 || (s % 3 == 0 && i % 5 == 0) ? "O" : t).ToArray()).ToArray();

        var whole = new EntityMetrics();
        whole.AddRange(gold, predicted);
        var batched = new EntityMetrics();
        foreach (var batch in Enumerable.Range(0, gold.Length).Chunk(32))
            batched.AddRange(batch.Select(i => gold[i]), batch.Select(i => predicted[i]));

        Assert.Equal(whole.ToDictionary(), batched.ToDictionary());
        Assert.Equal(gold.Length, batched.Sentences);
        Assert.InRange(whole.F1, 0.5, 0.95);
        // The last batch alone scores differently from the whole set.
        var lastBatch = new EntityMetrics();
        var last = Enumerable.Range(0, gold.Length).Chunk(32).Last();
        lastBatch.AddRange(last.Select(i => gold[i]), last.Select(i => predicted[i]));
        Assert.NotEqual(whole.F1, lastBatch.F1);
    }

    [Fact]
    public void MatchesConllevalOnDamagedPredictionsForEngTestb()
    {
        // Predictions made from the gold IOB1 tags by a fixed rule that drops entity tags, changes types, swaps B-/I-
        // and inserts stray I-MISC tags, so the predicted sequences are full of malformed starts and type changes.
        // The expected numbers are conlleval.pl's (and seqeval's) on the same gold/predicted columns.
        string[] types = ["LOC", "MISC", "ORG", "PER"];
        string Damage(int sentence, int i, string tag)
        {
            var h = (sentence * 31 + i * 17) % 11;
            if (h == 0) return "O";
            if (tag != "O")
            {
                var (prefix, type) = (tag[0], tag[2..]);
                if (h == 1) return $"{prefix}-{types[(Array.IndexOf(types, type) + 1) % 4]}";
                if (h == 2) return $"{(prefix == 'B' ? 'I' : 'B')}-{type}";
            }
            else if (h == 3)
            {
                return "I-MISC";
            }
            return tag;
        }

        var gold = ConllReader.ReadColumns(DataFiles.ConllTestB).Select(e => e.Tags).ToArray();
        var metrics = new EntityMetrics();
        for (var s = 0; s < gold.Length; s++)
            metrics.Add(gold[s], gold[s].Select((tag, i) => Damage(s, i, tag)).ToArray());

        Assert.Equal((46435L, 40760L), (metrics.Tokens, metrics.CorrectTokens));
        Assert.Equal((5648L, 9393L, 3909L), (metrics.GoldEntities, metrics.PredictedEntities, metrics.TruePositives));
        var perType = metrics.PerType.ToDictionary(t => t.Type, t => (t.Gold, t.Predicted, t.TruePositives));
        Assert.Equal((1668L, 1653L, 1273L), perType["LOC"]);
        Assert.Equal((702L, 4195L, 417L), perType["MISC"]);
        Assert.Equal((1661L, 1670L, 1170L), perType["ORG"]);
        Assert.Equal((1617L, 1875L, 1049L), perType["PER"]);
        Assert.Equal(0.5198, metrics.F1, 4);      // conlleval: FB1 51.98
        Assert.Equal(0.8778, metrics.Accuracy, 4); // conlleval: accuracy 87.78%
    }

    [Fact]
    public void RejectsMismatchedLengthsAndBadTags()
    {
        var metrics = new EntityMetrics();
        Assert.Throws<ArgumentException>(() => metrics.Add(Tags("O O"), Tags("O")));
        Assert.Throws<DataException>(() => metrics.Add(Tags("X-PER"), Tags("O")));
    }
}
