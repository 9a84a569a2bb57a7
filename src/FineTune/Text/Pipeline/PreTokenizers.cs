using System.Globalization;
using System.Text.RegularExpressions;
using static FineTune.Text.BertCharTables;

namespace FineTune.Text.Pipeline;

/// <summary>One piece of the pre-tokenized text: its characters and, for added tokens, the token already chosen.</summary>
internal sealed class Split(NormalizedText text, int addedTokenId = -1)
{
    public NormalizedText Text { get; set; } = text;

    /// <summary>The id of the added token this piece is, or -1 when the model still has to tokenize it.</summary>
    public int AddedTokenId { get; } = addedTokenId;

    public bool IsAddedToken => AddedTokenId >= 0;
}

/// <summary>What happens to the delimiter when a piece is split (Hugging Face's SplitDelimiterBehavior).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>A tokenizer.json pre-tokenizer: cuts the pieces that are not added tokens into smaller ones.</summary>
internal abstract class PreTokenizer
{
    public abstract void PreTokenize(List<Split> splits);

    /// <summary>Replaces every piece that is not an added token by what <paramref name="split"/> makes of it; empty pieces are dropped.</summary>
    protected static void SplitEach(List<Split> splits, Func<NormalizedText, IEnumerable<NormalizedText?>> split)
    {
        var result = new List<Split>(splits.Count * 2);
        foreach (var s in splits)
        {
            if (s.IsAddedToken)
            {
                result.Add(s);
                continue;
            }
            foreach (var piece in split(s.Text))
                if (piece is { IsEmpty: false }) result.Add(new Split(piece));
        }
        splits.Clear();
        splits.AddRange(result);
    }

    /// <summary>Hugging Face's NormalizedString.split over matches (start, end, isMatch) that cover the text.</summary>
    public static IEnumerable<NormalizedText?> SplitByMatches(NormalizedText text, List<(int Start, int End, bool Match)> matches, SplitBehavior behavior)
    {
        var pieces = new List<(int Start, int End, bool Remove)>(matches.Count);
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var (s, e, _) in matches) pieces.Add((s, e, false));
                break;
            case SplitBehavior.Removed:
                foreach (var (s, e, m) in matches) pieces.Add((s, e, m));
                break;
            case SplitBehavior.Contiguous:
            {
                bool previous = false;
                foreach (var (s, e, m) in matches)
                {
                    if (m == previous && pieces.Count > 0) pieces[^1] = (pieces[^1].Start, e, false);
                    else pieces.Add((s, e, false));
                    previous = m;
                }
                break;
            }
            case SplitBehavior.MergedWithPrevious:
            {
                bool previous = false;
                foreach (var (s, e, m) in matches)
                {
                    if (m && !previous && pieces.Count > 0) pieces[^1] = (pieces[^1].Start, e, false);
                    else pieces.Add((s, e, false));
                    previous = m;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool previous = false;
                for (int i = matches.Count - 1; i >= 0; i--)
                {
                    var (s, e, m) = matches[i];
                    if (m && !previous && pieces.Count > 0) pieces[^1] = (s, pieces[^1].End, false);
                    else pieces.Add((s, e, false));
                    previous = m;
                }
                pieces.Reverse();
                break;
            }
        }
        foreach (var (s, e, remove) in pieces)
            if (!remove) yield return text.Slice(s, e);
    }

    /// <summary>Matches of a character predicate, each matching character on its own, with the gaps between them.</summary>
    public static List<(int Start, int End, bool Match)> CharMatches(NormalizedText text, Func<int, bool> isMatch)
    {
        var matches = new List<(int, int, bool)>();
        int last = 0;
        for (int i = 0; i < text.Length;)
        {
            int cp = text.CodePointAt(i, out int units);
            if (isMatch(cp))
            {
                if (last < i) matches.Add((last, i, false));
                matches.Add((i, i + units, true));
                last = i + units;
            }
            i += units;
        }
        if (last < text.Length) matches.Add((last, text.Length, false));
        return matches;
    }

    /// <summary>Matches of a regular expression with the gaps between them (empty matches are ignored).</summary>
    public static List<(int Start, int End, bool Match)> RegexMatches(NormalizedText text, Regex regex)
    {
        var matches = new List<(int, int, bool)>();
        int last = 0;
        foreach (var m in regex.EnumerateMatches(text.Span))
        {
            if (m.Length == 0) continue;
            if (last < m.Index) matches.Add((last, m.Index, false));
            matches.Add((m.Index, m.Index + m.Length, true));
            last = m.Index + m.Length;
        }
        if (last < text.Length) matches.Add((last, text.Length, false));
        return matches;
    }

    public static bool IsWhitespace(int cp) => (Flags(cp) & CharFlags.Whitespace) != 0;

    /// <summary>Rust's char::is_numeric: general categories Nd, Nl and No.</summary>
    public static bool IsNumeric(int cp)
    {
        if (cp < 0x80) return cp is >= '0' and <= '9';
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
    }
}

