using System.Text;

namespace FineTune.Text.Pipeline;

/// <summary>
/// A piece of the input as Hugging Face's <c>NormalizedString</c> keeps it: the normalized UTF-16 text and, for every
/// code unit, the range of the original text it came from (absolute UTF-16 indices; both units of a surrogate pair
/// share their character's range). Normalizers rewrite it with <see cref="TransformBuilder"/>, which follows Hugging
/// Face's alignment rules exactly: a replacing character takes the range of the character it replaces, an inserted one
/// the range of the character read before it, removed characters vanish. Pre-tokenizers cut it into slices.
/// </summary>
internal sealed class NormalizedText
{
    public char[] Chars;
    public int[] Starts;
    public int[] Ends;
    public int Length;

    /// <summary>Where this piece's original text starts (Hugging Face's original_shift), absolute.</summary>
    public int OriginalStart;

    /// <summary>Where this piece's original text ends, absolute.</summary>
    public int OriginalEnd;

    public NormalizedText(int capacity)
    {
        Chars = new char[Math.Max(4, capacity)];
        Starts = new int[Chars.Length];
        Ends = new int[Chars.Length];
    }

    /// <summary>The original text [<paramref name="start"/>, <paramref name="end"/>), each character aligned to itself; a lone surrogate reads as U+FFFD.</summary>
    public static NormalizedText FromOriginal(string text, int start, int end)
    {
        var n = new NormalizedText(end - start) { OriginalStart = start, OriginalEnd = end };
        for (int i = start; i < end; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < end && char.IsLowSurrogate(text[i + 1]))
            {
                n.Append(c, i, i + 2);
                n.Append(text[i + 1], i, i + 2);
                i++;
            }
            else n.Append(char.IsSurrogate(c) ? '\uFFFD' : c, i, i + 1);
        }
        return n;
    }

    public ReadOnlySpan<char> Span => Chars.AsSpan(0, Length);

    public bool IsEmpty => Length == 0;

    public override string ToString() => new(Span);

    public void Append(char c, int start, int end)
    {
        if (Length == Chars.Length) Grow(Length + 1);
        Chars[Length] = c;
        Starts[Length] = start;
        Ends[Length] = end;
        Length++;
    }

    public void AppendCodePoint(int codePoint, int start, int end)
    {
        if (codePoint < 0x10000)
        {
            Append((char)codePoint, start, end);
            return;
        }
        codePoint -= 0x10000;
        Append((char)(0xD800 + (codePoint >> 10)), start, end);
        Append((char)(0xDC00 + (codePoint & 0x3FF)), start, end);
    }

    private void Grow(int needed)
    {
        int n = Math.Max(needed, Chars.Length * 2);
        Array.Resize(ref Chars, n);
        Array.Resize(ref Starts, n);
        Array.Resize(ref Ends, n);
    }

    /// <summary>The code point at UTF-16 index <paramref name="i"/> and how many units it takes.</summary>
    public int CodePointAt(int i, out int units) => Utf16.CodePointAt(Span, i, out units);

    /// <summary>The original range of normalized units [<paramref name="start"/>, <paramref name="end"/>): the start of the first, the end of the last.</summary>
    public (int Start, int End) OriginalRange(int start, int end) =>
        start >= end ? (OriginalStart, OriginalStart) : (Starts[start], Ends[end - 1]);

    /// <summary>
    /// Units [<paramref name="start"/>, <paramref name="end"/>) as a new piece (Hugging Face's slice): its original
    /// range is that of the units; an empty slice is null.
    /// </summary>
    public NormalizedText? Slice(int start, int end)
    {
        if (end <= start) return null;
        var n = new NormalizedText(end - start);
        Array.Copy(Chars, start, n.Chars, 0, end - start);
        Array.Copy(Starts, start, n.Starts, 0, end - start);
        Array.Copy(Ends, start, n.Ends, 0, end - start);
        n.Length = end - start;
        n.OriginalStart = Starts[start];
        n.OriginalEnd = Ends[end - 1];
        return n;
    }

    /// <summary>Replaces the content with <paramref name="other"/>'s (after a transformation).</summary>
    public void SwapWith(NormalizedText other)
    {
        (Chars, other.Chars) = (other.Chars, Chars);
        (Starts, other.Starts) = (other.Starts, Starts);
        (Ends, other.Ends) = (other.Ends, Ends);
        (Length, other.Length) = (other.Length, Length);
    }

    /// <summary>Puts <paramref name="prefix"/> in front, every character with the first character's range (Hugging Face's prepend); nothing when empty.</summary>
    public void Prepend(string prefix)
    {
        if (Length == 0 || prefix.Length == 0) return;
        int s = Starts[0], e = Ends[0];
        if (Length + prefix.Length > Chars.Length) Grow(Length + prefix.Length);
        Array.Copy(Chars, 0, Chars, prefix.Length, Length);
        Array.Copy(Starts, 0, Starts, prefix.Length, Length);
        Array.Copy(Ends, 0, Ends, prefix.Length, Length);
        for (int i = 0; i < prefix.Length; i++)
        {
            Chars[i] = prefix[i];
            Starts[i] = s;
            Ends[i] = e;
        }
        Length += prefix.Length;
    }

    /// <summary>Whether the text starts with <paramref name="value"/>.</summary>
    public bool StartsWith(string value) => Span.StartsWith(value, StringComparison.Ordinal);

    public string Describe()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < Length; i++) sb.Append($"{Chars[i]}[{Starts[i]},{Ends[i]}]");
        return sb.ToString();
    }
}

/// <summary>
/// Rewrites a <see cref="NormalizedText"/> as Hugging Face's <c>transform</c> does, from a stream of (character,
/// change) pairs: change 0 replaces the next character read, 1 inserts (with the range of the character read before,
/// or an empty range at the start), -N replaces the next character and removes the N after it. Characters not read by
/// the end are dropped.
/// </summary>
internal struct TransformBuilder
{
    private readonly NormalizedText _source;
    private readonly NormalizedText _target;
    private int _read;

    public TransformBuilder(NormalizedText source, NormalizedText scratch, int initialRemoved = 0)
    {
        _source = source;
        _target = scratch;
        _target.Length = 0;
        _read = 0;
        Skip(initialRemoved);
    }

    private void Skip(int codePoints)
    {
        for (int k = 0; k < codePoints && _read < _source.Length; k++)
            _read += char.IsHighSurrogate(_source.Chars[_read]) && _read + 1 < _source.Length && char.IsLowSurrogate(_source.Chars[_read + 1]) ? 2 : 1;
    }

    public void Emit(int codePoint, int change)
    {
        int start, end;
        if (change > 0)
        {
            if (_read >= 1) (start, end) = (_source.Starts[_read - 1], _source.Ends[_read - 1]);
            else (start, end) = (_source.OriginalStart, _source.OriginalStart);
        }
        else
        {
            if (_read < _source.Length) (start, end) = (_source.Starts[_read], _source.Ends[_read]);
            else (start, end) = _source.Length > 0 ? (_source.Starts[_source.Length - 1], _source.Ends[_source.Length - 1]) : (_source.OriginalStart, _source.OriginalStart);
            Skip(1);
            if (change < 0) Skip(-change);
        }
        _target.AppendCodePoint(codePoint, start, end);
    }

    /// <summary>Moves the result into the source.</summary>
    public readonly void Commit() => _source.SwapWith(_target);
}
