using System.Collections;
using System.Globalization;
using System.Text;
using Parquet;
using Parquet.Schema;
using Parquet.Serialization;

namespace FineTune.Data;

/// <summary>
/// Parquet files, read one row group at a time. Top-level scalar columns become text (numbers in the invariant
/// culture), list columns become lists; struct and map columns are not offered. Nulls are missing cells.
/// The row number is the 1-based row index in the file.
/// </summary>
internal sealed class ParquetFileReader : DataFileReader
{
    private readonly IReadOnlyList<string> _columns;

    public ParquetFileReader(string filePath) : base(filePath, DataFormat.Parquet)
    {
        ParquetSchema schema;
        try
        {
            using var stream = File.OpenRead(filePath);
            schema = Run(() => ParquetReader.ReadSchemaAsync(stream));
        }
        catch (Exception e) when (IsCorruption(e))
        {
            throw new DataException("not a readable Parquet file: " + e.Message, filePath, inner: e);
        }
        _columns = schema.Fields
            .Where(f => f.SchemaType is SchemaType.Data or SchemaType.List)
            .Select(f => f.Name)
            .ToArray();
    }

    public override IReadOnlyList<string> Columns => _columns;

    public override IEnumerable<DataRow> ReadRows()
    {
        using var stream = File.OpenRead(FilePath);
        int rowGroups = Guarded(null, () =>
        {
            stream.Position = 0;
            var reader = Run(() => ParquetReader.CreateAsync(stream, null, leaveStreamOpen: true));
            int count = reader.RowGroupCount;
            Run(() => reader.DisposeAsync().AsTask());
            return count;
        });

        long rowNumber = 0;
        for (var group = 0; group < rowGroups; group++)
        {
            stream.Position = 0;
            var g = group;
            var data = Guarded(g, () => Run(() => ParquetSerializer.DeserializeUntypedAsync(stream, null, g)).Data);
            foreach (var record in data)
            {
                rowNumber++;
                var cells = new DataCell[_columns.Count];
                for (var i = 0; i < cells.Length; i++)
                    cells[i] = record.TryGetValue(_columns[i], out var value) ? ToCell(value) : DataCell.Missing;
                yield return new DataRow(FilePath, rowNumber, _columns, cells);
            }
        }
    }

    private static DataCell ToCell(object? value)
    {
        if (value is null) return DataCell.Missing;
        if (ScalarText(value) is { } text) return DataCell.Of(text);
        if (value is IEnumerable list and not IDictionary)
        {
            var items = new List<string>();
            foreach (var item in list)
                if (item is not null && ScalarText(item) is { } itemText)
                    items.Add(itemText);
            return DataCell.OfItems(items);
        }
        return DataCell.Missing;
    }

    private static string? ScalarText(object value) => value switch
    {
        string s => s,
        ReadOnlyMemory<char> m => m.ToString(),
        bool b => b ? "true" : "false",
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        DateTime d => d.ToString("o", CultureInfo.InvariantCulture),
        DateTimeOffset d => d.ToString("o", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => null,
    };

    /// <summary>Whatever a damaged file makes Parquet.Net throw (it has no exception type of its own for that).</summary>
    private static bool IsCorruption(Exception e) => e is not (FineTuneException or OutOfMemoryException or OperationCanceledException);

    /// <summary>Runs a read of the file (of one row group), turning a failure into a <see cref="DataException"/> that names the file.</summary>
    private T Guarded<T>(int? rowGroup, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (IsCorruption(e))
        {
            throw new DataException($"not a readable Parquet file{(rowGroup is int g ? $" (row group {g + 1})" : "")}: {e.Message}", FilePath, inner: e);
        }
    }

    // The reader offers a synchronous, streaming API; Parquet.Net's is asynchronous. Running the calls on the
    // thread pool keeps a caller's synchronisation context out of the way.
    private static T Run<T>(Func<Task<T>> call) => Task.Run(call).GetAwaiter().GetResult();

    private static void Run(Func<Task> call) => Task.Run(call).GetAwaiter().GetResult();
}