internal sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> preTokenizers) : PreTokenizer
{
    public override void PreTokenize(List<Split> splits)
    {
        foreach (var p in preTokenizers) p.PreTokenize(splits);
    }
}

/// <summary>BertPreTokenizer: split on whitespace (removed), then isolate punctuation.</summary>
internal sealed class BertPreTokenizer : PreTokenizer
{
    public override void PreTokenize(List<Split> splits)
    {
        SplitEach(splits, t => SplitByMatches(t, CharMatches(t, IsWhitespace), SplitBehavior.Removed));
        SplitEach(splits, t => SplitByMatches(t, CharMatches(t, cp => (Flags(cp) & CharFlags.Punctuation) != 0), SplitBehavior.Isolated));
    }
}

/// <summary>WhitespaceSplit: split on whitespace, which is removed.</summary>
internal sealed class WhitespaceSplitPreTokenizer : PreTokenizer
{
    public override void PreTokenize(List<Split> splits) =>
        SplitEach(splits, t => SplitByMatches(t, CharMatches(t, IsWhitespace), SplitBehavior.Removed));
}

/// <summary>Whitespace: the runs of word characters and the runs of other non-space characters (Hugging Face's <c>\w+|[^\w\s]+</c>).</summary>
internal sealed class WhitespacePreTokenizer : PreTokenizer
{
    public override void PreTokenize(List<Split> splits) => SplitEach(splits, Pieces);

    private static IEnumerable<NormalizedText?> Pieces(NormalizedText t)
    {
        var matches = new List<(int, int, bool)>();
        int i = 0, last = 0;
        while (i < t.Length)
        {
            int cp = t.CodePointAt(i, out int units);
            int kind = IsWord(cp) ? 1 : IsWhitespace(cp) ? 0 : 2;
            if (kind == 0)
            {
                i += units;
                continue;
            }
            int start = i;
            while (i < t.Length)
            {
                int c = t.CodePointAt(i, out int u);
                int k = IsWord(c) ? 1 : IsWhitespace(c) ? 0 : 2;
                if (k != kind) break;
                i += u;
            }
            if (last < start) matches.Add((last, start, false));
            matches.Add((start, i, true));
            last = i;
        }
        // the regular expression's matches are kept, what lies between them is removed
        return SplitByMatches(t, matches.Select(m => (m.Item1, m.Item2, !m.Item3)).ToList(), SplitBehavior.Removed);
    }

    /// <summary>Rust regex's \w: alphabetic, marks, decimal digits, connector punctuation, joiners.</summary>
    public static bool IsWord(int cp)
    {
        if (cp < 0x80) return cp is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '_';
        if (cp is 0x200C or 0x200D) return true;
        if (cp is >= 0x24B6 and <= 0x24E9) return true; // circled letters: Other_Alphabetic
        if (cp is >= 0x2160 and <= 0x2188) return true; // roman numerals: letter numbers
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.NonSpacingMark
            or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark or UnicodeCategory.DecimalDigitNumber
            or UnicodeCategory.ConnectorPunctuation or UnicodeCategory.LetterNumber;
    }
}

