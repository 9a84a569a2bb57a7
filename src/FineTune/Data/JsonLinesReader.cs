using System.Text.Json;

namespace FineTune.Data;

/// <summary>
/// JSON Lines: one JSON object per line. Strings are taken as they are, numbers as their JSON text, true/false as
/// "true"/"false", arrays as lists, null as missing. Blank lines are skipped; the row number is the line number.
/// </summary>
internal sealed class JsonLinesReader : DataFileReader
{
    private readonly DataFileOptions _options;
    private readonly IReadOnlyList<string> _columns;

    public JsonLinesReader(string filePath, DataFileOptions options) : base(filePath, DataFormat.JsonLines)
    {
        _options = options;
        _columns = ReadColumnNames();
    }

    public override IReadOnlyList<string> Columns => _columns;

    public override IEnumerable<DataRow> ReadRows()
    {
        using var text = OpenText(FilePath, _options);
        long lineNumber = 0;
        while (text.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            yield return ParseLine(line, lineNumber);
        }
    }

    private IReadOnlyList<string> ReadColumnNames()
    {
        using var text = OpenText(FilePath, _options);
        long lineNumber = 0;
        while (text.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (lineNumber == 1 && line.TrimStart().StartsWith('['))
                throw new DataException("the file is a JSON array; expected JSON Lines (one JSON object per line)", FilePath, 1);
            var row = ParseLine(line, lineNumber);
            if (row.Error is null) return row.Columns;
        }
        throw new DataException("the file has no JSON object lines", FilePath);
    }

    private DataRow ParseLine(string line, long lineNumber)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            return DataRow.Invalid(FilePath, lineNumber, "invalid JSON: " + e.Message);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return DataRow.Invalid(FilePath, lineNumber, $"expected a JSON object, found {Describe(root.ValueKind)}");

            var names = new List<string>();
            var cells = new List<DataCell>();
            foreach (var property in root.EnumerateObject())
            {
                if (names.Contains(property.Name)) continue;
                var cell = ToCell(property.Value, out var problem);
                if (problem is not null)
                    return DataRow.Invalid(FilePath, lineNumber, $"key '{property.Name}': {problem}");
                names.Add(property.Name);
                cells.Add(cell);
            }
            return new DataRow(FilePath, lineNumber, names, cells.ToArray());
        }
    }

    private static DataCell ToCell(JsonElement value, out string? problem)
    {
        problem = null;
        switch (value.ValueKind)
        {
            case JsonValueKind.Array:
                var items = new List<string>();
                foreach (var item in value.EnumerateArray())
                {
                    var text = ScalarText(item);
                    if (text is null)
                    {
                        problem = $"a list may hold strings, numbers and booleans, found {Describe(item.ValueKind)}";
                        return DataCell.Missing;
                    }
                    items.Add(text);
                }
                return DataCell.OfItems(items);
            case JsonValueKind.Object:
                return DataCell.Of(value.GetRawText());
            case JsonValueKind.Null or JsonValueKind.Undefined:
                return DataCell.Missing;
            default:
                return DataCell.Of(ScalarText(value)!);
        }
    }

    private static string? ScalarText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => null,
    };

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
