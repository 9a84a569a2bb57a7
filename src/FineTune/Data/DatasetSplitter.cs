namespace FineTune.Data;

/// <summary>Train, validation and test examples; each keeps the order of the file it came from.</summary>
internal sealed record DatasetSplit(IReadOnlyList<TextExample> Train, IReadOnlyList<TextExample> Validation, IReadOnlyList<TextExample> Test);

/// <summary>
/// Splits examples into train, validation and test by fractions, deterministically for a seed.
/// <para>
/// Sizes: validation holds ceil(fraction × N) examples and test likewise (so any fraction above 0 holds out at least
/// one), train the rest, which must not be empty. Stratified (single-label classification): validation takes from each
/// class its share of the validation size, test then takes from each class its share of what remains; shares are
/// rounded by largest remainder (ties to the lower class id) so the sizes add up exactly. Within a class, and for an
/// unstratified split over all examples, the examples taken are those first in a seeded random permutation.
/// Every split keeps file order.
/// </para>
/// </summary>
internal static class DatasetSplitter
{
    public static DatasetSplit Split(IReadOnlyList<TextExample> examples, double validationFraction, double testFraction, int seed, bool stratify = true)
    {
        bool stratified = stratify && examples.Count > 0 && examples.All(e => e.Label is ClassLabel);
        var (train, validation, test) = SplitParts(examples, validationFraction, testFraction, seed,
            stratified ? (sizes, random, part) => AssignStratified(examples, sizes.Validation, sizes.Test, random, part) : null);
        return new DatasetSplit(train, validation, test);
    }

    /// <summary>An unstratified split of any items (parallel sentence pairs, …), by the same rule and seed as <see cref="Split(IReadOnlyList{TextExample}, double, double, int, bool)"/>.</summary>
    public static (List<T> Train, List<T> Validation, List<T> Test) SplitItems<T>(IReadOnlyList<T> items, double validationFraction, double testFraction, int seed) =>
        SplitParts(items, validationFraction, testFraction, seed, null);

    private static (List<T> Train, List<T> Validation, List<T> Test) SplitParts<T>(IReadOnlyList<T> items, double validationFraction, double testFraction, int seed,
        Action<(int Validation, int Test), SeededRandom, byte[]>? assignStratified)
    {
        CheckFraction(validationFraction, nameof(validationFraction));
        CheckFraction(testFraction, nameof(testFraction));
        if (validationFraction + testFraction >= 1)
            throw new ArgumentException($"validation ({validationFraction}) and test ({testFraction}) fractions leave nothing to train on");

        var n = items.Count;
        var validationSize = HeldOutSize(n, validationFraction);
        var testSize = HeldOutSize(n, testFraction);
        if (validationSize + testSize >= n)
            throw new OptionException(validationSize > 0 ? "DatasetOptions.ValidationFraction" : "DatasetOptions.TestFraction",
                $"{n} examples are too few to hold out {validationSize} for validation and {testSize} for test and keep any for training");

        var part = new byte[n]; // 0 train, 1 validation, 2 test
        var random = new SeededRandom((ulong)(uint)seed);
        if (assignStratified is not null)
            assignStratified((validationSize, testSize), random, part);
        else
        {
            var order = random.Permutation(n);
            for (var i = 0; i < validationSize; i++) part[order[i]] = 1;
            for (var i = validationSize; i < validationSize + testSize; i++) part[order[i]] = 2;
        }

        var train = new List<T>(n - validationSize - testSize);
        var validation = new List<T>(validationSize);
        var test = new List<T>(testSize);
        for (var i = 0; i < n; i++)
            (part[i] switch { 1 => validation, 2 => test, _ => train }).Add(items[i]);
        return (train, validation, test);
    }

    private static void CheckFraction(double fraction, string name)
    {
        if (!(fraction >= 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(name, fraction, "a split fraction must be at least 0 and below 1");
    }

    private static int HeldOutSize(int n, double fraction) =>
        fraction <= 0 ? 0 : (int)Math.Ceiling(n * fraction - 1e-9);

    private static void AssignStratified(IReadOnlyList<TextExample> examples, int validationSize, int testSize, SeededRandom random, byte[] part)
    {
        var classCount = examples.Max(e => ((ClassLabel)e.Label!).Id) + 1;
        var members = new List<int>[classCount];
        for (var c = 0; c < classCount; c++) members[c] = [];
        for (var i = 0; i < examples.Count; i++) members[((ClassLabel)examples[i].Label!).Id].Add(i);

        var shuffled = members.Select(m =>
        {
            var a = m.ToArray();
            random.Shuffle(a.AsSpan());
            return a;
        }).ToArray();

        var available = members.Select(m => m.Count).ToArray();
        var taken = new int[classCount];
        foreach (var (size, mark) in new[] { (validationSize, (byte)1), (testSize, (byte)2) })
        {
            var quota = Apportion(size, available);
            for (var c = 0; c < classCount; c++)
            {
                for (var k = 0; k < quota[c]; k++) part[shuffled[c][taken[c] + k]] = mark;
                taken[c] += quota[c];
                available[c] -= quota[c];
            }
        }
    }

    /// <summary>Shares of <paramref name="size"/> proportional to <paramref name="counts"/>, by largest remainder.</summary>
    internal static int[] Apportion(int size, IReadOnlyList<int> counts)
    {
        long total = counts.Sum();
        var quota = new int[counts.Count];
        if (size == 0 || total == 0) return quota;
        var remainders = new long[counts.Count];
        var assigned = 0;
        for (var c = 0; c < counts.Count; c++)
        {
            var exact = (long)size * counts[c];
            quota[c] = (int)(exact / total);
            remainders[c] = exact % total;
            assigned += quota[c];
        }
        foreach (var c in Enumerable.Range(0, counts.Count).OrderByDescending(c => remainders[c]).ThenBy(c => c).Take(size - assigned))
            quota[c]++;
        return quota;
    }
}
