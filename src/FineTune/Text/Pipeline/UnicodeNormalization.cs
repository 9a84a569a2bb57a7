namespace FineTune.Text.Pipeline;

/// <summary>
/// NFD, NFKD, NFC and NFKC as Hugging Face computes them (the unicode-normalization-alignments crate, Unicode 9.0
/// data from <c>UnicodeNormalization.g.cs</c>), as a stream of (character, change) pairs for
/// <see cref="TransformBuilder"/>: a decomposed character's first part replaces it and the others are insertions;
/// canonical reordering moves the pairs, not the ranges; a composition adds the changes of its parts less one.
/// </summary>
internal static partial class UnicodeNormalization
{
    public enum Form { Nfd, Nfkd, Nfc, Nfkc }

    private static readonly Lazy<Tables> s_tables = new(() => new Tables());

    private sealed class Tables
    {
        public readonly Dictionary<int, int[]> Canonical = Read(CanonicalData);
        public readonly Dictionary<int, int[]> Compatibility = Read(CompatibilityData);
        public readonly Dictionary<int, byte> Classes = new();
        public readonly Dictionary<long, int> Compositions = new();

        public Tables()
        {
            var ccc = CombiningClassData;
            for (int i = 0; i < ccc.Length; i += 2) Classes[ccc[i]] = (byte)ccc[i + 1];
            var comp = CompositionData;
            for (int i = 0; i < comp.Length; i += 3) Compositions[((long)comp[i] << 21) | (uint)comp[i + 1]] = comp[i + 2];
        }

        private static Dictionary<int, int[]> Read(ReadOnlySpan<int> data)
        {
            var map = new Dictionary<int, int[]>();
            for (int i = 0; i < data.Length;)
            {
                int cp = data[i], n = data[i + 1];
                map[cp] = data.Slice(i + 2, n).ToArray();
                i += 2 + n;
            }
            return map;
        }
    }

    public static int CombiningClass(int codePoint) =>
        codePoint < 0x300 ? 0 : s_tables.Value.Classes.GetValueOrDefault(codePoint);

    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    /// <summary>True when no form can change the text: it has only characters below U+00A0 (no decompositions, no marks).</summary>
    public static bool IsStable(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
            if (c >= 0xA0) return false;
        return true;
    }

    /// <summary>Appends the (character, change) pairs of <paramref name="form"/> over <paramref name="text"/>.</summary>
    public static void Normalize(ReadOnlySpan<char> text, Form form, List<(int CodePoint, int Change)> output)
    {
        var tables = s_tables.Value;
        bool compatibility = form is Form.Nfkd or Form.Nfkc;
        var decomposed = form is Form.Nfd or Form.Nfkd ? output : new List<(int, int)>(text.Length + 8);
        int pending = decomposed.Count; // start of the run of characters not yet reordered
        for (int i = 0; i < text.Length;)
        {
            int cp = ReadCodePoint(text, ref i);
            bool first = true;
            if (cp >= SBase && cp < SBase + SCount)
            {
                int s = cp - SBase;
                Push(LBase + s / NCount);
                Push(VBase + s % NCount / TCount);
                if (s % TCount != 0) Push(TBase + s % TCount);
            }
            else if ((compatibility ? tables.Compatibility : tables.Canonical).TryGetValue(cp, out var parts))
            {
                foreach (var p in parts) Push(p);
            }
            else Push(cp);

            void Push(int d)
            {
                if (CombiningClass(d) == 0)
                {
                    SortRun(decomposed, pending);
                    pending = decomposed.Count;
                }
                decomposed.Add((d, first ? 0 : 1));
                first = false;
            }
        }
        SortRun(decomposed, pending);
        if (form is Form.Nfd or Form.Nfkd) return;
        Recompose(decomposed, output, tables);
    }

    private static int ReadCodePoint(ReadOnlySpan<char> text, ref int i)
    {
        char c = text[i];
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            i += 2;
            return char.ConvertToUtf32(c, text[i - 1]);
        }
        i++;
        return c;
    }

    /// <summary>Stable sort by combining class of the entries from <paramref name="from"/> (a starter, if any, has class 0 and stays first).</summary>
    private static void SortRun(List<(int CodePoint, int Change)> list, int from)
    {
        for (int i = from + 1; i < list.Count; i++)
        {
            var item = list[i];
            int cls = CombiningClass(item.CodePoint);
            int j = i - 1;
            while (j >= from && CombiningClass(list[j].CodePoint) > cls)
            {
                list[j + 1] = list[j];
                j--;
            }
            list[j + 1] = item;
        }
    }

    private static int? Compose(int a, int b, Tables tables)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
            return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
            return a + (b - TBase);
        return tables.Compositions.TryGetValue(((long)a << 21) | (uint)b, out var c) ? c : null;
    }

    /// <summary>Canonical composition with the crate's bookkeeping of changes (a starter, the marks it could not absorb, then the next starter).</summary>
    private static void Recompose(List<(int CodePoint, int Change)> input, List<(int CodePoint, int Change)> output, Tables tables)
    {
        (int CodePoint, int Change)? composee = null;
        int? lastClass = null;
        var buffer = new List<(int, int)>();
        foreach (var (ch, change) in input)
        {
            int cls = CombiningClass(ch);
            if (composee is not { } k)
            {
                if (cls != 0) output.Add((ch, change));
                else composee = (ch, change);
                continue;
            }
            if (lastClass is not int last)
            {
                if (Compose(k.CodePoint, ch, tables) is int r)
                {
                    composee = (r, k.Change + change - 1);
                    continue;
                }
                if (cls == 0)
                {
                    output.Add(k);
                    composee = (ch, change);
                    continue;
                }
                buffer.Add((ch, change));
                lastClass = cls;
                continue;
            }
            if (last >= cls)
            {
                if (cls == 0)
                {
                    output.Add(k);
                    output.AddRange(buffer);
                    buffer.Clear();
                    composee = (ch, change);
                    lastClass = null;
                    continue;
                }
                buffer.Add((ch, change));
                lastClass = cls;
                continue;
            }
            if (Compose(k.CodePoint, ch, tables) is int r2)
            {
                composee = (r2, k.Change + change - 1);
                continue;
            }
            buffer.Add((ch, change));
            lastClass = cls;
        }
        if (composee is { } c) output.Add(c);
        output.AddRange(buffer);
    }
}
