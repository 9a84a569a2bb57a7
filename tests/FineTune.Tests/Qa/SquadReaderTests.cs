using FineTune.Data;
using FineTune.Tests.Ner;

namespace FineTune.Tests.Qa;

public class SquadReaderTests
{
    [Fact]
    public void ReadsTheSquadDevSet()
    {
        var result = SquadReader.Read(DataFiles.SquadDev);
        Assert.Equal(10570, result.Examples.Count);
        Assert.Equal(0, result.SkippedCount);
        Assert.Equal(48, result.TitleCount);
        Assert.Equal(34726, result.Examples.Sum(e => e.Answers.Count));

        var first = result.Examples[0];
        Assert.Equal("56be4db0acb8001400a502ec", first.Id);
        Assert.Equal("Super_Bowl_50", first.Title);
        Assert.StartsWith("Which NFL team represented the AFC", first.Question);
        Assert.Equal("Denver Broncos", first.Answers[0].Text);
        Assert.Equal("Denver Broncos", first.Context[first.Answers[0].Start..first.Answers[0].End]);
        Assert.Null(first.SourceLine);
        Assert.Equal($"{DataFiles.SquadDev}: question '56be4db0acb8001400a502ec'", first.Location);
    }

    [Fact]
    public void ReadsXquad()
    {
        var result = SquadReader.Read(DataFiles.XquadEn);
        Assert.Equal(1190, result.Examples.Count);
        Assert.Equal(48, result.TitleCount);
        Assert.All(result.Examples, e => Assert.Single(e.Answers));
        // XQuAD's English file is a subset of SQuAD dev.
        var dev = SquadReader.Read(DataFiles.SquadDev).Examples.Select(e => e.Id).ToHashSet();
        Assert.All(result.Examples, e => Assert.Contains(e.Id, dev));
    }

    private const string BadSquad = """
        {"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "Paris is in France.", "qas": [
          {"id": "q1", "question": "Where?", "answers": [{"text": "France", "answer_start": 12}]},
          {"id": "q2", "question": "What?", "answers": [{"text": "Paris", "answer_start": 3}]}
        ]}]}]}
        """;

    [Fact]
    public void AnAnswerStartThatDoesNotMatchNamesFileAndQuestionId()
    {
        using var file = new TempFile(".json", BadSquad);
        var e = Assert.Throws<DataException>(() => SquadReader.Read(file.FilePath));
        Assert.Equal($"{file.FilePath}: question 'q2': answer 1 'Paris' does not match the context at answer_start 3 (the context there reads 'is is')", e.Message);
    }

    [Fact]
    public void MismatchedRowsCanBeSkippedAndCounted()
    {
        using var file = new TempFile(".json", BadSquad);
        var result = SquadReader.Read(file.FilePath, new SquadReadOptions { SkipMismatchedAnswers = true });
        Assert.Equal(["q1"], result.Examples.Select(e => e.Id));
        Assert.Equal(1, result.SkippedCount);
        Assert.Contains("question 'q2'", result.Skipped[0]);
    }

    [Fact]
    public void ReadsJsonlInBothAnswerLayouts()
    {
        using var file = new TempFile(".jsonl", """
            {"id": "a", "title": "Geo", "question": "Where?", "context": "Paris is in France.", "answers": {"text": ["France", "in France"], "answer_start": [12, 9]}}

            {"question": "Who?", "context": "Ann met Bob.", "answers": [{"text": "Bob", "answer_start": 8}]}
            {"question": "Unanswerable?", "context": "Nothing here.", "answers": {"text": [], "answer_start": []}}
            """);
        var result = SquadReader.Read(file.FilePath);
        Assert.Equal(3, result.Examples.Count);
        var a = result.Examples[0];
        Assert.Equal(("a", "Geo", 1L), (a.Id, a.Title, a.SourceLine!.Value));
        Assert.Equal([new QaAnswer("France", 12), new QaAnswer("in France", 9)], a.Answers);
        var b = result.Examples[1];
        Assert.Equal(("3", "", 3L), (b.Id, b.Title, b.SourceLine!.Value));
        Assert.Equal($"{file.FilePath}:3", b.Location);
        Assert.Equal(new QaAnswer("Bob", 8), b.Answers.Single());
        Assert.Empty(result.Examples[2].Answers);
    }

    [Theory]
    [InlineData("""{"question": "Who?", "context": "Ann met Bob.", "answers": [{"text": "Bob", "answer_start": 7}]}""", ":2: column 'answers': question '2': answer 1 'Bob' does not match the context at answer_start 7")]
    [InlineData("""{"question": "Who?", "context": "Ann met Bob.", "answers": {"text": ["Bob"], "answer_start": []}}""", ":2: column 'answers': \"answers\" has 1 texts but 0 answer_start values")]
    [InlineData("""{"context": "Ann met Bob.", "answers": []}""", ":2: column 'question': the object has no \"question\"")]
    [InlineData("""{"question": "Who?", "context": "Ann met Bob.", "answers": [{"text": "Bob", "answer_start": "8"}]}""", ":2: column 'answers': answers: answer 1: answer_start must be a whole number")]
    [InlineData("""{"id": "x", "question": "Who?", "context": "Ann met Bob.", "answers": []}""", ":2: column 'id': question id 'x' appears more than once")]
    [InlineData("""not json""", ":2: the line is not valid JSON")]
    public void BadJsonlRowsNameTheLine(string line, string expected)
    {
        using var file = new TempFile(".jsonl", """{"id": "x", "question": "Q", "context": "C", "answers": []}""" + "\n" + line + "\n");
        var e = Assert.Throws<DataException>(() => SquadReader.Read(file.FilePath));
        Assert.StartsWith(file.FilePath + expected, e.Message);
    }

    [Fact]
    public void ConvertsCodePointOffsetsToUtf16()
    {
        // U+1F600 takes two UTF-16 units; answer_start counts it as one character, as Python does.
        var context = "I \U0001F600 Paris.";
        using var file = new TempFile(".jsonl", $$"""{"question": "Where?", "context": "{{context}}", "answers": [{"text": "Paris", "answer_start": 4}]}""");
        var example = SquadReader.Read(file.FilePath).Examples.Single();
        Assert.Equal(5, example.Answers[0].Start);
        Assert.Equal("Paris", example.Context[example.Answers[0].Start..example.Answers[0].End]);
        Assert.Equal(5, SquadReader.CodePointToUtf16(context, 4));
        Assert.Equal(-1, SquadReader.CodePointToUtf16(context, 20));
    }

    [Fact]
    public void AFileWithoutDataIsAnError()
    {
        using var file = new TempFile(".json", """{"version": "1.1"}""");
        var e = Assert.Throws<DataException>(() => SquadReader.Read(file.FilePath));
        Assert.StartsWith(file.FilePath + ": a SQuAD file is an object with a \"data\" array", e.Message);
    }
}
