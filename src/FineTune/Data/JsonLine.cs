using System.Text.Json;

namespace FineTune.Data;

/// <summary>One line of a JSON Lines file that must hold a JSON object.</summary>
internal static class JsonLine
{
    /// <summary>
    /// Parses <paramref name="line"/> as a JSON object; a line that is not valid JSON, or not an object, throws a
    /// <see cref="DataException"/> naming the file and line and, for the latter, the keys it should hold
    /// (<paramref name="expectedKeys"/>, e.g. <c>"tokens" and "tags"</c>). The caller disposes the document.
    /// </summary>
    public static JsonDocument ParseObject(string line, string sourceName, long lineNumber, string expectedKeys)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new DataException($"the line is not valid JSON: {e.Message}", sourceName, lineNumber, inner: e);
        }
        if (document.RootElement.ValueKind == JsonValueKind.Object) return document;
        document.Dispose();
        throw new DataException($"the line must be a JSON object with {expectedKeys}", sourceName, lineNumber);
    }
}
