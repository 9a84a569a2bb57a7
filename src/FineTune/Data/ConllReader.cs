using System.Text.Json;

namespace FineTune.Data;

/// <summary>How to read a token-classification file and which tag scheme to deliver its tags in.</summary>
internal sealed record ConllReadOptions
{
    /// <summary>0-based column of the word in column files.</summary>
    public int WordColumn { get; init; }

    /// <summary>0-based column of the tag in column files; null for the last column (CoNLL-2003: the NER tag).</summary>
    public int? TagColumn { get; init; }

    /// <summary>The scheme the file's tags are written in; null to detect it (<see cref="TagSchemes.Detect(IEnumerable{TokenExample})"/>).</summary>
    public TagScheme? SourceScheme { get; init; }

    /// <summary>The scheme the examples are converted to. Training works in IOB2 (or BIOES when asked).</summary>
    public TagScheme TargetScheme { get; init; } = TagScheme.IOB2;

    /// <summary>
    /// The tags the converted examples may use (a model's labels, or those of the training file); a sentence with
    /// another tag is invalid. Null: no check.
    /// </summary>
    public TokenLabelMap? Labels { get; init; }

    /// <summary>
    /// <see cref="ConllReader.Load"/> only: skip the sentences that hold an invalid line (another number of columns, a tag
    /// that fits no scheme or not the file's, a tag outside <see cref="Labels"/>; JSONL: the invalid line) instead of
    /// stopping at the first; <see cref="TokenDataset.Skipped"/> counts them and keeps the first reasons.
    /// </summary>
    public bool SkipInvalidRows { get; init; }

    /// <summary>How many reasons <see cref="TokenDataset.Skipped"/> keeps.</summary>
    public int ReportedInvalidRows { get; init; } = 5;
}

/// <summary>
/// Reads token-classification data: CoNLL column files and JSONL.
/// </summary>
/// <remarks>
/// <para>
/// Column files: one word per line, its columns separated by spaces or tabs; the word in <see cref="ConllReadOptions.WordColumn"/>
/// and its tag in <see cref="ConllReadOptions.TagColumn"/> (the last by default). Blank lines separate sentences;
/// <c>-DOCSTART-</c> lines (document boundaries) are skipped and also end a sentence. Every word line must have as
/// many columns as the first one (CoNLL-2003: <c>word POS chunk NER</c>).
/// </para>
/// <para>JSONL: one object per line, <c>{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}</c>; blank lines are skipped.</para>
/// <para>Every tag must be <c>O</c> or a prefix (<c>B I E S</c>), a hyphen and a type; other tags are an error naming the file and line.</para>
/// </remarks>
internal static class ConllReader
{
    public const string DocumentStart = "-DOCSTART-";

    /// <summary>
    /// Reads a file (JSONL when it ends in <c>.jsonl</c>/<c>.ndjson</c>/<c>.json</c>, a column file otherwise), determines its
    /// tag scheme (given or detected) and converts the tags to <see cref="ConllReadOptions.TargetScheme"/>; with
    /// <see cref="ConllReadOptions.Labels"/>, checks that every converted tag is one of them. An invalid sentence stops
    /// the read naming the file and line, or is skipped and counted (<see cref="ConllReadOptions.SkipInvalidRows"/>).
    /// A file whose tags mix schemes (detection) stops the read either way.
    /// </summary>
    public static TokenDataset Load(string path, ConllReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new ConllReadOptions();
        var log = new InvalidRowLog(path, options.SkipInvalidRows, options.ReportedInvalidRows);
        var examples = Read(path, options, log);
        var detected = options.SourceScheme is null;
        var source = options.SourceScheme ?? TagSchemes.Detect(examples);
        if (log.Skips) examples = examples.Where(e => Passes(e, log, () => TagSchemes.Validate([e], source))).ToList();
        var converted = TagSchemes.Convert(examples, source, options.TargetScheme);
        if (options.Labels is { } labels)
            converted = converted.Where(e => Passes(e, log, () => { if (labels.Check(e) is { } error) throw error; })).ToList();
        return new TokenDataset(converted, source, options.TargetScheme, detected) { Skipped = log.Report() };
    }

    private static bool Passes(TokenExample example, InvalidRowLog log, Action check)
    {
        try
        {
            check();
            return true;
        }
        catch (DataException e)
        {
            log.Invalid(e, e.Row ?? example.SourceLine);
            return false;
        }
    }

    /// <summary>
    /// Reads the sentences of a file with their tags as written (see <see cref="Load"/> for the format choice); the
    /// first invalid line stops the read.
    /// </summary>
    public static IReadOnlyList<TokenExample> Read(string path, ConllReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Read(path, options ?? new ConllReadOptions(), new InvalidRowLog(path, skip: false, 0));
    }

    private static IReadOnlyList<TokenExample> Read(string path, ConllReadOptions options, InvalidRowLog log)
    {
        using var reader = Open(path);
        var extension = Path.GetExtension(path).ToLowerInvariant();
        return extension is ".jsonl" or ".ndjson" or ".json"
            ? ReadJsonl(reader, path, log)
            : ReadColumns(reader, path, options.WordColumn, options.TagColumn, log);
    }

    /// <summary>Reads a CoNLL column file.</summary>
    public static IReadOnlyList<TokenExample> ReadColumns(string path, int wordColumn = 0, int? tagColumn = null)
    {
        using var reader = Open(path);
        return ReadColumns(reader, path, wordColumn, tagColumn);
    }

