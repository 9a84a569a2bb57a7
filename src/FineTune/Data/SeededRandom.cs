namespace FineTune.Data;

/// <summary>
/// A small, fast pseudo-random generator (SplitMix64) whose sequence for a seed is fixed by this code, not by the
/// runtime, so splits and batch orders stay the same across .NET versions and machines.
/// </summary>
internal sealed class SeededRandom
{
    private ulong _state;

    public SeededRandom(ulong seed) => _state = seed;

    /// <summary>A generator for one stream (e.g. one epoch) of a seed: different streams are independent.</summary>
    public static SeededRandom ForStream(long seed, long stream) =>
        new(Mix(unchecked((ulong)seed) ^ Mix(unchecked((ulong)stream) + 0x632BE59BD9B4E019UL)));

    public ulong NextUInt64()
    {
        _state = unchecked(_state + 0x9E3779B97F4A7C15UL);
        return Mix(_state);
    }

    /// <summary>A uniform integer in [0, bound), without modulo bias (Lemire's multiply-and-reject).</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound), bound, "must be positive");
        var range = (ulong)bound;
        var product = (UInt128)NextUInt64() * range;
        var low = (ulong)product;
        if (low < range)
        {
            var threshold = unchecked(0UL - range) % range;
            while (low < threshold)
            {
                product = (UInt128)NextUInt64() * range;
                low = (ulong)product;
            }
        }
        return (int)(product >> 64);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>A random permutation of 0 … count-1.</summary>
    public int[] Permutation(int count)
    {
        var result = new int[count];
        for (var i = 0; i < count; i++) result[i] = i;
        Shuffle(result.AsSpan());
        return result;
    }

    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
