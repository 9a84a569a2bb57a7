using System.Globalization;
using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Reports;
using FineTune.Training;
using TorchSharp;

namespace FineTune.Tasks;

/// <summary>The questions of a QA run by split, with the rows skipped per file and the titles of each split.</summary>
internal sealed record QuestionAnsweringData(
    IReadOnlyList<QaExample> Train,
    IReadOnlyList<QaExample> Validation,
    IReadOnlyList<QaExample> Test,
    IReadOnlyList<SkippedRows> Skipped)
{
    /// <summary>
    /// Reads SQuAD JSON or JSONL files (see <see cref="SquadReader"/>). Without a validation or test file, that part is
    /// split off the training file by article title (<see cref="QaSplitter.ByTitle"/>: the last titles in file order),
    /// so no article is in two parts. <paramref name="skipMismatched"/> skips questions whose answer does not match the
    /// context at its answer_start instead of stopping.
    /// </summary>
    public static QuestionAnsweringData Load(DatasetFiles files, double validationFraction = 0, double testFraction = 0,
        bool skipMismatched = false, int? maxTrainExamples = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Validation is not null && validationFraction > 0)
            throw new OptionException("DatasetOptions.ValidationFraction", "a validation file and a validation fraction were both given; use one");
        if (files.Test is not null && testFraction > 0)
            throw new OptionException("DatasetOptions.TestFraction", "a test file and a test fraction were both given; use one");
        var read = new SquadReadOptions { SkipMismatchedAnswers = skipMismatched };
        var skipped = new List<SkippedRows>();
        IReadOnlyList<QaExample> ReadFile(string path)
        {
            var result = SquadReader.Read(path, read);
            skipped.Add(new SkippedRows(path, result.SkippedCount, result.Skipped.Take(5).ToList()));
            return result.Examples;
        }
        var train = ReadFile(files.Train);
        if (train.Count == 0) throw new DataException("the training file has no questions", files.Train);
        var validation = files.Validation is null ? [] : ReadFile(files.Validation);
        var test = files.Test is null ? [] : ReadFile(files.Test);
        if (validationFraction > 0 || testFraction > 0)
        {
            QaSplit split;
            try
            {
                split = QaSplitter.ByTitle(train, testFraction, validationFraction);
            }
            catch (FineTuneException e) when (e is not OptionException)
            {
                throw new OptionException("DatasetOptions.ValidationFraction", e.Message, e);
            }
            train = split.Train;
            if (validationFraction > 0) validation = split.Validation;
            if (testFraction > 0) test = split.Test;
        }
        if (maxTrainExamples is { } max && max < train.Count) train = train.Take(max).ToArray();
        return new QuestionAnsweringData(train, validation, test, skipped);
    }

    public static int Titles(IEnumerable<QaExample> examples) => examples.Select(e => e.Title).Distinct(StringComparer.Ordinal).Count();
}
