namespace FineTune.Data;

/// <summary>One tag split into its prefix (<c>'O'</c>, <c>'B'</c>, <c>'I'</c>, <c>'E'</c> or <c>'S'</c>) and its entity type (empty for <c>O</c>).</summary>
internal readonly record struct TagParts(char Prefix, string Type)
{
    public bool IsOutside => Prefix == 'O';
}

/// <summary>Reading one tag (the part of <see cref="TagSchemes"/> that entity spans need, also compiled into FineTune.Onnx).</summary>
internal static partial class TagSchemes
{
    /// <summary>The tag of a token outside every entity.</summary>
    public const string Outside = "O";

    /// <summary>
    /// Splits a tag: <c>O</c>, or one of <c>B I E S</c>, a hyphen and a non-empty type (which may itself contain hyphens).
    /// Returns false for anything else (<c>X-PER</c>, <c>PER</c>, <c>B-</c>, <c>b-per</c>).
    /// </summary>
    public static bool TryParseTag(string tag, out TagParts parts)
    {
        parts = default;
        if (tag == Outside)
        {
            parts = new TagParts('O', "");
            return true;
        }
        if (tag is null || tag.Length < 3 || tag[1] != '-' || tag[0] is not ('B' or 'I' or 'E' or 'S')) return false;
        var type = tag[2..];
        if (type.Any(char.IsWhiteSpace)) return false;
        parts = new TagParts(tag[0], type);
        return true;
    }

    /// <summary>Splits a tag as <see cref="TryParseTag"/> does; a tag that fits no scheme is a <see cref="DataException"/>.</summary>
    public static TagParts ParseTag(string tag) =>
        TryParseTag(tag, out var parts) ? parts : throw new DataException(InvalidTagMessage(tag));

    internal static string InvalidTagMessage(string? tag) =>
        $"tag '{tag}' fits no tag scheme: expected 'O' or one of the prefixes B-, I-, E-, S- followed by an entity type (e.g. 'B-PER')";
}
