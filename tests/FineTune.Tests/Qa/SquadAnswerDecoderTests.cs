using FineTune.Evaluation;
using FineTune.Tasks;

namespace FineTune.Tests.Qa;

public class SquadAnswerDecoderTests
{
    //                       0         1         2         3
    //                       0123456789012345678901234567890123456
    private const string Context = "The capital of France is Paris. It is big.";

    // [CLS] where ? [SEP] The capital of France is Paris . It is big . [SEP]
    private static readonly (int, int)?[] FullOffsets =
        [null, null, null, null, (0, 3), (4, 11), (12, 14), (15, 21), (22, 24), (25, 30), (30, 31), (32, 34), (35, 37), (38, 41), (41, 42), null];

    private static QaWindowOutput Window((int, int)?[] offsets, Dictionary<int, float> starts, Dictionary<int, float> ends, int length = 0)
    {
        var n = Math.Max(length, offsets.Length);
        var s = new float[n];
        var e = new float[n];
        for (var i = 0; i < n; i++)
        {
            s[i] = starts.GetValueOrDefault(i, -5f);
            e[i] = ends.GetValueOrDefault(i, -5f);
        }
        return new QaWindowOutput(s, e, offsets);
    }

    [Fact]
    public void PicksTheBestSpanAndCutsItFromTheContext()
    {
        var window = Window(FullOffsets, new() { [9] = 8 }, new() { [9] = 7, [10] = 2 });
        var best = new AnswerDecoder().Decode(Context, [window]);
        Assert.Equal("Paris", best.Text);
        Assert.Equal((25, 30), (best.StartChar, best.EndChar));
        Assert.Equal(15f, best.Score);
        Assert.Equal((0, 9, 9), (best.Window, best.StartToken, best.EndToken));
        Assert.False(best.IsEmpty);
    }

    [Fact]
    public void SkipsCandidatesInTheQuestionPart()
    {
        // The highest logits point at the question tokens (1, 2); only the context span may be chosen.
        var window = Window(FullOffsets, new() { [1] = 20, [5] = 3 }, new() { [2] = 20, [7] = 3 });
        var best = new AnswerDecoder().Decode(Context, [window]);
        Assert.Equal("capital of France", best.Text);
        Assert.Equal(6f, best.Score);
    }

    [Fact]
    public void FindsTheAnswerInTheSecondWindow()
    {
        // Window 0 sees "The capital of France is"; window 1 (stride) sees "France is Paris. It is big."
        (int, int)?[] first = [null, null, null, null, (0, 3), (4, 11), (12, 14), (15, 21), (22, 24), null];
        (int, int)?[] second = [null, null, null, null, (15, 21), (22, 24), (25, 30), (30, 31), (32, 34), (35, 37), (38, 41), (41, 42), null];
        var w0 = Window(first, new() { [4] = 1 }, new() { [5] = 1 }, length: 13);    // padded to the length of window 1
        var w1 = Window(second, new() { [6] = 6 }, new() { [6] = 5 });
        var candidates = new AnswerDecoder().Candidates(Context, [w0, w1]);
        var best = candidates[0];
        Assert.Equal(("Paris", 1, 6, 6), (best.Text, best.Window, best.StartToken, best.EndToken));
        Assert.Equal(25, best.StartChar);
        Assert.Contains(candidates, c => c.Window == 0 && c.Text == "The capital");
    }

    [Fact]
    public void SkipsSpansLongerThanTheLimitAndEndsBeforeStarts()
    {
        // Best pair: start 4 ("The") .. end 13 ("big"), 10 tokens; then end 5 before start 9.
        var window = Window(FullOffsets, new() { [4] = 10, [9] = 4 }, new() { [13] = 10, [5] = 9, [9] = 1 });
        var decoder = new AnswerDecoder(nBest: 20, maxAnswerLength: 5);
        var candidates = decoder.Candidates(Context, [window]);
        Assert.DoesNotContain(candidates, c => c.EndToken - c.StartToken + 1 > 5);
        Assert.DoesNotContain(candidates, c => c.EndToken < c.StartToken);
        Assert.Equal("The capital", candidates[0].Text);   // 4..5 scores 19

        var unlimited = new AnswerDecoder(maxAnswerLength: 30).Decode(Context, [window]);
        Assert.Equal("The capital of France is Paris. It is big", unlimited.Text);
    }

    [Fact]
    public void ProbabilitiesAreASoftmaxOverTheKeptCandidates()
    {
        // Only token 9 may start or end: one start, ends at 9 or 10.
        (int, int)?[] offsets = [null, null, null, null, null, null, null, null, null, (25, 30), (30, 31), null];
        var window = new QaWindowOutput(
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, -100, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
            offsets);
        var candidates = new AnswerDecoder().Candidates(Context, [window]);
        Assert.Equal(["Paris", "Paris.", "."], candidates.Select(c => c.Text));
        Assert.Equal(Math.E / (Math.E + 1), candidates[0].Probability, 6);
        Assert.Equal(1, candidates.Sum(c => c.Probability), 9);
    }

    [Fact]
    public void KeepsAtMostNBestCandidatesBreakingTiesByTokenOrder()
    {
        var context = Enumerable.Range(4, 11).ToDictionary(i => i, _ => 0f);   // every context token equally likely
        var window = Window(FullOffsets, context, context);
        var candidates = new AnswerDecoder(nBest: 3).Candidates(Context, [window]);
        Assert.Equal(["The", "The capital", "The capital of"], candidates.Select(c => c.Text));
        Assert.All(candidates, c => Assert.Equal(1.0 / 3, c.Probability, 9));

        // With equal logits everywhere the top-3 starts are the question tokens, so nothing qualifies.
        var flat = Window(FullOffsets, new(), new());
        Assert.Empty(new AnswerDecoder(nBest: 3).Candidates(Context, [flat]));
    }

    [Fact]
    public void NoQualifyingSpanGivesTheEmptyAnswer()
    {
        var window = Window(FullOffsets, new() { [1] = 9 }, new() { [2] = 9 });
        var best = new AnswerDecoder(nBest: 1).Decode(Context, [window]);
        Assert.True(best.IsEmpty);
        Assert.Equal("", best.Text);
        Assert.Empty(new AnswerDecoder().Candidates(Context, []));
    }

    [Fact]
    public void RejectsInconsistentWindows()
    {
        var decoder = new AnswerDecoder();
        Assert.Throws<ArgumentException>(() => decoder.Decode(Context, [new QaWindowOutput([1, 2], [1], [null, null])]));
        Assert.Throws<ArgumentException>(() => decoder.Decode(Context, [new QaWindowOutput([1], [1], [null, null])]));
        Assert.Throws<ArgumentException>(() => decoder.Decode(Context, [new QaWindowOutput([1], [1], [(40, 99)])]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AnswerDecoder(nBest: 0));
    }
}
