namespace FineTune.Analysis;

/// <summary>
/// Near-duplicate texts by the Jaccard similarity of their sets of character 5-grams ("shingles"), found with MinHash
/// and locality-sensitive hashing (Broder 1997; Leskovec, Rajaraman and Ullman, Mining of Massive Datasets, ch. 3).
/// </summary>
/// <remarks>
/// <para>
/// Each text's shingles are hashed to 64 bits; its signature holds, for each of <see cref="Hashes"/> hash functions
/// h(x) = (a·x + b) mod (2^61 − 1), the smallest value over its shingles. Two texts agree on one signature entry
/// with probability equal to their Jaccard similarity J. The signature is cut into <see cref="Bands"/> bands of
/// <see cref="Rows"/> entries; texts that agree on a whole band become a candidate pair, which happens with
/// probability 1 − (1 − J^r)^b: with b = 20 and r = 6, 99.8% at J = 0.8 and more above it. Every candidate is then
/// checked by its exact Jaccard similarity, so a reported pair is never a false positive; a pair at or above the
/// threshold is missed with probability (1 − J^6)^20 (0.23% at J = 0.8, 0.003% at J = 0.9).
/// </para>
/// <para>A text shorter than a shingle is one shingle: itself.</para>
/// </remarks>
internal sealed class NearDuplicates
{
    public const int ShingleLength = 5;
    public const int Bands = 20;
    public const int Rows = 6;
    public const int Hashes = Bands * Rows;
    private const ulong Prime = (1UL << 61) - 1;

    private readonly ulong[] _a = new ulong[Hashes];
    private readonly ulong[] _b = new ulong[Hashes];

    public NearDuplicates(int seed = 1)
    {
        var rng = new Random(seed);
        for (int i = 0; i < Hashes; i++)
        {
            _a[i] = 1 + (ulong)rng.NextInt64(1, (long)Prime - 1);
            _b[i] = (ulong)rng.NextInt64(0, (long)Prime - 1);
        }
    }

    /// <summary>The distinct 64-bit hashes of a text's character 5-grams, sorted.</summary>
    public static ulong[] Shingles(string text)
    {
        if (text.Length <= ShingleLength) return [Hash(text.AsSpan())];
        var set = new HashSet<ulong>();
        for (int i = 0; i + ShingleLength <= text.Length; i++) set.Add(Hash(text.AsSpan(i, ShingleLength)));
        var sorted = set.ToArray();
        Array.Sort(sorted);
        return sorted;
    }

    /// <summary>|A ∩ B| / |A ∪ B| of two sorted sets.</summary>
    public static double Jaccard(ulong[] a, ulong[] b)
    {
        int i = 0, j = 0, both = 0;
        while (i < a.Length && j < b.Length)
        {
            if (a[i] == b[j]) { both++; i++; j++; }
            else if (a[i] < b[j]) i++;
            else j++;
        }
        return (double)both / (a.Length + b.Length - both);
    }

    /// <summary>The MinHash signature of a set of shingles.</summary>
    public ulong[] Signature(ulong[] shingles)
    {
        var signature = new ulong[Hashes];
        Array.Fill(signature, ulong.MaxValue);
        foreach (var s in shingles)
        {
            ulong x = s % Prime;
            for (int i = 0; i < Hashes; i++)
            {
                ulong h = MulAddMod(_a[i], x, _b[i]);
                if (h < signature[i]) signature[i] = h;
            }
        }
        return signature;
    }

    /// <summary>
    /// Every pair (i, j), i &lt; j, of <paramref name="shingles"/> whose Jaccard similarity is at least
    /// <paramref name="threshold"/> (found through the LSH bands, then checked exactly), with its similarity;
    /// <paramref name="pairAllowed"/> can leave pairs out before they are checked (texts of the same group, say).
    /// </summary>
    public List<(int A, int B, double Jaccard)> Pairs(IReadOnlyList<ulong[]> shingles, double threshold, Func<int, int, bool>? pairAllowed = null)
    {
        var signatures = new ulong[shingles.Count][];
        Parallel.For(0, shingles.Count, i => signatures[i] = Signature(shingles[i]));
        var candidates = new HashSet<(int, int)>();
        for (int band = 0; band < Bands; band++)
        {
            var buckets = new Dictionary<ulong, List<int>>();
            for (int i = 0; i < signatures.Length; i++)
            {
                ulong key = 14695981039346656037UL;
                for (int r = 0; r < Rows; r++) key = (key ^ signatures[i][band * Rows + r]) * 1099511628211UL;
                if (!buckets.TryGetValue(key, out var members)) buckets[key] = members = [];
                members.Add(i);
            }
            foreach (var members in buckets.Values)
                for (int x = 0; x < members.Count; x++)
                    for (int y = x + 1; y < members.Count; y++)
                        if (pairAllowed is null || pairAllowed(members[x], members[y]))
                            candidates.Add((members[x], members[y]));
        }
        var pairs = new List<(int, int, double)>();
        foreach (var (a, b) in candidates)
        {
            double j = Jaccard(shingles[a], shingles[b]);
            if (j >= threshold) pairs.Add((a, b, j));
        }
        pairs.Sort((p, q) => p.Item1 != q.Item1 ? p.Item1.CompareTo(q.Item1) : p.Item2.CompareTo(q.Item2));
        return pairs;
    }

    /// <summary>(a·x + b) mod (2^61 − 1) without overflow, for a, x, b below the prime.</summary>
    private static ulong MulAddMod(ulong a, ulong x, ulong b)
    {
        UInt128 product = (UInt128)a * x + b;
        ulong low = (ulong)(product & Prime), high = (ulong)(product >> 61);
        ulong sum = low + high;
        while (sum >= Prime) sum -= Prime;
        return sum;
    }

    /// <summary>64-bit FNV-1a of the UTF-16 code units.</summary>
    private static ulong Hash(ReadOnlySpan<char> text)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in text)
        {
            h = (h ^ (byte)c) * 1099511628211UL;
            h = (h ^ (byte)(c >> 8)) * 1099511628211UL;
        }
        return h;
    }
}
