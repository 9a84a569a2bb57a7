using FineTune.Data;

namespace FineTune.Tasks;

/// <summary>
/// The sentences of a token-classification run, in IOB2, with the tag list, how the files were read and the invalid
/// sentences skipped per file (with <see cref="DatasetOptions.SkipInvalidRows"/>).
/// </summary>
internal sealed record TokenClassificationData(
    IReadOnlyList<TokenExample> Train,
    IReadOnlyList<TokenExample> Validation,
    IReadOnlyList<TokenExample> Test,
    TokenLabelMap Labels,
    TagScheme SourceScheme,
    bool SchemeDetected)
{
    /// <summary>Per file read: the sentences skipped as invalid and the first reasons (empty counts when strict).</summary>
    public IReadOnlyList<SkippedRows> Skipped { get; init; } = [];

    /// <summary>
    /// Reads the files of a run: CoNLL columns or JSONL (see <see cref="ConllReader"/>). The tag scheme is the given one
    /// or the one detected in the training file, and is used for every file; tags are converted to IOB2. The tag list
    /// comes from every sentence of the training file (so neither a split nor DatasetOptions.MaxTrainExamples changes it); a
    /// validation or test tag outside it is an error naming the file and line. Without a validation or test file, a
    /// seeded random fraction of the training sentences is held out. <paramref name="skipInvalidRows"/> skips the
    /// sentences with an invalid line (another number of columns, a tag that fits no scheme, the file's or the tag
    /// list) instead of stopping, and counts them in <see cref="Skipped"/>.
    /// </summary>
    public static TokenClassificationData Load(DatasetFiles files, int? tagColumn, TagScheme? scheme,
        double validationFraction = 0, double testFraction = 0, int seed = 42, int? maxTrainExamples = null, bool skipInvalidRows = false)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Validation is not null && validationFraction > 0)
            throw new OptionException("DatasetOptions.ValidationFraction", "a validation file and a validation fraction were both given; use one");
        if (files.Test is not null && testFraction > 0)
            throw new OptionException("DatasetOptions.TestFraction", "a test file and a test fraction were both given; use one");
        var read = new ConllReadOptions { TagColumn = tagColumn, SourceScheme = scheme, TargetScheme = TagScheme.IOB2, SkipInvalidRows = skipInvalidRows };
        var trainSet = ConllReader.Load(files.Train, read);
        if (trainSet.Count == 0)
            throw new DataException(trainSet.Skipped.Count > 0 ? $"the training file has no valid sentences ({trainSet.Skipped.Count} skipped)" : "the training file has no sentences", files.Train);
        var labels = TokenLabelMap.FromExamples(trainSet.Examples, TagScheme.IOB2);
        read = read with { SourceScheme = trainSet.SourceScheme, Labels = labels };
        var skipped = new List<SkippedRows> { trainSet.Skipped };
        IReadOnlyList<TokenExample> ReadFile(string path)
        {
            var set = ConllReader.Load(path, read);
            skipped.Add(set.Skipped);
            return set.Examples;
        }
        IReadOnlyList<TokenExample> train = trainSet.Examples;
        IReadOnlyList<TokenExample> validation = files.Validation is null ? [] : ReadFile(files.Validation);
        IReadOnlyList<TokenExample> test = files.Test is null ? [] : ReadFile(files.Test);
        if (validationFraction > 0 || testFraction > 0)
        {
            var (kept, heldValidation, heldTest) = Split(train, validationFraction, testFraction, seed);
            train = kept;
            if (validationFraction > 0) validation = heldValidation;
            if (testFraction > 0) test = heldTest;
        }
        if (maxTrainExamples is { } max && max < train.Count) train = train.Take(max).ToArray();
        return new TokenClassificationData(train, validation, test, labels, trainSet.SourceScheme, trainSet.SchemeDetected) { Skipped = skipped };
    }

    /// <summary>Holds out ceil(fraction × N) sentences each for validation and test, chosen by a seeded permutation; file order kept.</summary>
    internal static (TokenExample[] Train, TokenExample[] Validation, TokenExample[] Test) Split(IReadOnlyList<TokenExample> examples,
        double validationFraction, double testFraction, int seed)
    {
        foreach (var (fraction, option) in new[] { (validationFraction, "DatasetOptions.ValidationFraction"), (testFraction, "DatasetOptions.TestFraction") })
            if (!(fraction is >= 0 and < 1)) throw new OptionException(option, $"must be at least 0 and below 1, got {fraction}");
        int n = examples.Count;
        int validationSize = validationFraction > 0 ? (int)Math.Ceiling(n * validationFraction - 1e-9) : 0;
        int testSize = testFraction > 0 ? (int)Math.Ceiling(n * testFraction - 1e-9) : 0;
        if (validationSize + testSize >= n)
            throw new FineTuneException($"{n} sentences are too few to hold out {validationSize} for validation and {testSize} for test and keep any for training");
        var part = new byte[n];
        var order = new SeededRandom((ulong)(uint)seed).Permutation(n);
        for (int i = 0; i < validationSize + testSize; i++) part[order[i]] = (byte)(i < validationSize ? 1 : 2);
        var parts = Enumerable.Range(0, 3).Select(k => Enumerable.Range(0, n).Where(i => part[i] == k).Select(i => examples[i]).ToArray()).ToArray();
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>Entities per type in a split (what the summary shows as its label counts).</summary>
    public static IReadOnlyDictionary<string, int> EntityCounts(IEnumerable<TokenExample> examples)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in examples)
            foreach (var entity in EntityChunker.Extract(e.Tags))
                counts[entity.Type] = counts.GetValueOrDefault(entity.Type) + 1;
        return counts;
    }
}
