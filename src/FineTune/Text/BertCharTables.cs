namespace FineTune.Text;

/// <summary>
/// Character classes and mappings of Hugging Face's BERT normalizer and pre-tokenizer, for every Unicode scalar value.
/// The data (<c>BertCharTables.g.cs</c>) is derived from Hugging Face's own implementation; it does not depend on the
/// Unicode version of the .NET runtime, nor on globalization mode.
/// </summary>
internal static partial class BertCharTables
{
    [Flags]
    internal enum CharFlags : byte
    {
        None = 0,
        /// <summary>Removed by clean_text.</summary>
        Control = 1,
        /// <summary>Turned into a space by clean_text.</summary>
        CleanWhitespace = 2,
        /// <summary>Split on by the pre-tokenizer.</summary>
        Whitespace = 4,
        /// <summary>Isolated by the pre-tokenizer.</summary>
        Punctuation = 8,
        /// <summary>Changed or removed by strip_accents.</summary>
        Accent = 16,
        /// <summary>Has a lower-case mapping.</summary>
        Upper = 32,
        /// <summary>A CJK ideograph that handle_chinese_chars surrounds with spaces.</summary>
        Chinese = 64,
    }

    internal const int MaxCodePoint = 0x10FFFF;

    private static readonly CharFlags[] s_flags = BuildFlags();
    private static readonly Dictionary<int, string> s_strip = BuildMap(StripMap);
    private static readonly Dictionary<int, string> s_lower = BuildMap(LowerMap);

    internal static CharFlags Flags(int codePoint) => s_flags[codePoint];

    /// <summary>strip_accents of one character: NFD without non-spacing marks (may be empty or several characters).</summary>
    internal static string StripAccents(int codePoint)
    {
        if (s_strip.TryGetValue(codePoint, out var mapped)) return mapped;
        if (IsHangulSyllable(codePoint)) return DecomposeHangul(codePoint);
        return (s_flags[codePoint] & CharFlags.Accent) != 0 ? "" : char.ConvertFromUtf32(codePoint);
    }

    /// <summary>Lower case of one character (Rust's char::to_lowercase; U+0130 becomes two characters).</summary>
    internal static string ToLower(int codePoint) =>
        s_lower.TryGetValue(codePoint, out var mapped) ? mapped : char.ConvertFromUtf32(codePoint);

    /// <summary>Hugging Face's "Chinese character": the CJK ideograph blocks.</summary>
    internal static bool IsChinese(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B920 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;

    private static bool IsHangulSyllable(int cp) => cp is >= 0xAC00 and <= 0xD7A3;

    private static string DecomposeHangul(int cp)
    {
        int i = cp - 0xAC00, t = i % 28;
        var l = (char)(0x1100 + i / 588);
        var v = (char)(0x1161 + i % 588 / 28);
        return t == 0 ? new string([l, v]) : new string([l, v, (char)(0x11A7 + t)]);
    }

    private static CharFlags[] BuildFlags()
    {
        var flags = new CharFlags[MaxCodePoint + 1];
        SetRanges(flags, ControlRanges, CharFlags.Control);
        SetRanges(flags, PunctuationRanges, CharFlags.Punctuation);
        SetRanges(flags, StripRemovedRanges, CharFlags.Accent);
        foreach (var cp in CleanWhitespace) flags[cp] |= CharFlags.CleanWhitespace;
        foreach (var cp in SplitWhitespace) flags[cp] |= CharFlags.Whitespace;
        ForEachMapped(StripMap, (cp, _) => flags[cp] |= CharFlags.Accent);
        ForEachMapped(LowerMap, (cp, _) => flags[cp] |= CharFlags.Upper);
        for (int cp = 0xAC00; cp <= 0xD7A3; cp++) flags[cp] |= CharFlags.Accent;
        for (int cp = 0; cp <= MaxCodePoint; cp++)
            if (IsChinese(cp)) flags[cp] |= CharFlags.Chinese;
        return flags;
    }

    private static void SetRanges(CharFlags[] flags, ReadOnlySpan<int> ranges, CharFlags flag)
    {
        for (int i = 0; i < ranges.Length; i += 2)
            for (int cp = ranges[i]; cp <= ranges[i + 1]; cp++)
                flags[cp] |= flag;
    }

    private delegate void MappedAction(int codePoint, string value);

    private static void ForEachMapped(ReadOnlySpan<int> map, MappedAction action)
    {
        for (int i = 0; i < map.Length;)
        {
            int cp = map[i], n = map[i + 1];
            var sb = new System.Text.StringBuilder(n * 2);
            for (int k = 0; k < n; k++) sb.Append(char.ConvertFromUtf32(map[i + 2 + k]));
            action(cp, sb.ToString());
            i += 2 + n;
        }
    }

    private static Dictionary<int, string> BuildMap(ReadOnlySpan<int> map)
    {
        var result = new Dictionary<int, string>();
        ForEachMapped(map, (cp, value) => result[cp] = value);
        return result;
    }
}
