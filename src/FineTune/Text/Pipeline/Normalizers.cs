using System.Globalization;
using System.Text.RegularExpressions;
using static FineTune.Text.BertCharTables;

namespace FineTune.Text.Pipeline;

/// <summary>A tokenizer.json normalizer: rewrites a piece of text in place, keeping every character's original range.</summary>
internal abstract class Normalizer
{
    public abstract void Normalize(NormalizedText text);

    [ThreadStatic] private static NormalizedText? t_scratch;
    [ThreadStatic] private static List<(int, int)>? t_changes;

    protected static List<(int CodePoint, int Change)> Changes()
    {
        var list = t_changes ??= new List<(int, int)>(256);
        list.Clear();
        return list;
    }

    /// <summary>Applies (character, change) pairs to <paramref name="text"/> (Hugging Face's transform).</summary>
    protected static void Apply(NormalizedText text, List<(int CodePoint, int Change)> changes, int initialRemoved = 0)
    {
        var builder = new TransformBuilder(text, t_scratch ??= new NormalizedText(256), initialRemoved);
        foreach (var (cp, change) in changes) builder.Emit(cp, change);
        builder.Commit();
    }

    /// <summary>Keeps the characters <paramref name="keep"/> accepts, each with its own range (Hugging Face's filter).</summary>
    protected static void Filter(NormalizedText text, Func<int, bool> keep)
    {
        var scratch = t_scratch ??= new NormalizedText(256);
        scratch.Length = 0;
        bool changed = false;
        for (int i = 0; i < text.Length;)
        {
            int cp = text.CodePointAt(i, out int units);
            if (keep(cp))
                for (int u = 0; u < units; u++) scratch.Append(text.Chars[i + u], text.Starts[i + u], text.Ends[i + u]);
            else changed = true;
            i += units;
        }
        if (changed) text.SwapWith(scratch);
    }

    /// <summary>Replaces each character by one or more (Hugging Face's map and lowercase: the first replaces, the rest are inserted).</summary>
    protected static void MapEach(NormalizedText text, Func<int, string?> map)
    {
        var changes = Changes();
        bool changed = false;
        for (int i = 0; i < text.Length;)
        {
            int cp = text.CodePointAt(i, out int units);
            i += units;
            var mapped = map(cp);
            if (mapped is null)
            {
                changes.Add((cp, 0));
                continue;
            }
            changed = true;
            int k = 0;
            for (int j = 0; j < mapped.Length; j++, k++)
            {
                int m = mapped[j];
                if (char.IsHighSurrogate(mapped[j]) && j + 1 < mapped.Length) m = char.ConvertToUtf32(mapped[j], mapped[++j]);
                changes.Add((m, k > 0 ? 1 : 0));
            }
            if (k == 0) changes.Add((cp, 0)); // never maps to nothing
        }
        if (changed) Apply(text, changes);
    }
}

internal sealed class SequenceNormalizer(IReadOnlyList<Normalizer> normalizers) : Normalizer
{
    public override void Normalize(NormalizedText text)
    {
        foreach (var n in normalizers) n.Normalize(text);
    }
}

/// <summary>NFD, NFKD, NFC or NFKC with Hugging Face's Unicode 9.0 data.</summary>
internal sealed class UnicodeNormalizer(UnicodeNormalization.Form form) : Normalizer
{
    public override void Normalize(NormalizedText text)
    {
        if (UnicodeNormalization.IsStable(text.Span)) return;
        var changes = Changes();
        UnicodeNormalization.Normalize(text.Span, form, changes);
        Apply(text, changes);
    }
}

/// <summary>Lowercase: Rust's char::to_lowercase (U+0130 becomes two characters).</summary>
internal sealed class LowercaseNormalizer : Normalizer
{
    public override void Normalize(NormalizedText text) =>
        MapEach(text, cp => (Flags(cp) & CharFlags.Upper) != 0 ? ToLower(cp) : null);
}

