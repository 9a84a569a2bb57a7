namespace FineTune.Data;

/// <summary>
/// One value of a row: text, or a list of texts (a JSON array or a Parquet list column), or missing
/// (a JSON null or absent key, a Parquet null).
/// </summary>
internal readonly record struct DataCell(string? Text, IReadOnlyList<string>? Items)
{
    public static DataCell Missing => default;

    public static DataCell Of(string text) => new(text, null);

    public static DataCell OfItems(IReadOnlyList<string> items) => new(null, items);

    public bool IsMissing => Text is null && Items is null;

    public bool IsList => Items is not null;
}

/// <summary>
/// A row read from a data file, with named columns and where it came from: <see cref="SourceRow"/> is the 1-based
/// line number in a text file (the header line counts, so it is the line an editor shows) and the 1-based row index
/// in a Parquet file. A row that could not be parsed (a wrong number of fields, a line that is not JSON) comes out
/// with <see cref="Error"/> set and no cells, so the caller decides whether to stop or skip it.
/// </summary>
internal sealed class DataRow
{
    private readonly IReadOnlyList<string> _columns;
    private readonly DataCell[] _cells;

    public DataRow(string sourceFile, long sourceRow, IReadOnlyList<string> columns, DataCell[] cells)
    {
        if (columns.Count != cells.Length)
            throw new ArgumentException($"{columns.Count} column names for {cells.Length} cells");
        SourceFile = sourceFile;
        SourceRow = sourceRow;
        _columns = columns;
        _cells = cells;
    }

    private DataRow(string sourceFile, long sourceRow, DataException error)
    {
        SourceFile = sourceFile;
        SourceRow = sourceRow;
        _columns = [];
        _cells = [];
        Error = error;
    }

    /// <summary>A row that could not be parsed; <paramref name="reason"/> says why.</summary>
    public static DataRow Invalid(string sourceFile, long sourceRow, string reason) =>
        new(sourceFile, sourceRow, new DataException(reason, sourceFile, sourceRow));

    public string SourceFile { get; }
    public long SourceRow { get; }

    /// <summary>Why this row could not be parsed, or null for a good row.</summary>
    public DataException? Error { get; }

    /// <summary>The row's column names, in file order.</summary>
    public IReadOnlyList<string> Columns => _columns;

    public int Count => _cells.Length;

    public DataCell this[int index] => _cells[index];

    /// <summary>The cell of the named column; <see cref="DataCell.Missing"/> when the row has no such column.</summary>
    public DataCell this[string column]
    {
        get
        {
            var i = IndexOf(column);
            return i < 0 ? DataCell.Missing : _cells[i];
        }
    }

    public bool HasColumn(string column) => IndexOf(column) >= 0;

    private int IndexOf(string column)
    {
        for (var i = 0; i < _columns.Count; i++)
            if (string.Equals(_columns[i], column, StringComparison.Ordinal))
                return i;
        return -1;
    }
}
