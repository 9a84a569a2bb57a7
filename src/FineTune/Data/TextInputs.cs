namespace FineTune.Data;

/// <summary>One unlabelled input read for prediction: the file's 1-based row, the text and the second text of a pair.</summary>
public sealed record TextInput(long SourceRow, string Text, string? Pair = null);

/// <summary>
/// Reads unlabelled texts to predict on: a .txt file (one text per non-empty line) or a CSV, TSV, JSONL or Parquet
/// file with a text column (and optionally a second text column for pairs). A missing column is an error naming the
/// file and the columns it has; a row without text names its row and column.
/// </summary>
public static class TextInputs
{
    /// <param name="textColumn">The column of the text (ignored for .txt).</param>
    /// <param name="pairColumn">The column of the second text of a pair, or null.</param>
    public static IReadOnlyList<TextInput> Read(string path, DataFileOptions fileOptions, string textColumn, string? pairColumn = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw new DataException("is a folder; give an input file", path);
        if (!File.Exists(path)) throw new DataException("input file not found", path);
        if (path.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
        {
            if (pairColumn is not null)
                throw new OptionException("ColumnMapping.TextPair", $"a .txt file holds one text per line, not pairs: give a CSV, TSV, JSONL or Parquet file ({path})");
            using var text = DataFileReader.OpenText(path, fileOptions);
            var lines = new List<TextInput>();
            int number = 0;
            while (text.ReadLine() is { } line)
            {
                number++;
                if (line.Length > 0) lines.Add(new TextInput(number, line));
            }
            return lines;
        }
        var reader = DataFileReader.Open(path, fileOptions);
        foreach (var column in new[] { textColumn, pairColumn })
            if (column is not null && !reader.Columns.Contains(column))
                throw new DataException($"no such column; the file's columns are: {DataFileReader.JoinNames(reader.Columns)}", path, column: column);
        var rows = new List<TextInput>();
        foreach (var row in reader.ReadRows())
        {
            if (row.Error is not null) throw row.Error;
            rows.Add(new TextInput(row.SourceRow, Cell(row, textColumn), pairColumn is null ? null : Cell(row, pairColumn)));
        }
        return rows;
    }

    /// <summary>The text of a cell; a missing value or a list is an error naming the file, row and column.</summary>
    internal static string Cell(DataRow row, string column) =>
        row[column].Text ?? throw new DataException("the value is missing or not text", row.SourceFile, row.SourceRow, column);
}

/// <summary>The values of one column of a data file by source row, for slicing metrics by it.</summary>
internal static class ColumnValues
{
    /// <summary>
    /// Each row's value of <paramref name="column"/> (a missing cell: "(missing)"; a list: its items joined by ", "); a
    /// file without that column is an error naming the file, the column and the columns it has.
    /// </summary>
    public static Dictionary<long, string> Read(string path, DataFileOptions fileOptions, string column)
    {
        var reader = DataFileReader.Open(path, fileOptions);
        if (!reader.Columns.Contains(column, StringComparer.Ordinal))
            throw new DataException($"no such column to slice by (DatasetOptions.SliceColumn); the file's columns are: {DataFileReader.JoinNames(reader.Columns)}",
                path, column: column);
        var values = new Dictionary<long, string>();
        foreach (var row in reader.ReadRows())
        {
            if (row.Error is not null) continue;
            var cell = row[column];
            values[row.SourceRow] = cell.IsMissing ? "(missing)" : cell.IsList ? string.Join(", ", cell.Items!) : cell.Text!.Trim();
        }
        return values;
    }
}