    /// <summary>Reads CoNLL columns from a reader; <paramref name="sourceName"/> names it in errors and in the examples.</summary>
    public static IReadOnlyList<TokenExample> ReadColumns(TextReader reader, string sourceName, int wordColumn = 0, int? tagColumn = null) =>
        ReadColumns(reader, sourceName, wordColumn, tagColumn, new InvalidRowLog(sourceName, skip: false, 0));

    /// <summary>
    /// Reads CoNLL columns; a line with another number of columns than the file's first word line, or with a tag that
    /// fits no scheme, goes to <paramref name="log"/> (which throws unless skipping), and its whole sentence is dropped.
    /// </summary>
    private static IReadOnlyList<TokenExample> ReadColumns(TextReader reader, string sourceName, int wordColumn, int? tagColumn, InvalidRowLog log)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (wordColumn < 0) throw new ArgumentOutOfRangeException(nameof(wordColumn), "The word column must be 0 or more.");
        if (tagColumn < 0) throw new ArgumentOutOfRangeException(nameof(tagColumn), "The tag column must be 0 or more.");

        var examples = new List<TokenExample>();
        var words = new List<string>();
        var tags = new List<string>();
        long firstLine = 0, lineNumber = 0;
        int? columnCount = null;
        bool invalid = false;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0 || fields[0] == DocumentStart)
            {
                Flush();
                continue;
            }
            if (invalid) continue;
            if (columnCount is null)
            {
                columnCount = fields.Length;
                var needed = Math.Max(wordColumn, tagColumn ?? 0) + 1;
                if (needed > fields.Length)
                    throw new DataException($"the line has {fields.Length} columns, but the word column is {wordColumn + 1} and the tag column {(tagColumn ?? fields.Length - 1) + 1} (1-based)", sourceName, lineNumber);
                if ((tagColumn ?? fields.Length - 1) == wordColumn)
                    throw new DataException($"the word and the tag are both read from column {wordColumn + 1}; a column file needs at least two columns", sourceName, lineNumber);
            }
            else if (fields.Length != columnCount)
            {
                Invalid(new DataException($"the line has {fields.Length} columns, but the file's first word line has {columnCount}", sourceName, lineNumber));
                continue;
            }
            var tagIndex = tagColumn ?? fields.Length - 1;
            var tag = fields[tagIndex];
            if (!TagSchemes.TryParseTag(tag, out _))
            {
                Invalid(new DataException(TagSchemes.InvalidTagMessage(tag), sourceName, lineNumber, (tagIndex + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                continue;
            }
            if (words.Count == 0) firstLine = lineNumber;
            words.Add(fields[wordColumn]);
            tags.Add(tag);
        }
        Flush();
        return examples;

        void Invalid(DataException error)
        {
            log.Invalid(error, lineNumber);
            invalid = true;
        }

        void Flush()
        {
            if (words.Count > 0 && !invalid)
                examples.Add(new TokenExample(words.ToArray(), tags.ToArray(), sourceName, firstLine) { OneWordPerLine = true });
            words.Clear();
            tags.Clear();
            invalid = false;
        }
    }

    /// <summary>Reads a JSONL file of <c>{"tokens": [...], "tags": [...]}</c> objects.</summary>
    public static IReadOnlyList<TokenExample> ReadJsonl(string path)
    {
        using var reader = Open(path);
        return ReadJsonl(reader, path);
    }

    /// <summary>Reads JSONL from a reader; <paramref name="sourceName"/> names it in errors and in the examples.</summary>
    public static IReadOnlyList<TokenExample> ReadJsonl(TextReader reader, string sourceName) =>
        ReadJsonl(reader, sourceName, new InvalidRowLog(sourceName, skip: false, 0));

    private static IReadOnlyList<TokenExample> ReadJsonl(TextReader reader, string sourceName, InvalidRowLog log)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        var examples = new List<TokenExample>();
        long lineNumber = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                examples.Add(ParseJsonLine(line, sourceName, lineNumber));
            }
            catch (DataException e)
            {
                log.Invalid(e, lineNumber);
            }
        }
        return examples;
    }

    private static TokenExample ParseJsonLine(string line, string sourceName, long lineNumber)
    {
        using (var document = JsonLine.ParseObject(line, sourceName, lineNumber, "\"tokens\" and \"tags\""))
        {
            var root = document.RootElement;
            var words = StringArray(root, "tokens", sourceName, lineNumber);
            var tags = StringArray(root, "tags", sourceName, lineNumber);
            if (words.Length != tags.Length)
                throw new DataException($"the line has {words.Length} tokens but {tags.Length} tags", sourceName, lineNumber);
            for (var i = 0; i < tags.Length; i++)
                if (!TagSchemes.TryParseTag(tags[i], out _))
                    throw new DataException($"tag {i + 1}: {TagSchemes.InvalidTagMessage(tags[i])}", sourceName, lineNumber, "tags");
            return new TokenExample(words, tags, sourceName, lineNumber);
        }
    }

    private static string[] StringArray(JsonElement root, string key, string sourceName, long lineNumber)
    {
        if (!root.TryGetProperty(key, out var array))
            throw new DataException($"the object has no \"{key}\"", sourceName, lineNumber, key);
        if (array.ValueKind != JsonValueKind.Array)
            throw new DataException($"\"{key}\" must be an array of strings", sourceName, lineNumber, key);
        var values = new string[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw new DataException($"item {i + 1} of \"{key}\" is {item.ValueKind.ToString().ToLowerInvariant()}, not a string", sourceName, lineNumber, key);
            values[i++] = item.GetString()!;
        }
        return values;
    }

    private static StreamReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw new DataException("is a folder; give a data file", path);
        if (!File.Exists(path)) throw new DataException("the file does not exist", path);
        TextFileCheck.Ensure(path, null, replaceInvalid: false, optionsApply: false);
        return new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
    }
}