/// <summary>Punctuation: split on punctuation characters with the given behavior.</summary>
internal sealed class PunctuationPreTokenizer(SplitBehavior behavior) : PreTokenizer
{
    public override void PreTokenize(List<Split> splits) =>
        SplitEach(splits, t => SplitByMatches(t, CharMatches(t, cp => (Flags(cp) & CharFlags.Punctuation) != 0), behavior));
}

/// <summary>Digits: isolate each digit, or runs of digits.</summary>
internal sealed class DigitsPreTokenizer(bool individualDigits) : PreTokenizer
{
    public override void PreTokenize(List<Split> splits) =>
        SplitEach(splits, t => SplitByMatches(t, CharMatches(t, IsNumeric), individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous));
}

/// <summary>Split: on a string or a regular expression (or on what does not match, inverted) with the given behavior.</summary>
internal sealed class SplitPreTokenizer(string? literal, Regex? regex, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void PreTokenize(List<Split> splits) => SplitEach(splits, t =>
    {
        List<(int Start, int End, bool Match)> matches;
        if (literal is not null)
        {
            matches = [];
            if (literal.Length == 0) matches.Add((0, t.Length, false));
            else
            {
                int last = 0;
                var span = t.Span;
                for (int at = 0; ;)
                {
                    int i = span[at..].IndexOf(literal, StringComparison.Ordinal);
                    if (i < 0) break;
                    if (last < at + i) matches.Add((last, at + i, false));
                    matches.Add((at + i, at + i + literal.Length, true));
                    at += i + literal.Length;
                    last = at;
                }
                if (last < t.Length) matches.Add((last, t.Length, false));
            }
        }
        else matches = RegexMatches(t, regex!);
        if (invert) matches = matches.Select(m => (m.Start, m.End, !m.Match)).ToList();
        return SplitByMatches(t, matches, behavior);
    });
}

/// <summary>
/// Metaspace: spaces become the replacement character (▁), which is put in front (always, only at the start of the
/// input, or never), and the text is split before each replacement character.
/// </summary>
internal sealed class MetaspacePreTokenizer(char replacement, MetaspacePreTokenizer.Prepend prepend, bool split) : PreTokenizer
{
    public enum Prepend { Always, First, Never }

    private readonly string _replacement = replacement.ToString();

    public override void PreTokenize(List<Split> splits) => SplitEach(splits, t =>
    {
        for (int i = 0; i < t.Length; i++)
            if (t.Chars[i] == ' ') t.Chars[i] = replacement;
        if (prepend == Prepend.Always && !t.StartsWith(_replacement)) t.Prepend(_replacement);
        else if (prepend == Prepend.First && !t.StartsWith(_replacement) && t.OriginalStart == 0) t.Prepend(_replacement);
        if (!split) return [t];
        return SplitByMatches(t, CharMatches(t, cp => cp == replacement), SplitBehavior.MergedWithNext);
    });
}

