using FineTune.Data;

namespace FineTune.Data;

/// <summary>An entity in a tag sequence: its type and the token range [<see cref="Start"/>, <see cref="End"/>) (end exclusive).</summary>
internal readonly record struct EntitySpan(string Type, int Start, int End)
{
    public int Length => End - Start;
}

/// <summary>
/// Reads the entities (chunks) of a tag sequence with the conlleval / seqeval (default, non-strict mode) rules, which
/// serve IOB1, IOB2, IO and BIOES sequences alike, malformed ones included.
/// </summary>
/// <remarks>
/// Between each pair of neighbouring tags (with <c>O</c> before the first and after the last):
/// <list type="bullet">
/// <item>the current entity ends when the previous tag is <c>E-</c> or <c>S-</c>; when the previous tag is <c>B-</c> or
/// <c>I-</c> and the new one is <c>B-</c>, <c>S-</c> or <c>O</c>; or when the type changes;</item>
/// <item>a new entity starts at every <c>B-</c> and <c>S-</c>; at an <c>I-</c> or <c>E-</c> that follows <c>O</c>,
/// <c>E-</c> or <c>S-</c>; and at any tag whose type differs from the previous tag's.</item>
/// </list>
/// So <c>O I-PER I-PER</c> is one PER entity, <c>B-PER I-LOC</c> is a PER and a LOC, <c>I-PER B-PER</c> two PERs.
/// </remarks>
internal static class EntityChunker
{
    /// <summary>The entities of a tag sequence, in order. A tag that fits no scheme is a <see cref="DataException"/>.</summary>
    public static List<EntitySpan> Extract(IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var entities = new List<EntitySpan>();
        var previous = new TagParts('O', "");
        var start = 0;
        for (var i = 0; i <= tags.Count; i++)
        {
            var current = i < tags.Count ? TagSchemes.ParseTag(tags[i]) : new TagParts('O', "");
            if (EndsBefore(previous, current)) entities.Add(new EntitySpan(previous.Type, start, i));
            if (StartsAt(previous, current)) start = i;
            previous = current;
        }
        return entities;
    }

    private static bool EndsBefore(TagParts previous, TagParts current)
    {
        if (previous.IsOutside) return false;
        if (previous.Prefix is 'E' or 'S') return true;
        if (current.Prefix is 'B' or 'S' or 'O') return true;
        return previous.Type != current.Type;
    }

    private static bool StartsAt(TagParts previous, TagParts current)
    {
        if (current.IsOutside) return false;
        if (current.Prefix is 'B' or 'S') return true;
        if (previous.Prefix is 'O' or 'E' or 'S') return true;
        return previous.Type != current.Type;
    }
}
