using System.Globalization;
using System.Text.Json;

namespace FineTune.Data;

/// <summary>How to read extractive-QA files.</summary>
internal sealed record SquadReadOptions
{
    /// <summary>
    /// Skip (and count) a question whose answer text is not found in the context at its <c>answer_start</c>,
    /// instead of failing. Off by default: such a file is usually read with the wrong offsets.
    /// </summary>
    public bool SkipMismatchedAnswers { get; init; }
}

/// <summary>The questions read from a file, and the rows that were skipped with the reason for each.</summary>
internal sealed record SquadReadResult(IReadOnlyList<QaExample> Examples, IReadOnlyList<string> Skipped)
{
    public int SkippedCount => Skipped.Count;
    public int TitleCount => Examples.Select(e => e.Title).Distinct(StringComparer.Ordinal).Count();
}

/// <summary>
/// Reads extractive-QA data: SQuAD v1.1 JSON and JSONL.
/// </summary>
/// <remarks>
/// <para>
/// SQuAD JSON (also XQuAD): <c>{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
/// "answers": [{"text", "answer_start"}]}]}]}]}</c>. Questions with an empty answer list are kept with no answers
/// (SQuAD v2's unanswerable questions; their <c>plausible_answers</c> are ignored).
/// </para>
/// <para>
/// JSONL, one question per line: <c>{"id"?, "title"?, "question", "context", "answers": {"text": [...], "answer_start": [...]}}</c>
/// (Hugging Face datasets' layout) or with <c>"answers": [{"text", "answer_start"}]</c>. Without an id, the line
/// number is the id; without a title, the title is empty.
/// </para>
/// <para>
/// <c>answer_start</c> counts Unicode code points, as Python does; it is converted to a UTF-16 index. Each answer must
/// match the context there, else the row is an error naming the file and the question id (JSONL: the line), or is
/// skipped with <see cref="SquadReadOptions.SkipMismatchedAnswers"/>. Question ids must be unique within a file.
/// </para>
/// </remarks>
internal static class SquadReader
{
    /// <summary>Reads a file: JSONL when it ends in <c>.jsonl</c> or <c>.ndjson</c>, SQuAD JSON otherwise.</summary>
    public static SquadReadResult Read(string path, SquadReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var extension = Path.GetExtension(path).ToLowerInvariant();
        return extension is ".jsonl" or ".ndjson" ? ReadJsonl(path, options) : ReadSquadJson(path, options);
    }

