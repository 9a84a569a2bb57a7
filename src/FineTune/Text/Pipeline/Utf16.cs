namespace FineTune.Text.Pipeline;

/// <summary>Code points in UTF-16 text: a surrogate pair is one character, a lone surrogate is one character too.</summary>
internal static class Utf16
{
    /// <summary>The code point at <paramref name="i"/> and how many units it takes.</summary>
    public static int CodePointAt(ReadOnlySpan<char> s, int i, out int units)
    {
        if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            units = 2;
            return char.ConvertToUtf32(s[i], s[i + 1]);
        }
        units = 1;
        return s[i];
    }

    /// <summary>The code point that ends at <paramref name="i"/> and how many units it takes.</summary>
    public static int CodePointBefore(ReadOnlySpan<char> s, int i, out int units)
    {
        if (i >= 2 && char.IsLowSurrogate(s[i - 1]) && char.IsHighSurrogate(s[i - 2]))
        {
            units = 2;
            return char.ConvertToUtf32(s[i - 2], s[i - 1]);
        }
        units = 1;
        return s[i - 1];
    }

    public static int CountCodePoints(ReadOnlySpan<char> s)
    {
        int n = 0;
        for (int i = 0; i < s.Length; i++, n++)
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
        return n;
    }
}
