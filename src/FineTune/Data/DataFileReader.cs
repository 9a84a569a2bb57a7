using System.Text;

namespace FineTune.Data;

/// <summary>
/// Reads the rows of a CSV, TSV, JSON Lines or Parquet file as named columns, one at a time, so large files stream.
/// <see cref="Open"/> reads only the column names; every call of <see cref="ReadRows"/> reads the file from the start.
/// </summary>
internal abstract class DataFileReader
{
    protected DataFileReader(string filePath, DataFormat format)
    {
        FilePath = filePath;
        Format = format;
    }

    /// <summary>The path as given; it is what error messages and <see cref="DataRow.SourceFile"/> show.</summary>
    public string FilePath { get; }

    public DataFormat Format { get; }

    /// <summary>
    /// The file's column names: the header (or the names given for a file without one), the keys of the first
    /// JSON object, or the top-level Parquet fields.
    /// </summary>
    public abstract IReadOnlyList<string> Columns { get; }

    /// <summary>The data rows in file order. Rows that cannot be parsed come out with <see cref="DataRow.Error"/> set.</summary>
    public abstract IEnumerable<DataRow> ReadRows();

    /// <summary>Opens a data file; the format comes from <paramref name="options"/> or the file extension.</summary>
    public static DataFileReader Open(string filePath, DataFileOptions? options = null)
    {
        options ??= new DataFileOptions();
        if (Directory.Exists(filePath))
            throw new DataException("is a folder; give a data file (CSV, TSV, JSONL or Parquet)", filePath);
        if (!File.Exists(filePath))
            throw new DataException("file not found", filePath);
        var format = options.ResolveFormat(filePath);
        return format switch
        {
            DataFormat.Csv or DataFormat.Tsv => new SeparatedValuesReader(filePath, format, options),
            DataFormat.JsonLines => new JsonLinesReader(filePath, options),
            DataFormat.Parquet => new ParquetFileReader(filePath),
            _ => throw new ArgumentOutOfRangeException(nameof(options), format, "unknown data format"),
        };
    }

    /// <summary>
    /// A reader of the file's text: the options' encoding (UTF-8 by default), byte order marks skipped. A binary file,
    /// or invalid UTF-8 that the options do not accept, is a <see cref="DataException"/> (<see cref="TextFileCheck"/>).
    /// </summary>
    internal static StreamReader OpenText(string filePath, DataFileOptions options)
    {
        TextFileCheck.Ensure(filePath, options.Encoding, options.ReplaceInvalidUtf8);
        return new(filePath, options.Encoding ?? new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), detectEncodingFromByteOrderMarks: true);
    }

    internal static string JoinNames(IEnumerable<string> names) => string.Join(", ", names.Select(n => n.Length == 0 ? "''" : n));
}