/// <summary>StripAccents: removes combining marks (General_Category M, Unicode 9.0).</summary>
internal sealed class StripAccentsNormalizer : Normalizer
{
    public override void Normalize(NormalizedText text) => Filter(text, cp => !UnicodeNormalization.IsCombiningMark(cp));
}

/// <summary>Strip: removes leading and/or trailing whitespace (Rust's char::is_whitespace).</summary>
internal sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override void Normalize(NormalizedText text)
    {
        int start = 0, end = text.Length;
        if (left)
            while (start < end && (Flags(text.Chars[start]) & CharFlags.Whitespace) != 0) start++;
        if (right)
            while (end > start && (Flags(text.Chars[end - 1]) & CharFlags.Whitespace) != 0) end--;
        if (start == 0 && end == text.Length) return;
        Filter(text, KeepRange(text, start, end));
    }

    private static Func<int, bool> KeepRange(NormalizedText text, int start, int end)
    {
        int position = 0;
        return cp =>
        {
            bool keep = position >= start && position < end;
            position += cp >= 0x10000 ? 2 : 1;
            return keep;
        };
    }
}

/// <summary>Prepend: puts a string in front of a non-empty text.</summary>
internal sealed class PrependNormalizer(string prefix) : Normalizer
{
    public override void Normalize(NormalizedText text) => text.Prepend(prefix);
}

/// <summary>
/// Replace: every match of a string or a regular expression becomes <c>content</c>; the inserted characters take the
/// range of the match's last character, as in Hugging Face.
/// </summary>
internal sealed class ReplaceNormalizer : Normalizer
{
    private readonly string? _literal;
    private readonly Regex? _regex;
    private readonly string _content;

    public ReplaceNormalizer(string? literal, Regex? regex, string content)
    {
        _literal = literal;
        _regex = regex;
        _content = content;
    }

    public override void Normalize(NormalizedText text) => ReplaceAll(text, Matches(text.Span), _content);

    public List<(int Start, int End)> Matches(ReadOnlySpan<char> span)
    {
        var matches = new List<(int, int)>();
        if (_literal is not null)
        {
            if (_literal.Length == 0) return matches;
            for (int at = 0; ;)
            {
                int i = span[at..].IndexOf(_literal, StringComparison.Ordinal);
                if (i < 0) break;
                matches.Add((at + i, at + i + _literal.Length));
                at += i + _literal.Length;
            }
            return matches;
        }
        foreach (var m in _regex!.EnumerateMatches(span))
            if (m.Length > 0) matches.Add((m.Index, m.Index + m.Length));
        return matches;
    }

    /// <summary>Replaces the given ranges (ascending, not overlapping) by <paramref name="content"/>.</summary>
    public static void ReplaceAll(NormalizedText text, List<(int Start, int End)> matches, string content)
    {
        if (matches.Count == 0) return;
        var scratch = new NormalizedText(text.Length + content.Length * matches.Count);
        int last = 0;
        foreach (var (start, end) in matches)
        {
            for (int i = last; i < start; i++) scratch.Append(text.Chars[i], text.Starts[i], text.Ends[i]);
            int s = text.Starts[end - 1], e = text.Ends[end - 1];
            foreach (var c in content) scratch.Append(c, s, e);
            last = end;
        }
        for (int i = last; i < text.Length; i++) scratch.Append(text.Chars[i], text.Starts[i], text.Ends[i]);
        text.SwapWith(scratch);
    }
}

/// <summary>
/// BertNormalizer in the general pipeline: clean_text, handle_chinese_chars, strip_accents (NFD, then no non-spacing
/// marks) and lowercase, each as Hugging Face applies it.
/// </summary>
internal sealed class BertNormalizer(bool cleanText, bool handleChineseChars, bool? stripAccents, bool lowercase) : Normalizer
{
    private static readonly UnicodeNormalizer s_nfd = new(UnicodeNormalization.Form.Nfd);
    private static readonly LowercaseNormalizer s_lower = new();

