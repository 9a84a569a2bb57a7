using FineTune.Data;

namespace FineTune.Tasks;

/// <summary>The source/target pairs of a sequence-to-sequence run by split, and the invalid rows skipped per file.</summary>
internal sealed record Seq2SeqData(IReadOnlyList<TextPair> Train, IReadOnlyList<TextPair> Validation, IReadOnlyList<TextPair> Test,
    IReadOnlyList<SkippedRows> Skipped)
{
    /// <summary>
    /// Reads the run's pairs: a parallel pair of plain-text files (<see cref="Seq2SeqOptions.SourceFile"/> and
    /// <see cref="Seq2SeqOptions.TargetFile"/>; a validation or test file is then the source side of a held-out pair,
    /// whose target is found by <see cref="ParallelText.Counterpart"/>), or the source and target columns of the
    /// data files. Without a validation or test file, that part is split off the training pairs by the dataset's
    /// fractions and seed.
    /// </summary>
    public static Seq2SeqData Load(DatasetFiles files, DatasetOptions dataset, Seq2SeqOptions options)
    {
        if (files.Validation is not null && dataset.ValidationFraction > 0)
            throw new OptionException("DatasetOptions.ValidationFraction", "a validation file and a validation fraction were both given; use one");
        if (files.Test is not null && dataset.TestFraction > 0)
            throw new OptionException("DatasetOptions.TestFraction", "a test file and a test fraction were both given; use one");
        var skipped = new List<SkippedRows>();
        Func<string, List<TextPair>> read;
        string trainFile;
        if (options.SourceFile is not null || options.TargetFile is not null)
        {
            if (options.SourceFile is null || options.TargetFile is null)
                throw new OptionException(options.SourceFile is null ? "Seq2SeqOptions.SourceFile" : "Seq2SeqOptions.TargetFile",
                    "parallel text needs both the source file and the target file");
            if (!string.IsNullOrEmpty(files.Train))
                throw new OptionException("Seq2SeqOptions.SourceFile", $"give either a training file ({files.Train}) or a pair of parallel files, not both");
            trainFile = options.SourceFile;
            read = source =>
            {
                var target = source == options.SourceFile ? options.TargetFile
                    : ParallelText.Counterpart(source, options.SourceFile, options.TargetFile) is { } found && File.Exists(found) ? found
                    : throw new DataException($"cannot find the target side of this source file: expected {ParallelText.Counterpart(source, options.SourceFile, options.TargetFile) ?? "a name ending as " + Path.GetFileName(options.SourceFile) + " ends"}, " +
                        $"named after it as {Path.GetFileName(options.TargetFile)} is named after {Path.GetFileName(options.SourceFile)}", source);
                var (pairs, skip) = ParallelText.ReadFiles(source, target, dataset.SkipInvalidRows, dataset.ReportedInvalidRows);
                skipped.Add(skip);
                return pairs;
            };
        }
        else
        {
            if (string.IsNullOrEmpty(files.Train))
                throw new OptionException("DatasetFiles.Train", "no training data: give a training file, or a source and a target file (Seq2SeqOptions.SourceFile, Seq2SeqOptions.TargetFile)");
            trainFile = files.Train;
            read = file =>
            {
                var (pairs, skip) = ParallelText.ReadColumns(file, dataset.DataFile, options.SourceColumn, options.TargetColumn, dataset.SkipInvalidRows,
                    dataset.ReportedInvalidRows);
                skipped.Add(skip);
                return pairs;
            };
        }
        var train = read(trainFile);
        if (train.Count == 0) throw new DataException("the training data has no pairs", trainFile);
        IReadOnlyList<TextPair> validation = files.Validation is null ? [] : read(files.Validation);
        IReadOnlyList<TextPair> test = files.Test is null ? [] : read(files.Test);
        if (dataset.ValidationFraction > 0 || dataset.TestFraction > 0)
        {
            try
            {
                var (t, v, s) = DatasetSplitter.SplitItems(train, dataset.ValidationFraction, dataset.TestFraction, dataset.Seed);
                train = t;
                if (dataset.ValidationFraction > 0) validation = v;
                if (dataset.TestFraction > 0) test = s;
            }
            catch (ArgumentException e)
            {
                throw new OptionException("DatasetOptions.ValidationFraction", e.Message, e);
            }
        }
        if (dataset.MaxTrainExamples is { } max && max < train.Count) train = train.Take(max).ToList();
        return new Seq2SeqData(train, validation, test, skipped);
    }
}
