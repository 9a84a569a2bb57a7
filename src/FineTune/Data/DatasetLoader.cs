using System.Globalization;

namespace FineTune.Data;

/// <summary>The examples of every split, the label map (null for regression) and a summary.</summary>
internal sealed record TextDataset(
    IReadOnlyList<TextExample> Train,
    IReadOnlyList<TextExample> Validation,
    IReadOnlyList<TextExample> Test,
    LabelMap? Labels,
    DatasetSummary Summary);

/// <summary>The examples read from one file and the invalid rows skipped there.</summary>
internal sealed record ExampleFile(IReadOnlyList<TextExample> Examples, SkippedRows Skipped);

/// <summary>
/// Reads data files into labelled examples: columns mapped, labels parsed for the task and checked, invalid rows
/// reported with file:row: column, validation and test taken from their own files or split off the training file.
/// </summary>
internal static class DatasetLoader
{
    /// <summary>A dataset from a training file and an optional validation file, read with the default options.</summary>
    public static TextDataset Load(string trainFile, string? validationFile, LabelKind labels, string textColumn, string labelColumn, string? textPairColumn = null) =>
        Load(new DatasetFiles(trainFile, validationFile), new DatasetOptions
        {
            Columns = new ColumnMapping { Text = textColumn, TextPair = textPairColumn, Label = labelColumn },
        }, labels);

    /// <summary>
    /// Reads the files of a dataset whose label cells hold <paramref name="kind"/>, with the label map from the
    /// training file (or <see cref="DatasetOptions.Labels"/>), and splits off validation and test when asked.
    /// </summary>
    /// <param name="task">The task's name, for the summary.</param>
    public static TextDataset Load(DatasetFiles files, DatasetOptions options, LabelKind kind, string task = "")
    {
        CheckOptions(options, kind, requireLabels: true);
        if (files.Validation is not null && options.ValidationFraction > 0)
            throw new OptionException("DatasetOptions.ValidationFraction", "a validation file and a validation fraction were both given; use one");
        if (files.Test is not null && options.TestFraction > 0)
            throw new OptionException("DatasetOptions.TestFraction", "a test file and a test fraction were both given; use one");

        var parser = new ExampleParser(options, kind);
        var trainSkips = new SkipTracker(files.Train, options);
        var raw = parser.ReadRaw(files.Train, trainSkips);
        if (raw.Count == 0)
            throw new DataException("the training file has no usable examples", files.Train);

        var labels = parser.BuildLabelMap(raw, files.Train);
        var everything = parser.Resolve(raw, labels, trainSkips, fromTrainingData: options.Labels is null);
        if (everything.Count == 0)
            throw new DataException("the training file has no usable examples", files.Train);
        var warnings = Learnability.Check(everything, labels, kind, files.Train, options.Columns);

        var skipped = new List<SkippedRows> { trainSkips.Report() };
        IReadOnlyList<TextExample>? validation = null, test = null;
        if (files.Validation is not null)
        {
            var read = ReadFile(parser, files.Validation, labels, options, fromTrainingData: options.Labels is null);
            validation = read.Examples;
            skipped.Add(read.Skipped);
        }
        if (files.Test is not null)
        {
            var read = ReadFile(parser, files.Test, labels, options, fromTrainingData: options.Labels is null);
            test = read.Examples;
            skipped.Add(read.Skipped);
        }

        IReadOnlyList<TextExample> train = everything;
        if (options.ValidationFraction > 0 || options.TestFraction > 0)
        {
            var split = DatasetSplitter.Split(everything, options.ValidationFraction, options.TestFraction, options.Seed,
                options.Stratify && kind == LabelKind.Class);
            train = split.Train;
            validation ??= split.Validation;
            test ??= split.Test;
        }
        if (options.MaxTrainExamples is { } max && max < train.Count)
            train = train.Take(max).ToArray();

        validation ??= [];
        test ??= [];
        var splits = new List<SplitSummary> { SplitSummary.Of("train", train, labels) };
        if (validation.Count > 0 || files.Validation is not null) splits.Add(SplitSummary.Of("validation", validation, labels));
        if (test.Count > 0 || files.Test is not null) splits.Add(SplitSummary.Of("test", test, labels));
        var summary = new DatasetSummary(task, labels, splits, skipped)
        {
            Warnings = [.. warnings, .. new[] { files.Train, files.Validation, files.Test }.OfType<string>().Select(f => TextFileCheck.ReplacedWarning(f, options.DataFile)).OfType<string>()],
        };
        return new TextDataset(train, validation, test, labels, summary);
    }

