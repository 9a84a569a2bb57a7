using nietras.SeparatedValues;

namespace FineTune.Data;

/// <summary>CSV and TSV files, read with Sep. Quoting is on for CSV and off for TSV unless the options say otherwise.</summary>
internal sealed class SeparatedValuesReader : DataFileReader
{
    private readonly DataFileOptions _options;
    private readonly char _separator;
    private readonly bool _quoting;
    private readonly IReadOnlyList<string> _columns;

    public SeparatedValuesReader(string filePath, DataFormat format, DataFileOptions options) : base(filePath, format)
    {
        _options = options;
        _separator = options.Separator ?? (format == DataFormat.Csv ? ',' : '\t');
        _quoting = options.Quoting ?? format == DataFormat.Csv;
        _columns = ReadColumnNames();
    }

    public override IReadOnlyList<string> Columns => _columns;

    public override IEnumerable<DataRow> ReadRows()
    {
        using var text = OpenText(FilePath, _options);
        using var reader = CreateSepReader(text);
        var headerPending = _options.HasHeader;
        while (reader.MoveNext())
        {
            if (IsBlank(reader.Current)) continue;
            if (headerPending)
            {
                headerPending = false;
                continue;
            }
            yield return ToDataRow(reader.Current);
        }
    }

    private SepReader CreateSepReader(TextReader text) =>
        Sep.New(_separator).Reader(o => o with
        {
            HasHeader = false,
            DisableColCountCheck = true,
            DisableQuotesParsing = !_quoting,
            Unescape = _quoting,
        }).From(text);

    private static bool IsBlank(SepReader.Row row) => row.ColCount == 1 && row.Span.Length == 0;

    private IReadOnlyList<string> ReadColumnNames()
    {
        var given = _options.ColumnNames;
        if (!_options.HasHeader)
        {
            if (given is null || given.Count == 0)
                throw new DataException("the file has no header line; name its columns (ColumnNames)", FilePath);
            return CheckUnique(given);
        }

        using var text = OpenText(FilePath, _options);
        using var reader = CreateSepReader(text);
        while (reader.MoveNext())
        {
            var row = reader.Current;
            if (IsBlank(row)) continue;
            var header = new string[row.ColCount];
            for (var i = 0; i < header.Length; i++) header[i] = row[i].ToString();
            if (given is null) return CheckUnique(header);
            if (given.Count != header.Length)
                throw new DataException(
                    $"{given.Count} column names were given but the header line has {header.Length} fields ({JoinNames(header)})",
                    FilePath, LineNumber(row));
            return CheckUnique(given);
        }
        throw new DataException("the file is empty; expected a header line", FilePath);
    }

    // Sep (0.17) reports the first row's LineNumberFrom as the line after it when it reads without a header;
    // the first row always starts at line 1, and the numbers of later rows are right.
    private static int LineNumber(SepReader.Row row) => row.RowIndex == 0 ? 1 : row.LineNumberFrom;

    private IReadOnlyList<string> CheckUnique(IReadOnlyList<string> names)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
            if (!seen.Add(name))
                throw new DataException($"duplicate column name '{name}'", FilePath);
        return names.ToArray();
    }

    private DataRow ToDataRow(SepReader.Row row)
    {
        var line = LineNumber(row);
        var expected = _columns.Count;
        var found = row.ColCount;
        if (found < expected || (found > expected && _options.ExtraFields == ExtraFieldsHandling.Error))
            return DataRow.Invalid(FilePath, line, $"expected {expected} fields ({JoinNames(_columns)}), found {found}");

        var cells = new DataCell[expected];
        for (var i = 0; i < expected; i++)
            cells[i] = DataCell.Of(row[i].ToString());
        if (found > expected && _options.ExtraFields == ExtraFieldsHandling.JoinIntoLastColumn)
            cells[expected - 1] = DataCell.Of(row[(expected - 1)..].JoinToString([_separator]));
        return new DataRow(FilePath, line, _columns, cells);
    }
}