    /// <summary>Reads a SQuAD v1.1 JSON file.</summary>
    public static SquadReadResult ReadSquadJson(string path, SquadReadOptions? options = null)
    {
        options ??= new SquadReadOptions();
        CheckExists(path);
        TextFileCheck.Ensure(path, null, replaceInvalid: false, optionsApply: false);
        JsonDocument document;
        try
        {
            using var stream = File.OpenRead(path);
            document = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new DataException($"the file is not valid JSON: {e.Message}", path, e.LineNumber + 1, inner: e);
        }

        var examples = new List<QaExample>();
        var skipped = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
                throw new DataException("a SQuAD file is an object with a \"data\" array of articles (for one question per line use a .jsonl file)", path);
            var a = 0;
            foreach (var article in data.EnumerateArray())
            {
                var articleAt = $"data[{a}]";
                var title = OptionalString(article, "title", path, articleAt) ?? "";
                var p = 0;
                foreach (var paragraph in RequiredArray(article, "paragraphs", path, articleAt))
                {
                    var paragraphAt = $"{articleAt}.paragraphs[{p}]";
                    var context = RequiredString(paragraph, "context", path, paragraphAt);
                    var q = 0;
                    foreach (var qa in RequiredArray(paragraph, "qas", path, paragraphAt))
                    {
                        var qaAt = $"{paragraphAt}.qas[{q}]";
                        var id = RequiredString(qa, "id", path, qaAt);
                        var where = $"question '{id}'";
                        var question = RequiredString(qa, "question", path, where);
                        var answers = ToUtf16(ReadAnswerList(RequiredArray(qa, "answers", path, where), path, where, null), context);
                        if (!ids.Add(id)) throw new DataException($"{where}: the id appears more than once in the file", path);
                        var example = new QaExample(id, title, question, context, answers, path, null);
                        if (CheckAnswers(example, options, skipped, where)) examples.Add(example);
                        q++;
                    }
                    p++;
                }
                a++;
            }
        }
        return new SquadReadResult(examples, skipped);
    }

    /// <summary>Reads a JSONL file of questions (see the remarks on <see cref="SquadReader"/>).</summary>
    public static SquadReadResult ReadJsonl(string path, SquadReadOptions? options = null)
    {
        CheckExists(path);
        TextFileCheck.Ensure(path, null, replaceInvalid: false, optionsApply: false);
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return ReadJsonl(reader, path, options);
    }

    /// <summary>Reads JSONL questions from a reader; <paramref name="sourceName"/> names it in errors and in the examples.</summary>
    public static SquadReadResult ReadJsonl(TextReader reader, string sourceName, SquadReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        options ??= new SquadReadOptions();
        var examples = new List<QaExample>();
        var skipped = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        long lineNumber = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            using (var document = JsonLine.ParseObject(line, sourceName, lineNumber, "\"question\", \"context\" and \"answers\""))
            {
                var row = document.RootElement;
                var id = LineString(row, "id", sourceName, lineNumber, required: false) ?? lineNumber.ToString(CultureInfo.InvariantCulture);
                var title = LineString(row, "title", sourceName, lineNumber, required: false) ?? "";
                var question = LineString(row, "question", sourceName, lineNumber, required: true)!;
                var context = LineString(row, "context", sourceName, lineNumber, required: true)!;
                var answers = ToUtf16(ReadLineAnswers(row, sourceName, lineNumber), context);
                if (!ids.Add(id)) throw new DataException($"question id '{id}' appears more than once in the file", sourceName, lineNumber, "id");
                var example = new QaExample(id, title, question, context, answers, sourceName, lineNumber);
                if (CheckAnswers(example, options, skipped, $"question '{id}'")) examples.Add(example);
            }
        }
        return new SquadReadResult(examples, skipped);
    }

    /// <summary>
    /// Converts a code-point offset (Python's string index) into a UTF-16 index of <paramref name="text"/>;
    /// -1 when it lies beyond the text. Without surrogate pairs the two are equal.
    /// </summary>
    public static int CodePointToUtf16(string text, int codePointIndex)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (codePointIndex < 0) return -1;
        var utf16 = 0;
        for (var cp = 0; cp < codePointIndex; cp++)
        {
            if (utf16 >= text.Length) return -1;
            utf16 += char.IsHighSurrogate(text[utf16]) && utf16 + 1 < text.Length && char.IsLowSurrogate(text[utf16 + 1]) ? 2 : 1;
        }
        return utf16 <= text.Length ? utf16 : -1;
    }

    /// <summary>Keeps the example when every answer matches its context; otherwise throws or records the skip.</summary>
    private static bool CheckAnswers(QaExample example, SquadReadOptions options, List<string> skipped, string where)
    {
        for (var i = 0; i < example.Answers.Count; i++)
        {
            var answer = example.Answers[i];
            var matches = answer.Start >= 0 && answer.End <= example.Context.Length
                && string.CompareOrdinal(example.Context, answer.Start, answer.Text, 0, answer.Text.Length) == 0;
            if (matches) continue;
            var found = answer.Start >= 0 && answer.Start <= example.Context.Length
                ? $"the context there reads '{example.Context.Substring(answer.Start, Math.Min(answer.Text.Length, example.Context.Length - answer.Start))}'"
                : $"the context has only {example.Context.Length} characters";
            var reason = $"{where}: answer {i + 1} '{answer.Text}' does not match the context at answer_start {answer.Start} ({found})";
            if (!options.SkipMismatchedAnswers)
                throw new DataException(reason, example.SourceFile, example.SourceLine, example.SourceLine is null ? null : "answers");
            skipped.Add(example.SourceLine is { } line ? $"{example.SourceFile}:{line}: {reason}" : $"{example.SourceFile}: {reason}");
            return false;
        }
        return true;
    }

    private static IReadOnlyList<QaAnswer> ToUtf16(IReadOnlyList<QaAnswer> answers, string context)
    {
        if (!context.Any(char.IsSurrogate)) return answers;
        return answers.Select(a => CodePointToUtf16(context, a.Start) is var start and >= 0 ? a with { Start = start } : a with { Start = context.Length + 1 }).ToArray();
    }

    private static QaAnswer[] ReadAnswerList(JsonElement.ArrayEnumerator items, string path, string where, long? line)
    {
        var answers = new List<QaAnswer>();
        var i = 0;
        foreach (var item in items)
        {
            var at = $"{where}: answer {i + 1}";
            if (item.ValueKind != JsonValueKind.Object) throw Error($"{at} must be an object with \"text\" and \"answer_start\"", path, line);
            if (!item.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                throw Error($"{at} has no \"text\" string", path, line);
            if (!item.TryGetProperty("answer_start", out var start)) throw Error($"{at} has no \"answer_start\"", path, line);
            answers.Add(MakeAnswer(text.GetString()!, start, at, path, line));
            i++;
        }
        return answers.ToArray();
    }

    private static IReadOnlyList<QaAnswer> ReadLineAnswers(JsonElement row, string path, long line)
    {
        if (!row.TryGetProperty("answers", out var answers))
            throw new DataException("the object has no \"answers\"", path, line, "answers");
        if (answers.ValueKind == JsonValueKind.Array) return ReadAnswerList(answers.EnumerateArray(), path, "answers", line);
        if (answers.ValueKind != JsonValueKind.Object)
            throw new DataException("\"answers\" must be {\"text\": [...], \"answer_start\": [...]} or a list of {\"text\", \"answer_start\"}", path, line, "answers");
        if (!answers.TryGetProperty("text", out var texts) || texts.ValueKind != JsonValueKind.Array
            || !answers.TryGetProperty("answer_start", out var starts) || starts.ValueKind != JsonValueKind.Array)
            throw new DataException("\"answers\" must have a \"text\" array and an \"answer_start\" array", path, line, "answers");
        if (texts.GetArrayLength() != starts.GetArrayLength())
            throw new DataException($"\"answers\" has {texts.GetArrayLength()} texts but {starts.GetArrayLength()} answer_start values", path, line, "answers");
        var result = new QaAnswer[texts.GetArrayLength()];
        for (var i = 0; i < result.Length; i++)
        {
            var text = texts[i];
            if (text.ValueKind != JsonValueKind.String) throw new DataException($"answer text {i + 1} is not a string", path, line, "answers");
            result[i] = MakeAnswer(text.GetString()!, starts[i], $"answers: answer {i + 1}", path, line);
        }
        return result;
    }

    /// <summary>An answer whose start is still in code points; <see cref="ToUtf16"/> converts it once the context is known.</summary>
    private static QaAnswer MakeAnswer(string text, JsonElement start, string at, string path, long? line)
    {
        if (start.ValueKind != JsonValueKind.Number || !start.TryGetInt32(out var value))
            throw Error($"{at}: answer_start must be a whole number, not {start.GetRawText()}", path, line);
        return new QaAnswer(text, value);
    }

    private static DataException Error(string message, string path, long? line) =>
        new(message, path, line, line is null ? null : "answers");

    private static string? LineString(JsonElement row, string key, string path, long line, bool required)
    {
        if (!row.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required) throw new DataException($"the object has no \"{key}\"", path, line, key);
            return null;
        }
        if (value.ValueKind == JsonValueKind.Number && key == "id") return value.GetRawText();
        if (value.ValueKind != JsonValueKind.String) throw new DataException($"\"{key}\" must be a string", path, line, key);
        return value.GetString();
    }

    private static string RequiredString(JsonElement element, string key, string path, string where)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(key, out var value) || value.ValueKind != JsonValueKind.String)
            throw new DataException($"{where}: has no \"{key}\" string", path);
        return value.GetString()!;
    }

    private static string? OptionalString(JsonElement element, string key, string path, string where)
    {
        if (element.ValueKind != JsonValueKind.Object) throw new DataException($"{where}: must be an object", path);
        if (!element.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.String) throw new DataException($"{where}: \"{key}\" must be a string", path);
        return value.GetString();
    }

    private static JsonElement.ArrayEnumerator RequiredArray(JsonElement element, string key, string path, string where)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(key, out var value) || value.ValueKind != JsonValueKind.Array)
            throw new DataException($"{where}: has no \"{key}\" array", path);
        return value.EnumerateArray();
    }

    private static void CheckExists(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new DataException("the file does not exist", path);
    }
}
