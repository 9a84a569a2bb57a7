using FineTune.Evaluation;

namespace FineTune.Data;

/// <summary>
/// How the tags of a token-classification file mark entity boundaries. Every tag is either <c>O</c> (outside)
/// or a prefix, a hyphen and an entity type (<c>B-PER</c>, <c>I-LOC</c>).
/// </summary>
public enum TagScheme
{
    /// <summary>Only <c>I-</c> and <c>O</c>: an entity is a run of tokens of one type. Two adjacent entities of the same type cannot be told apart.</summary>
    IO,

    /// <summary>
    /// The original CoNLL-2003 scheme: an entity starts with <c>I-</c>; <c>B-</c> marks the first token of an entity only
    /// when it directly follows an entity of the same type.
    /// </summary>
    IOB1,

    /// <summary>Also called BIO: every entity starts with <c>B-</c> and continues with <c>I-</c>.</summary>
    IOB2,

    /// <summary>Also called IOBES: <c>B-</c> begins, <c>I-</c> continues and <c>E-</c> ends an entity of several tokens; <c>S-</c> is an entity of one token.</summary>
    BIOES,
}

/// <summary>
/// Parsing, detection and conversion of tag schemes.
/// </summary>
/// <remarks>
/// <para>
/// Entities are read from a tag sequence the way conlleval and seqeval (default mode) read them, whatever the scheme:
/// a <c>B-</c> or <c>S-</c> always starts an entity, an <c>I-</c> or <c>E-</c> starts one after <c>O</c>, after the end
/// of an entity (<c>E-</c>/<c>S-</c>) or after a tag of another type, and otherwise continues the current one (see
/// <see cref="EntityChunker"/>). Under that reading IOB1 and IOB2 sequences (even malformed ones) mean the same
/// entities, so conversion is: read the entities, then write them out in the target scheme's canonical form.
/// </para>
/// <para>
/// Conversion is lossless between IOB1, IOB2 and BIOES for well-formed input. Converting to IO merges adjacent
/// entities of the same type. A non-canonical IOB1 sequence (a <c>B-</c> after <c>O</c>, which eng.train has twice)
/// converts back to the canonical <c>I-</c>; the entities are unchanged.
/// </para>
/// </remarks>
internal static partial class TagSchemes
{
    /// <summary>
    /// Parses a scheme name, case-insensitively: <c>IO</c>, <c>IOB1</c>, <c>IOB2</c> (or <c>BIO</c>), <c>BIOES</c> (or <c>IOBES</c>).
    /// An unknown name is a <see cref="FineTuneException"/> listing the known ones.
    /// </summary>
    public static TagScheme Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToUpperInvariant() switch
        {
            "IO" => TagScheme.IO,
            "IOB1" => TagScheme.IOB1,
            "IOB2" or "BIO" => TagScheme.IOB2,
            "BIOES" or "IOBES" => TagScheme.BIOES,
            _ => throw new FineTuneException($"Unknown tag scheme '{name}'. Known schemes: IO, IOB1, IOB2 (BIO), BIOES (IOBES)."),
        };
    }

    /// <summary>The tag prefixes a scheme uses, in the order labels are listed (<c>B</c>, <c>I</c>, <c>E</c>, <c>S</c>).</summary>
    public static IReadOnlyList<char> Prefixes(TagScheme scheme) => scheme switch
    {
        TagScheme.IO => ['I'],
        TagScheme.IOB1 or TagScheme.IOB2 => ['B', 'I'],
        TagScheme.BIOES => ['B', 'I', 'E', 'S'],
        _ => throw new ArgumentOutOfRangeException(nameof(scheme)),
    };

    /// <summary>Whether <paramref name="prefix"/> (or <c>'O'</c>) may appear in a sequence of <paramref name="scheme"/>.</summary>
    public static bool Allows(TagScheme scheme, char prefix) => prefix == 'O' || Prefixes(scheme).Contains(prefix);

    /// <summary>
    /// Detects the scheme of a file from the tags of all its sentences:
    /// <list type="bullet">
    /// <item>any <c>E-</c> or <c>S-</c> tag: <see cref="TagScheme.BIOES"/> (then no <c>I-</c> may start an entity);</item>
    /// <item>otherwise, any <c>I-</c> that starts an entity (at the start of a sentence, after <c>O</c> or after another type):
    /// <see cref="TagScheme.IOB1"/>. A <c>B-</c> after <c>O</c> does not count against IOB1; eng.train has two;</item>
    /// <item>otherwise (every entity starts with <c>B-</c>, or there are no entities): <see cref="TagScheme.IOB2"/>.</item>
    /// </list>
    /// A file of only <c>I-</c> and <c>O</c> tags is reported as IOB1, which reads the same entities as IO.
    /// A tag that fits no scheme, or a mix of BIOES and IOB1 evidence, is a <see cref="DataException"/>.
    /// </summary>
    public static TagScheme Detect(IEnumerable<IReadOnlyList<string>> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        return Detect(sequences.Select((tags, i) => new TokenExample(Enumerable.Repeat("", tags.Count).ToArray(), tags, "", i + 1)), located: false);
    }

    /// <summary>Detects the scheme of a set of examples (see <see cref="Detect(IEnumerable{IReadOnlyList{string}})"/>); errors name the file and line.</summary>
    public static TagScheme Detect(IEnumerable<TokenExample> examples) => Detect(examples, located: true);

    private static TagScheme Detect(IEnumerable<TokenExample> examples, bool located)
    {
        ArgumentNullException.ThrowIfNull(examples);
        (TokenExample Example, int Word)? bioesEvidence = null, iob1Evidence = null;
        foreach (var example in examples)
        {
            var previous = new TagParts('O', "");
            for (var i = 0; i < example.Tags.Count; i++)
            {
                var parts = ParseAt(example, i, located);
                if (parts.Prefix is 'E' or 'S') bioesEvidence ??= (example, i);
                if (parts.Prefix == 'I' && (previous.IsOutside || previous.Type != parts.Type)) iob1Evidence ??= (example, i);
                previous = parts;
            }
        }
        if (bioesEvidence is { } b && iob1Evidence is { } o)
        {
            throw Error(o.Example, o.Word, located,
                $"the tags mix schemes: '{o.Example.Tags[o.Word]}' starts an entity (IOB1), but '{b.Example.Tags[b.Word]}' at {Where(b.Example, b.Word, located)} is a BIOES tag");
        }
        if (bioesEvidence is not null) return TagScheme.BIOES;
        return iob1Evidence is not null ? TagScheme.IOB1 : TagScheme.IOB2;
    }

    /// <summary>
    /// Checks that every tag fits <paramref name="scheme"/>: valid syntax and a prefix the scheme uses
    /// (e.g. no <c>E-</c> in IOB2, no <c>B-</c> in IO). Malformed order (an <c>I-</c> after <c>O</c> in IOB2) is
    /// accepted and read as conlleval reads it.
    /// </summary>
    public static void Validate(IEnumerable<TokenExample> examples, TagScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(examples);
        foreach (var example in examples)
            for (var i = 0; i < example.Tags.Count; i++)
                CheckPrefix(example, i, ParseAt(example, i, located: true), scheme, located: true);
    }

    /// <summary>Converts one tag sequence from one scheme to another (see the remarks on <see cref="TagSchemes"/>).</summary>
    public static string[] Convert(IReadOnlyList<string> tags, TagScheme from, TagScheme to)
    {
        ArgumentNullException.ThrowIfNull(tags);
        for (var i = 0; i < tags.Count; i++)
        {
            var parts = ParseTag(tags[i]);
            if (!Allows(from, parts.Prefix)) throw new DataException($"tag '{tags[i]}' at position {i} is not allowed in {from}, which uses {Uses(from)}");
        }
        return Write(EntityChunker.Extract(tags), tags.Count, to);
    }

    /// <summary>
    /// Converts the tags of every example; a tag that does not fit <paramref name="from"/> is an error naming its file
    /// and line. The result is always canonical, also when <paramref name="from"/> equals <paramref name="to"/>
    /// (a malformed IOB2 <c>O I-PER</c> becomes <c>O B-PER</c>).
    /// </summary>
    public static IReadOnlyList<TokenExample> Convert(IReadOnlyList<TokenExample> examples, TagScheme from, TagScheme to)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Validate(examples, from);
        var converted = new TokenExample[examples.Count];
        for (var i = 0; i < examples.Count; i++)
        {
            var example = examples[i];
            converted[i] = example with { Tags = Write(EntityChunker.Extract(example.Tags), example.Tags.Count, to) };
        }
        return converted;
    }

    /// <summary>Writes entity spans as the canonical tag sequence of <paramref name="scheme"/>.</summary>
    public static string[] Write(IReadOnlyList<EntitySpan> entities, int length, TagScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(entities);
        var tags = new string[length];
        Array.Fill(tags, Outside);
        var previousEnd = -1;
        string? previousType = null;
        foreach (var entity in entities)
        {
            if (entity.Start < 0 || entity.End > length || entity.End <= entity.Start)
                throw new ArgumentException($"Entity {entity} lies outside a sequence of {length} tags.", nameof(entities));
            var afterSameType = previousEnd == entity.Start && previousType == entity.Type;
            for (var i = entity.Start; i < entity.End; i++)
            {
                var first = i == entity.Start;
                var last = i == entity.End - 1;
                var prefix = scheme switch
                {
                    TagScheme.IO => 'I',
                    TagScheme.IOB1 => first && afterSameType ? 'B' : 'I',
                    TagScheme.IOB2 => first ? 'B' : 'I',
                    TagScheme.BIOES => first && last ? 'S' : first ? 'B' : last ? 'E' : 'I',
                    _ => throw new ArgumentOutOfRangeException(nameof(scheme)),
                };
                tags[i] = $"{prefix}-{entity.Type}";
            }
            previousEnd = entity.End;
            previousType = entity.Type;
        }
        return tags;
    }

    private static TagParts ParseAt(TokenExample example, int word, bool located) =>
        TryParseTag(example.Tags[word], out var parts) ? parts : throw Error(example, word, located, InvalidTagMessage(example.Tags[word]));

    private static void CheckPrefix(TokenExample example, int word, TagParts parts, TagScheme scheme, bool located)
    {
        if (!Allows(scheme, parts.Prefix))
            throw Error(example, word, located, $"tag '{example.Tags[word]}' is not allowed in {scheme}, which uses {Uses(scheme)}");
    }

    private static string Uses(TagScheme scheme) => "O and " + string.Join(", ", Prefixes(scheme).Select(p => p + "-"));

    private static string Where(TokenExample example, int word, bool located) =>
        located ? $"{example.SourceFile}:{example.LineOf(word)} word {word + 1}" : $"sequence {example.SourceLine} position {word}";

    private static DataException Error(TokenExample example, int word, bool located, string reason)
    {
        if (!located) return new DataException($"sequence {example.SourceLine}, position {word}: {reason}");
        return new DataException($"word {word + 1} ('{example.Words[word]}') of the sentence: {reason}", example.SourceFile, example.LineOf(word));
    }
}