    public override void Normalize(NormalizedText text)
    {
        if (cleanText)
        {
            Filter(text, cp => !(cp == 0 || cp == 0xFFFD || (Flags(cp) & CharFlags.Control) != 0));
            MapEach(text, cp => (Flags(cp) & CharFlags.CleanWhitespace) != 0 && cp != ' ' ? " " : null);
        }
        if (handleChineseChars)
        {
            bool any = false;
            for (int i = 0; i < text.Length && !any; i++)
                any = (Flags(text.CodePointAt(i, out _)) & CharFlags.Chinese) != 0;
            if (any)
            {
                var changes = Changes();
                for (int i = 0; i < text.Length;)
                {
                    int cp = text.CodePointAt(i, out int units);
                    i += units;
                    if ((Flags(cp) & CharFlags.Chinese) != 0)
                    {
                        changes.Add((' ', 0));
                        changes.Add((cp, 1));
                        changes.Add((' ', 1));
                    }
                    else changes.Add((cp, 0));
                }
                Apply(text, changes);
            }
        }
        if (stripAccents ?? lowercase)
        {
            s_nfd.Normalize(text);
            Filter(text, cp => cp < 0x300 || StripAccents(cp).Length > 0);
        }
        if (lowercase) s_lower.Normalize(text);
    }
}

/// <summary>
/// Precompiled: SentencePiece's normalization rules as a character map (a darts-clone double array over UTF-8 keys and
/// a blob of replacement strings), applied per grapheme cluster as Hugging Face does: a cluster shorter than 6 UTF-8
/// bytes is looked up whole first, else (or when it has no rule) each of its characters; a lookup takes the shortest
/// rule that is a prefix of the key.
/// </summary>
internal sealed class PrecompiledNormalizer : Normalizer
{
    private readonly uint[] _array;
    private readonly byte[] _normalized;
    private readonly string?[] _bmp = new string?[0x10000];
    private readonly bool[] _bmpKnown = new bool[0x10000];
    private readonly object _gate = new();

    public PrecompiledNormalizer(byte[] charsmap)
    {
        if (charsmap.Length < 4) throw new FormatException("precompiled_charsmap is shorter than its header");
        uint trieSize = BitConverter.ToUInt32(charsmap, 0);
        if (trieSize % 4 != 0 || 4 + trieSize > charsmap.Length) throw new FormatException("precompiled_charsmap has a bad trie size");
        _array = new uint[trieSize / 4];
        Buffer.BlockCopy(charsmap, 4, _array, 0, (int)trieSize);
        _normalized = charsmap[(4 + (int)trieSize)..];
        if (_array.Length == 0) throw new FormatException("precompiled_charsmap has an empty trie");
    }

    /// <summary>The replacement of the shortest rule that is a prefix of <paramref name="key"/>'s UTF-8 bytes, or null.</summary>
    private string? Transform(ReadOnlySpan<char> key)
    {
        Span<byte> bytes = stackalloc byte[key.Length * 3 + 4];
        int n = System.Text.Encoding.UTF8.GetBytes(key, bytes);
        uint nodePos = 0;
        uint unit = _array[0];
        nodePos ^= Offset(unit);
        for (int i = 0; i < n; i++)
        {
            byte c = bytes[i];
            if (c == 0) break;
            nodePos ^= c;
            if (nodePos >= _array.Length) return null;
            unit = _array[nodePos];
            if ((unit & ((1u << 31) | 0xFF)) != c) return null;
            nodePos ^= Offset(unit);
            if (((unit >> 8) & 1) == 1)
            {
                if (nodePos >= _array.Length) return null;
                int index = (int)(_array[nodePos] & ((1u << 31) - 1));
                int end = index;
                while (end < _normalized.Length && _normalized[end] != 0) end++;
                return System.Text.Encoding.UTF8.GetString(_normalized, index, end - index);
            }
        }
        return null;

        static uint Offset(uint u) => (u >> 10) << (int)((u & (1u << 9)) >> 6);
    }

