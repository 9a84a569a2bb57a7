using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Tasks;
using FineTune.Tests.Ner;
using FineTune.Text;
using FineTune.Training;

namespace FineTune.Tests.Qa;

/// <summary>QA windows of real SQuAD questions through the real all-MiniLM-L6-v2 tokenizer, and answer positions within them.</summary>
public class QaFeatureTests
{
    private static readonly Lazy<WordPieceTokenizer> Tokenizer = new(() => WordPieceTokenizer.FromFolder(ModelCatalog.Resolve("all-MiniLM-L6-v2")));

    [Theory]
    [InlineData(384, 128)]
    [InlineData(96, 32)]
    public void TheAnswerCutFromTheContextByThePositionsIsTheGoldAnswer(int maxLength, int stride)
    {
        var examples = SquadReader.Read(DataFiles.SquadDev).Examples.Take(3000).ToList();
        var (features, multiWindow) = QuestionAnsweringFeatures.Build(examples, Tokenizer.Value, maxLength, stride);
        if (maxLength == 96) Assert.True(multiWindow > 2000, $"{multiWindow} questions with several windows");
        else Assert.InRange(multiWindow, 1, 300);

        int windowsWithAnswer = 0, inexact = 0;
        foreach (var group in features.GroupBy(f => f.ExampleIndex))
        {
            var example = examples[group.Key];
            var answer = example.Answers[0];
            bool found = false;
            foreach (var f in group)
            {
                Assert.True(f.Length <= maxLength);
                var offsets = f.ContextOffsets!;
                var (start, end) = f.AnswerSpan!.Value;
                var context = offsets.Where(o => o is not null).Select(o => o!.Value).ToList();
                bool holds = context[0].Start <= answer.Start && context[^1].End >= answer.End;
                if (!holds)
                {
                    Assert.Equal((0, 0), (start, end));
                    continue;
                }
                found = true;
                windowsWithAnswer++;
                Assert.True(offsets[start] is not null && offsets[end] is not null && start <= end);
                var cut = example.Context[offsets[start]!.Value.Start..offsets[end]!.Value.End];
                // The positions cover the answer: exactly, unless it begins or ends inside a token.
                Assert.Contains(answer.Text, cut, StringComparison.Ordinal);
                if (cut != answer.Text) inexact++;
            }
            Assert.True(found, $"question '{example.Id}': no window holds its answer");
        }
        Assert.True(windowsWithAnswer >= examples.Count);
        Assert.True(inexact < windowsWithAnswer / 100, $"{inexact} of {windowsWithAnswer} answers are not exactly their tokens");
    }

    [Fact]
    public void AnswersOnTokenBoundariesAreRecoveredExactlyInEveryWindowThatHoldsThem()
    {
        var examples = SquadReader.Read(DataFiles.XquadEn).Examples;
        var (features, _) = QuestionAnsweringFeatures.Build(examples, Tokenizer.Value, 128, 48);
        int checkedWindows = 0;
        foreach (var f in features)
        {
            var example = examples[f.ExampleIndex];
            var answer = example.Answers[0];
            var spans = f.ContextOffsets!.Where(o => o is not null).Select(o => o!.Value).ToList();
            bool onBoundaries = spans.Any(s => s.Start == answer.Start) && spans.Any(s => s.End == answer.End);
            if (!onBoundaries) continue;
            var (start, end) = f.AnswerSpan!.Value;
            Assert.Equal(answer.Text, example.Context[f.ContextOffsets![start]!.Value.Start..f.ContextOffsets[end]!.Value.End]);
            checkedWindows++;
        }
        Assert.True(checkedWindows > examples.Count, $"{checkedWindows} windows checked");
    }

    [Fact]
    public void PositionsFollowHuggingFaceOnHandMadeOffsets()
    {
        (int, int)?[] offsets = [null, null, null, (0, 3), (4, 9), (9, 12), (13, 15), null];
        Assert.Equal((4, 5), QuestionAnsweringFeatures.AnswerPositions(offsets, 4, 12));   // "stead" + "ily"
        Assert.Equal((3, 3), QuestionAnsweringFeatures.AnswerPositions(offsets, 0, 3));
        Assert.Equal((4, 4), QuestionAnsweringFeatures.AnswerPositions(offsets, 5, 8));    // inside one token: that token
        Assert.Equal((6, 6), QuestionAnsweringFeatures.AnswerPositions(offsets, 13, 15));
        Assert.Equal((0, 0), QuestionAnsweringFeatures.AnswerPositions(offsets, 13, 16));  // ends past the window
        Assert.Equal((0, 0), QuestionAnsweringFeatures.AnswerPositions(offsets[4..], 0, 3)); // starts before it
    }

    [Fact]
    public void AQuestionTooLongForAWindowNamesItsFileAndLine()
    {
        var question = string.Join(" ", Enumerable.Repeat("why", 80));
        var example = new QaExample("q1", "", question, "Some context.", [new QaAnswer("Some", 0)], "qa.jsonl", 7);
        var e = Assert.Throws<DataException>(() => QuestionAnsweringFeatures.Build([example], Tokenizer.Value, 64, 16));
        Assert.StartsWith("qa.jsonl:7: the question has 80 tokens, which leaves no room for the context within 64 tokens", e.Message);
    }
}