    /// <summary>
    /// Reads the examples of one file with a known label map: a validation or test file for a trained model, or, with
    /// no label columns in the mapping, unlabelled text to predict on. <paramref name="labels"/> defaults to
    /// <see cref="DatasetOptions.Labels"/>, or the label columns of a multi-label mapping.
    /// </summary>
    public static ExampleFile ReadExamples(string file, DatasetOptions options, LabelKind kind, LabelMap? labels)
    {
        CheckOptions(options, kind, requireLabels: false);
        labels ??= options.Labels;
        if (labels is null && options.Columns.LabelColumns is { Count: > 0 } labelColumns)
            labels = LabelMap.FromOrdered(labelColumns);
        if (options.Columns.HasLabels && labels is null && kind != LabelKind.Number)
            throw new ArgumentException("reading labelled classification examples needs the label map");
        return ReadFile(new ExampleParser(options, kind), file, labels, options, fromTrainingData: false);
    }

    private static ExampleFile ReadFile(ExampleParser parser, string file, LabelMap? labels, DatasetOptions options, bool fromTrainingData)
    {
        var skips = new SkipTracker(file, options);
        var raw = parser.ReadRaw(file, skips);
        var examples = parser.Resolve(raw, labels, skips, fromTrainingData);
        return new ExampleFile(examples, skips.Report());
    }

    private static void CheckOptions(DatasetOptions options, LabelKind kind, bool requireLabels)
    {
        var columns = options.Columns;
        if (string.IsNullOrEmpty(columns.Text))
            throw new OptionException("ColumnMapping.Text", "the text column is not named");
        if (columns.Label is not null && columns.LabelColumns is { Count: > 0 })
            throw new OptionException("ColumnMapping.LabelColumns", "name either one label column (ColumnMapping.Label) or a list of label columns, not both");
        if (columns.LabelColumns is { Count: > 0 } && kind != LabelKind.Classes)
            throw new OptionException("ColumnMapping.LabelColumns", "a list of 0/1 label columns is for multi-label classification");
        if (requireLabels && !columns.HasLabels)
            throw new OptionException("ColumnMapping.Label", "training data needs a label column");
        if (kind == LabelKind.Classes && string.IsNullOrEmpty(options.LabelSeparator))
            throw new OptionException("DatasetOptions.LabelSeparator", "the label separator is empty");
        if (options.MaxTrainExamples is <= 0)
            throw new OptionException("DatasetOptions.MaxTrainExamples", $"must be positive, got {options.MaxTrainExamples}");
        if (options.ReportedInvalidRows < 0)
            throw new OptionException("DatasetOptions.ReportedInvalidRows", "must not be negative");
        if (options.Labels is not null && columns.LabelColumns is { Count: > 0 } lc && !options.Labels.Equals(LabelMap.FromOrdered(lc)))
            throw new ArgumentException($"the label columns ({string.Join(", ", lc)}) differ from the given labels ({options.Labels.Describe()})");
    }

    /// <summary>Stops at the first invalid row, or counts and remembers a few when skipping.</summary>
    private sealed class SkipTracker(string file, DatasetOptions options)
    {
        private readonly List<string> _reasons = [];
        private int _count;

        public void Invalid(DataException error)
        {
            if (!options.SkipInvalidRows) throw error;
            _count++;
            if (_reasons.Count < options.ReportedInvalidRows) _reasons.Add(error.Message);
        }

        public SkippedRows Report() => new(file, _count, _reasons.ToArray());
    }

    /// <summary>A row's text and label as read, before the label is looked up in the label map.</summary>
    private readonly record struct RawExample(string Text, string? TextPair, string? Label, string[]? Labels, float[]? Targets, float Value, string File, long Row);

    private sealed class ExampleParser(DatasetOptions options, LabelKind kind)
    {
        private readonly ColumnMapping _columns = options.Columns;

        public List<RawExample> ReadRaw(string file, SkipTracker skips)
        {
            var reader = DataFileReader.Open(file, options.DataFile);
            foreach (var column in _columns.AllColumns())
                if (!reader.Columns.Contains(column, StringComparer.Ordinal))
                    throw new DataException(
                        $"no such column; the file's columns are: {DataFileReader.JoinNames(reader.Columns)}", file, column: column);

            var result = new List<RawExample>();
            foreach (var row in reader.ReadRows())
            {
                if (row.Error is not null)
                {
                    skips.Invalid(row.Error);
                    continue;
                }
                try
                {
                    result.Add(Parse(row));
                }
                catch (DataException e)
                {
                    skips.Invalid(e);
                }
            }
            return result;
        }