/// <summary>
/// ByteLevel: optionally a space in front, GPT-2's split (<c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>),
/// then every UTF-8 byte of a piece as its printable character (the first byte of a character replaces it, the
/// others are insertions with the same range).
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    public override void PreTokenize(List<Split> splits)
    {
        SplitEach(splits, t =>
        {
            if (addPrefixSpace && !t.StartsWith(" ")) t.Prepend(" ");
            return useRegex ? SplitByMatches(t, Gpt2Matches(t), SplitBehavior.Isolated) : [t];
        });
        foreach (var s in splits)
            if (!s.IsAddedToken) s.Text = ByteLevel.ToByteChars(s.Text);
    }

    private static bool IsLetter(int cp) =>
        cp < 0x80 ? (uint)((cp | 0x20) - 'a') <= 'z' - 'a' : CharUnicodeInfo.GetUnicodeCategory(cp) is >= UnicodeCategory.UppercaseLetter and <= UnicodeCategory.OtherLetter;

    private static bool IsNumber(int cp) =>
        cp < 0x80 ? (uint)(cp - '0') <= 9 : CharUnicodeInfo.GetUnicodeCategory(cp) is >= UnicodeCategory.DecimalDigitNumber and <= UnicodeCategory.OtherNumber;

    /// <summary>Oniguruma's \s: the White_Space characters.</summary>
    private static bool IsSpace(int cp) => cp < 0x80 ? cp is ' ' or (>= 9 and <= 13) : IsWhitespace(cp);

    /// <summary>The GPT-2 pattern's matches, written out as a scanner (the same alternatives, tried in order).</summary>
    public static List<(int Start, int End, bool Match)> Gpt2Matches(NormalizedText t)
    {
        var matches = new List<(int, int, bool)>();
        var s = t.Chars;
        int n = t.Length;
        int i = 0;
        while (i < n)
        {
            int end = MatchAt(s, n, i);
            matches.Add((i, end, true));
            i = end;
        }
        return matches;
    }

    private static int Cp(char[] s, int n, int i, out int units) => Utf16.CodePointAt(s.AsSpan(0, n), i, out units);

    private static int MatchAt(char[] s, int n, int i)
    {
        // 's|'t|'re|'ve|'m|'ll|'d
        if (s[i] == '\'' && i + 1 < n)
        {
            char a = s[i + 1];
            if (a is 's' or 't' or 'm' or 'd') return i + 2;
            if (i + 2 < n && ((a == 'r' && s[i + 2] == 'e') || (a == 'v' && s[i + 2] == 'e') || (a == 'l' && s[i + 2] == 'l'))) return i + 3;
        }
        int j = i;
        if (s[j] == ' ' && j + 1 < n) j++;
        int cp = Cp(s, n, j, out int u);
        // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
        if (IsLetter(cp)) return Run(s, n, j, IsLetter);
        if (IsNumber(cp)) return Run(s, n, j, IsNumber);
        if (!IsSpace(cp)) return Run(s, n, j, c => !IsSpace(c) && !IsLetter(c) && !IsNumber(c));
        // \s+(?!\S) | \s+
        int k = i, lastStart = i;
        while (k < n)
        {
            int c = Cp(s, n, k, out int units);
            if (!IsSpace(c)) break;
            lastStart = k;
            k += units;
        }
        if (k == i) return i + u; // not reached: every character is in one of the classes
        if (k == n) return k;
        // followed by a non-space: give back the last space, unless that leaves nothing
        return lastStart > i ? lastStart : k;
    }

    private static int Run(char[] s, int n, int j, Func<int, bool> inClass)
    {
        while (j < n)
        {
            int c = Cp(s, n, j, out int units);
            if (!inClass(c)) break;
            j += units;
        }
        return j;
    }
}

/// <summary>GPT-2's byte-to-character table and the ByteLevel transformations.</summary>
internal static class ByteLevel
{
    /// <summary>The printable character of each byte.</summary>
    public static readonly char[] ByteToChar = BuildTable();

    /// <summary>The byte of each byte-level character (-1 for other characters).</summary>
    public static readonly short[] CharToByte = BuildReverse();

    private static char[] BuildTable()
    {
        var table = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)(256 + n++);
        }
        return table;
    }

    private static short[] BuildReverse()
    {
        var reverse = new short[512];
        Array.Fill(reverse, (short)-1);
        for (int b = 0; b < 256; b++) reverse[ByteToChar[b]] = (short)b;
        return reverse;
    }

    public static bool IsByteChar(char c) => c < 512 && CharToByte[c] >= 0;

    /// <summary>Every UTF-8 byte of the text as its character, each with the range of the character it belongs to.</summary>
    public static NormalizedText ToByteChars(NormalizedText t)
    {
        var result = new NormalizedText(t.Length * 2) { OriginalStart = t.OriginalStart, OriginalEnd = t.OriginalEnd };
        Span<byte> bytes = stackalloc byte[4];
        for (int i = 0; i < t.Length;)
        {
            char c = t.Chars[i];
            if (c < 0x80)
            {
                result.Append(ByteToChar[c], t.Starts[i], t.Ends[i]);
                i++;
                continue;
            }
            int cp = t.CodePointAt(i, out int units);
            int count = new System.Text.Rune(cp).EncodeToUtf8(bytes);
            for (int k = 0; k < count; k++) result.Append(ByteToChar[bytes[k]], t.Starts[i], t.Ends[i]);
            i += units;
        }
        return result;
    }
}
