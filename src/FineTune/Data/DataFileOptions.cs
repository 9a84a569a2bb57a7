using System.Text;

namespace FineTune.Data;

/// <summary>The layout of a data file.</summary>
public enum DataFormat
{
    /// <summary>Decide from the file extension: .csv, .tsv/.tab, .jsonl/.ndjson/.json, .parquet/.pq.</summary>
    Auto,

    /// <summary>Comma-separated values; quoted fields are unescaped by default.</summary>
    Csv,

    /// <summary>Tab-separated values; quotes are ordinary characters by default (GLUE files).</summary>
    Tsv,

    /// <summary>One JSON object per line.</summary>
    JsonLines,

    /// <summary>Apache Parquet.</summary>
    Parquet,
}

/// <summary>What to do with a text row that has more fields than there are columns.</summary>
public enum ExtraFieldsHandling
{
    /// <summary>The row is invalid (the default): a wrong number of fields usually means a broken file.</summary>
    Error,

    /// <summary>Drop the fields after the last named column (e.g. the trailing source tags of some STS-B test rows).</summary>
    Ignore,

    /// <summary>
    /// The last column takes the rest of the line, separators included. Meant for files whose last field is free
    /// text and which are read with quoting off, e.g. TREC's "LABEL question words" with a space separator.
    /// </summary>
    JoinIntoLastColumn,
}

/// <summary>How to read one data file. The defaults read a CSV/TSV with a header, UTF-8, format from the extension.</summary>
public sealed record DataFileOptions
{
    /// <summary>The file format; <see cref="DataFormat.Auto"/> takes it from the extension.</summary>
    public DataFormat Format { get; init; } = DataFormat.Auto;

    /// <summary>Whether the first line of a CSV/TSV file names the columns. Ignored for JSON Lines and Parquet.</summary>
    public bool HasHeader { get; init; } = true;

    /// <summary>
    /// Column names. Required for a CSV/TSV file without a header, where they name the fields in order.
    /// With a header they replace the header's names (the counts must agree). Not used for JSON Lines and Parquet.
    /// </summary>
    public IReadOnlyList<string>? ColumnNames { get; init; }

    /// <summary>
    /// Whether quoted fields ("a, b" and doubled "" inside) are parsed and unescaped. Null: on for CSV, off for TSV,
    /// because GLUE-style TSV files contain unbalanced quote characters that must be read as text.
    /// </summary>
    public bool? Quoting { get; init; }

    /// <summary>The field separator; null: ',' for CSV, '\t' for TSV.</summary>
    public char? Separator { get; init; }

    /// <summary>What to do with rows that have more fields than columns. Rows with fewer fields are always invalid.</summary>
    public ExtraFieldsHandling ExtraFields { get; init; } = ExtraFieldsHandling.Error;

    /// <summary>
    /// Text encoding of CSV/TSV/JSON Lines files; null: UTF-8. A byte order mark is always recognised and skipped.
    /// Bytes that are not valid UTF-8 in a file read as UTF-8 are an error naming the line and byte offset (see
    /// <see cref="ReplaceInvalidUtf8"/>); give <see cref="Encoding.Latin1"/> or Windows-1252 for files in those.
    /// </summary>
    public Encoding? Encoding { get; init; }

    /// <summary>Read bytes that are not valid UTF-8 as U+FFFD (the lines with such bytes are counted and reported) instead of stopping.</summary>
    public bool ReplaceInvalidUtf8 { get; init; }

    /// <summary>The format this file is read as: <see cref="Format"/>, or the one its extension names.</summary>
    public DataFormat ResolveFormat(string filePath)
    {
        if (Format != DataFormat.Auto) return Format;
        var ext = Path.GetExtension(filePath).ToLowerInvariant();
        return ext switch
        {
            ".csv" => DataFormat.Csv,
            ".tsv" or ".tab" => DataFormat.Tsv,
            ".jsonl" or ".ndjson" or ".json" => DataFormat.JsonLines,
            ".parquet" or ".pq" => DataFormat.Parquet,
            _ => throw new DataException(
                $"cannot tell the format from the extension '{ext}'; name it explicitly (csv, tsv, jsonl or parquet)", filePath),
        };
    }
}