    private string? TransformChar(ReadOnlySpan<char> ch)
    {
        if (ch.Length != 1) return Transform(ch);
        char c = ch[0];
        if (Volatile.Read(ref _bmpKnown[c])) return _bmp[c];
        var result = Transform(ch);
        lock (_gate)
        {
            _bmp[c] = result;
            Volatile.Write(ref _bmpKnown[c], true);
        }
        return result;
    }

    public override void Normalize(NormalizedText text)
    {
        var changes = Changes();
        bool modified = false;
        var span = text.Span;
        for (int i = 0; i < span.Length;)
        {
            int length = GraphemeLength(span[i..]);
            var grapheme = span.Slice(i, length);
            if (Utf8Length(grapheme) < 6)
            {
                var whole = length == 1 || (length == 2 && char.IsHighSurrogate(grapheme[0])) ? TransformChar(grapheme) : Transform(grapheme);
                if (whole is not null)
                {
                    modified = true;
                    Replace(changes, grapheme, whole);
                    i += length;
                    continue;
                }
            }
            for (int k = 0; k < grapheme.Length;)
            {
                int units = char.IsHighSurrogate(grapheme[k]) && k + 1 < grapheme.Length && char.IsLowSurrogate(grapheme[k + 1]) ? 2 : 1;
                var part = grapheme.Slice(k, units);
                var mapped = TransformChar(part);
                if (mapped is not null)
                {
                    modified = true;
                    Replace(changes, part, mapped);
                }
                else changes.Add((units == 2 ? char.ConvertToUtf32(part[0], part[1]) : part[0], 0));
                k += units;
            }
            i += length;
        }
        if (modified) Apply(text, changes);
    }

    /// <summary>Hugging Face's replace helper: the new characters replace, extra ones are insertions, fewer remove from the last pair.</summary>
    private static void Replace(List<(int CodePoint, int Change)> changes, ReadOnlySpan<char> oldPart, string newPart)
    {
        int oldCount = Utf16.CountCodePoints(oldPart), newCount = Utf16.CountCodePoints(newPart);
        for (int j = 0; j < newPart.Length; j++)
        {
            int cp = newPart[j];
            if (char.IsHighSurrogate(newPart[j]) && j + 1 < newPart.Length) cp = char.ConvertToUtf32(newPart[j], newPart[++j]);
            changes.Add((cp, 0));
        }
        int diff = newCount - oldCount;
        if (diff > 0)
        {
            for (int k = changes.Count - 1, left = diff; k >= 0 && left > 0; k--, left--)
                changes[k] = (changes[k].CodePoint, 1);
        }
        else if (diff < 0 && changes.Count > 0)
        {
            var last = changes[^1];
            changes[^1] = (last.CodePoint, last.Change + diff);
        }
    }

    private static int Utf8Length(ReadOnlySpan<char> s) => System.Text.Encoding.UTF8.GetByteCount(s);

    /// <summary>The length of the extended grapheme cluster at the start (ASCII text without CR LF is one character each).</summary>
    private static int GraphemeLength(ReadOnlySpan<char> s)
    {
        if (s.Length == 1) return 1;
        char c = s[0], next = s[1];
        if (c < 0x80 && next < 0x80 && !(c == '\r' && next == '\n')) return 1;
        return StringInfo.GetNextTextElementLength(s);
    }
}

internal static partial class UnicodeNormalization
{
    private static readonly Lazy<HashSet<int>> s_marks = new(() =>
    {
        var set = new HashSet<int>();
        var r = CombiningMarkRanges;
        for (int i = 0; i < r.Length; i += 2)
            for (int cp = r[i]; cp <= r[i + 1]; cp++) set.Add(cp);
        return set;
    });

    /// <summary>A combining mark (General_Category M) in Hugging Face's Unicode 9.0 data.</summary>
    public static bool IsCombiningMark(int codePoint) => codePoint >= 0x300 && s_marks.Value.Contains(codePoint);
}