        private RawExample Parse(DataRow row)
        {
            var text = ReadText(row, _columns.Text);
            var pair = _columns.TextPair is null ? null : ReadText(row, _columns.TextPair);
            string? label = null;
            string[]? labels = null;
            float[]? targets = null;
            float value = 0;
            if (_columns.Label is { } labelColumn)
            {
                var cell = row[labelColumn];
                if (cell.IsMissing) throw Error(row, labelColumn, "missing label");
                switch (kind)
                {
                    case LabelKind.Class:
                        if (cell.IsList) throw Error(row, labelColumn, "expected one label, found a list");
                        label = cell.Text!.Trim();
                        if (label.Length == 0) throw Error(row, labelColumn, "empty label");
                        break;
                    case LabelKind.Classes:
                        var parts = cell.IsList ? cell.Items! : cell.Text!.Split(options.LabelSeparator);
                        labels = parts.Select(p => p.Trim()).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
                        break;
                    default:
                        if (cell.IsList) throw Error(row, labelColumn, "expected a number, found a list");
                        value = ParseValue(row, labelColumn, cell.Text!);
                        break;
                }
            }
            else if (_columns.LabelColumns is { Count: > 0 } labelColumns)
            {
                targets = new float[labelColumns.Count];
                for (var i = 0; i < targets.Length; i++)
                    targets[i] = ParseIndicator(row, labelColumns[i]);
            }
            return new RawExample(text, pair, label, labels, targets, value, row.SourceFile, row.SourceRow);
        }

        private string ReadText(DataRow row, string column)
        {
            var cell = row[column];
            if (cell.IsList) throw Error(row, column, "expected text, found a list");
            var text = cell.Text ?? "";
            if (!options.AllowEmptyText && string.IsNullOrWhiteSpace(text))
                throw Error(row, column, cell.IsMissing ? "missing text" : "empty text (AllowEmptyText accepts it)");
            return text;
        }

        private static float ParseValue(DataRow row, string column, string text)
        {
            var t = text.Trim();
            if (t.Length == 0) throw Error(row, column, "empty value; a regression target must be a number");
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                throw Error(row, column, $"'{t}' is not a number");
            var f = (float)v;
            if (!float.IsFinite(f)) throw Error(row, column, $"'{t}' is not a finite number");
            return f;
        }

        private static float ParseIndicator(DataRow row, string column)
        {
            var cell = row[column];
            if (cell.IsMissing) throw Error(row, column, "missing value; expected 0 or 1");
            if (cell.IsList) throw Error(row, column, "expected 0 or 1, found a list");
            var t = cell.Text!.Trim();
            if (t.Equals("true", StringComparison.OrdinalIgnoreCase)) return 1;
            if (t.Equals("false", StringComparison.OrdinalIgnoreCase)) return 0;
            if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v is 0 or 1) return (float)v;
            throw Error(row, column, $"'{t}' is not 0 or 1");
        }

        public LabelMap? BuildLabelMap(List<RawExample> raw, string trainFile)
        {
            if (options.Labels is not null) return options.Labels;
            if (_columns.LabelColumns is { Count: > 0 } labelColumns) return LabelMap.FromOrdered(labelColumns);
            switch (kind)
            {
                case LabelKind.Class:
                    return LabelMap.FromObserved(raw.Select(r => r.Label!));
                case LabelKind.Classes:
                    var all = raw.SelectMany(r => r.Labels!).ToArray();
                    if (all.Length == 0) throw new DataException("no example of the training file has a label", trainFile, column: _columns.Label);
                    return LabelMap.FromObserved(all);
                default:
                    return null;
            }
        }

        public List<TextExample> Resolve(List<RawExample> raw, LabelMap? labels, SkipTracker skips, bool fromTrainingData)
        {
            var result = new List<TextExample>(raw.Count);
            foreach (var r in raw)
            {
                try
                {
                    result.Add(new TextExample(r.Text, r.TextPair, ResolveLabel(r, labels, fromTrainingData), r.File, r.Row));
                }
                catch (DataException e)
                {
                    skips.Invalid(e);
                }
            }
            return result;
        }

        private LabelTarget? ResolveLabel(RawExample r, LabelMap? labels, bool fromTrainingData)
        {
            if (!_columns.HasLabels) return null;
            if (r.Targets is not null) return new MultiLabelTargets(r.Targets);
            switch (kind)
            {
                case LabelKind.Class:
                    return new ClassLabel(LookUp(r, r.Label!, labels!, fromTrainingData));
                case LabelKind.Classes:
                    var targets = new float[labels!.Count];
                    foreach (var l in r.Labels!) targets[LookUp(r, l, labels, fromTrainingData)] = 1f;
                    return new MultiLabelTargets(targets);
                default:
                    return new RegressionTarget(r.Value);
            }
        }

        private int LookUp(RawExample r, string label, LabelMap labels, bool fromTrainingData)
        {
            if (labels.TryGetId(label, out var id)) return id;
            var whose = fromTrainingData ? "the training data's labels are" : "the known labels are";
            throw new DataException($"unknown label '{label}'; {whose}: {labels.Describe()}", r.File, r.Row, _columns.Label);
        }

        private static DataException Error(DataRow row, string column, string reason) =>
            new(reason, row.SourceFile, row.SourceRow, column);
    }
}
