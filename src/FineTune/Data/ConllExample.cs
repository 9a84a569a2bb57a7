namespace FineTune.Data;

/// <summary>
/// One sentence for token classification: its words (already split) and one tag per word.
/// <see cref="SourceLine"/> is the 1-based line of the first word (column files) or of the JSON object (JSONL).
/// </summary>
public sealed record TokenExample(IReadOnlyList<string> Words, IReadOnlyList<string> Tags, string SourceFile, long SourceLine)
{
    /// <summary>True for column files, where word <c>i</c> of the sentence is on line <c>SourceLine + i</c>.</summary>
    public bool OneWordPerLine { get; init; }

    /// <summary>The 1-based line of the file where word <paramref name="word"/> is.</summary>
    public long LineOf(int word) => OneWordPerLine ? SourceLine + word : SourceLine;
}

/// <summary>
/// The sentences of a token-classification file, with the tag scheme the file was written in and the scheme its
/// <see cref="Examples"/> are now in.
/// </summary>
internal sealed record TokenDataset(IReadOnlyList<TokenExample> Examples, TagScheme SourceScheme, TagScheme Scheme, bool SchemeDetected)
{
    /// <summary>The sentences skipped as invalid (<see cref="ConllReadOptions.SkipInvalidRows"/>): how many, and the first reasons.</summary>
    public SkippedRows Skipped { get; init; } = new("", 0, []);

    public int Count => Examples.Count;
    public long WordCount => Examples.Sum(e => (long)e.Words.Count);

    /// <summary>The same sentences with their tags converted to <paramref name="scheme"/>.</summary>
    public TokenDataset ToScheme(TagScheme scheme) =>
        scheme == Scheme ? this : this with { Examples = TagSchemes.Convert(Examples, Scheme, scheme), Scheme = scheme };
}
