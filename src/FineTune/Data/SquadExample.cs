namespace FineTune.Data;

/// <summary>
/// A reference answer: its text and where it starts in the context, as a UTF-16 index into the .NET string
/// (files count <c>answer_start</c> in Unicode code points; the reader converts).
/// </summary>
public sealed record QaAnswer(string Text, int Start)
{
    /// <summary>The UTF-16 index just after the answer.</summary>
    public int End => Start + Text.Length;
}

/// <summary>
/// One extractive-QA question with its context and reference answers (SQuAD: one for train, several for dev; none
/// for a question without an answer). <see cref="SourceLine"/> is the JSONL line, or null for a SQuAD JSON file,
/// whose questions are located by <see cref="Id"/>.
/// </summary>
public sealed record QaExample(
    string Id,
    string Title,
    string Question,
    string Context,
    IReadOnlyList<QaAnswer> Answers,
    string SourceFile,
    long? SourceLine)
{
    /// <summary>"file:line" for JSONL, "file: question 'id'" for SQuAD JSON.</summary>
    public string Location => SourceLine is { } line ? $"{SourceFile}:{line}" : $"{SourceFile}: question '{Id}'";
}
