using System.Text.Json;
using FineTune.Data;
using FineTune.Inference;

namespace FineTune.Tests.Explain;

/// <summary>
/// Integrated gradients through the front door, for every task that has a prediction head, on tiny models with seeded
/// random heads (their predictions are arbitrary but fixed, which is all an explanation needs).
/// </summary>
public class ExplanationTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    private static readonly string[] Texts =
    [
        "an unbelievably moving film , with a terrific cast",
        "the plot is thin and the jokes fall flat",
        "Angela Merkel visited Paris on Monday",
    ];

    private string Inputs(string name = "in.txt")
    {
        var path = tiny.File(name);
        File.WriteAllLines(path, Texts);
        return path;
    }

    private static ExplanationOutcome Explain(string model, string input, string output, string? target = null, int steps = 50) =>
        FineTuner.Explain(new ExplainRequest { Model = model, Input = input, OutputDirectory = output, TargetLabel = target, Steps = steps });

    [Fact]
    public void ClassificationExplainsThePredictedClassAndAddsUpToTheChangeOfItsProbability()
    {
        var model = tiny.SequenceModel("classification", ["neg", "pos"]);
        var outcome = Explain(model, Inputs(), tiny.File("cls"));
        Assert.Equal(3, outcome.Explanations.Count);
        foreach (var e in outcome.Explanations)
        {
            var t = Assert.Single(e.Targets);
            Assert.Equal(e.Prediction, t.Label);
            Assert.InRange(t.Score, 0.5, 1.0);    // the predicted class of two is the more probable one
            // The Gauss–Legendre rule with 50 nodes integrates the smooth path to rounding: float32 gradients summed over
            // T·E ≈ 600 products leave |Σ − Δ| of order 1e-6·|Δ|…1e-5; the output moves by at least 1e-3 here.
            Assert.True(t.CompletenessGap < 1e-2, $"gap {t.CompletenessGap} for '{e.Text}' (Δ = {t.Score - t.BaselineScore})");
            // Every word of the text, in order, each the text at its offsets.
            Assert.Equal(e.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries), t.Words.Select(w => w.Word));
            Assert.All(t.Words, w => Assert.Equal(w.Word, e.Text[w.Start..w.End]));
        }
        // The other class on request: its probability is one minus the predicted one's.
        var other = Explain(model, Inputs(), tiny.File("cls-other"), target: outcome.Explanations[0].Prediction == "pos" ? "neg" : "pos");
        Assert.Equal(1.0, other.Explanations[0].Targets[0].Score + outcome.Explanations[0].Targets[0].Score, 5);
    }

    [Fact]
    public void TheGapShrinksWithMoreSteps()
    {
        var model = tiny.SequenceModel("regression");
        var one = Explain(model, Inputs(), tiny.File("r1"), steps: 1).Explanations.Select(e => e.Targets[0].CompletenessGap).ToList();
        var fifty = Explain(model, Inputs(), tiny.File("r50")).Explanations.Select(e => e.Targets[0]).ToList();
        Assert.All(fifty, t => Assert.Equal("value", t.Label));
        // One midpoint is far from the integral of a non-linear path; fifty nodes are within rounding of it.
        Assert.True(one.Average() > 10 * fifty.Average(t => t.CompletenessGap), $"1 step: {one.Average()}, 50 steps: {fifty.Average(t => t.CompletenessGap)}");
        Assert.All(fifty, t => Assert.True(t.CompletenessGap < 1e-2, $"gap {t.CompletenessGap}"));
    }

    [Fact]
    public void MultiLabelExplainsEachPredictedLabel()
    {
        var model = tiny.SequenceModel("multi-label", ["a", "b", "c"]);
        var outcome = Explain(model, Inputs(), tiny.File("ml"));
        foreach (var e in outcome.Explanations)
        {
            var predicted = e.Prediction.Length == 0 ? [] : e.Prediction.Split(';');
            // Each predicted label, or the most probable one when none reaches the threshold.
            if (predicted.Length > 0) Assert.Equal(predicted, e.Targets.Select(t => t.Label));
            else Assert.Single(e.Targets);
            Assert.All(e.Targets, t => Assert.True(t.CompletenessGap < 1e-2, $"gap {t.CompletenessGap}"));
        }
    }

    [Fact]
    public void NerExplainsEachEntity()
    {
        var tags = new[] { "O", "B-PER", "I-PER", "B-LOC", "I-LOC" };
        var model = tiny.ConstantTagger(tags, "B-LOC");
        var outcome = Explain(model, Inputs(), tiny.File("ner"));
        // Every word is tagged B-LOC, so every word is an entity of its own.
        var e = outcome.Explanations[2];
        Assert.Equal(Texts[2].Split(' ').Select(w => $"LOC '{w}'"), e.Targets.Select(t => t.Label));
        Assert.All(e.Targets, t => Assert.Equal(6, t.Words.Count));
        var error = Assert.Throws<OptionException>(() => Explain(model, Inputs(), tiny.File("ner2"), target: "ORG"));
        Assert.Equal("ExplainRequest.TargetLabel", error.Option);
        Assert.Contains("unknown entity type 'ORG'; the model's types are: ", error.Message);
        Assert.Contains("PER", error.Message);
        Assert.All(Explain(model, Inputs(), tiny.File("ner3"), target: "LOC").Explanations[2].Targets, t => Assert.StartsWith("LOC", t.Label));
    }

    [Fact]
    public void QuestionAnsweringExplainsTheAnswersStartAndEnd()
    {
        var input = tiny.File("qa.jsonl");
        File.WriteAllLines(input, [JsonSerializer.Serialize(new { question = "Who visited Paris?", context = Texts[2] })]);
        var outcome = FineTuner.Explain(new ExplainRequest { Model = tiny.AnswerModel(), Input = input, OutputDirectory = tiny.File("qa") });
        var e = Assert.Single(outcome.Explanations);
        Assert.Equal(["start", "end"], e.Targets.Select(t => t.Label));
        Assert.Contains(e.Prediction, Texts[2]);
        foreach (var t in e.Targets)
        {
            // The question's words (sequence 0) and the context's (sequence 1), each at its offsets in its own text.
            Assert.Equal("Who visited Paris ?".Split(' '), t.Words.Where(w => w.Sequence == 0).Select(w => w.Word));
            Assert.All(t.Words.Where(w => w.Sequence == 1), w => Assert.Equal(w.Word, Texts[2][w.Start..w.End]));
        }
    }

    [Fact]
    public void WritesOneJsonObjectPerInputAndAPage()
    {
        var model = tiny.SequenceModel("classification", ["neg", "pos"]);
        var outcome = Explain(model, Inputs(), tiny.File("files"));
        Assert.Equal([tiny.File("files/explanations.jsonl"), tiny.File("files/explanations.html")], outcome.Files);
        var lines = File.ReadAllLines(outcome.Files[0]);
        Assert.Equal(3, lines.Length);
        using var doc = JsonDocument.Parse(lines[1]);
        var root = doc.RootElement;
        Assert.Equal(Texts[1], root.GetProperty("text").GetString());
        Assert.Equal(outcome.Explanations[1].Prediction, root.GetProperty("label").GetString());
        Assert.Equal(outcome.Explanations[1].Targets[0].Score, root.GetProperty("score").GetDouble(), 12);
        Assert.Equal(outcome.Explanations[1].Targets[0].CompletenessGap, root.GetProperty("completeness_gap").GetDouble(), 12);
        var words = root.GetProperty("words").EnumerateArray().ToList();
        Assert.Equal("plot", words[1].GetProperty("word").GetString());
        Assert.Equal(4, words[1].GetProperty("start").GetInt32());
        Assert.Equal(8, words[1].GetProperty("end").GetInt32());
        Assert.True(words[1].TryGetProperty("attribution", out _));
        var page = File.ReadAllText(outcome.Files[1]);
        Assert.Contains("rgba(22,163,74,", page);   // some word raised the score
        Assert.Contains("rgba(220,38,38,", page);   // and some lowered it
        Assert.Contains("Gauss–Legendre", page);
    }

    [Fact]
    public void BadRequestsAreClearErrors()
    {
        var classifier = tiny.SequenceModel("classification", ["neg", "pos"]);
        var unknown = Assert.Throws<OptionException>(() => Explain(classifier, Inputs(), tiny.File("bad1"), target: "neutral"));
        Assert.Equal("ExplainRequest.TargetLabel", unknown.Option);
        Assert.Contains("unknown label 'neutral'; the model's labels are: neg, pos", unknown.Message);
        var regression = Assert.Throws<OptionException>(() => Explain(tiny.SequenceModel("regression"), Inputs(), tiny.File("bad2"), target: "pos"));
        Assert.Contains("has no labels", regression.Message);
        Assert.Equal("ExplainRequest.Steps", Assert.Throws<OptionException>(() => Explain(classifier, Inputs(), tiny.File("bad3"), steps: 0)).Option);
        // An encoder without a head has no prediction to explain.
        var encoder = Assert.Throws<ModelLoadException>(() => Explain(TinyModelFolder.Shared, Inputs(), tiny.File("bad4")));
        Assert.Contains("encoder without a task head", encoder.Message);
        Assert.False(Directory.Exists(tiny.File("bad1")));
    }
}

