namespace FineTune.Data;

/// <summary>RFC 4180 quoting for the CSV files the library writes.</summary>
internal static class Csv
{
    /// <summary>The field as written in a CSV line: quoted (with quotes doubled) when it holds a comma, a quote or a line break.</summary>
    public static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;

    /// <summary>One CSV line of the fields, quoted as needed.</summary>
    public static string Line(IEnumerable<string> fields) => string.Join(",", fields.Select(Quote));
}