public class GaussLegendreTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(50)]
    public void TheRuleOnTheUnitIntervalIsExactForPolynomialsUpToDegreeTwoNMinusOne(int n)
    {
        var (alphas, weights) = GaussLegendre.UnitInterval(n);
        Assert.Equal(n, alphas.Length);
        Assert.True(alphas.Zip(alphas.Skip(1)).All(p => p.First < p.Second) && alphas[0] > 0 && alphas[^1] < 1);
        // ∫₀¹ x^k dx = 1 / (k + 1); the weights are positive and the sums have 50 terms, so rounding stays near 1e-15.
        for (int k = 0; k <= 2 * n - 1; k++)
        {
            double sum = alphas.Zip(weights).Sum(p => p.Second * Math.Pow(p.First, k));
            Assert.Equal(1.0 / (k + 1), sum, 12);
        }
    }

    [Fact]
    public void TwoNodesAreTheKnownOnes()
    {
        // ±1/√3 on [−1, 1], weights 1.
        var (nodes, weights) = GaussLegendre.Rule(2);
        Assert.Equal(-1 / Math.Sqrt(3), nodes[0], 14);
        Assert.Equal(1 / Math.Sqrt(3), nodes[1], 14);
        Assert.Equal(1.0, weights[0], 14);
        Assert.Equal(1.0, weights[1], 14);
    }
}
