using System.IO.Compression;
using System.Text;

namespace FineTune.Data;

/// <summary>
/// A source text and its target (a sentence and its translation, a document and its summary), and where it was read:
/// the source's file and 1-based row (line).
/// </summary>
internal sealed record TextPair(string Source, string Target, string SourceFile, long SourceRow);

/// <summary>
/// Reads source/target pairs: from two line-aligned plain-text files (line i of one is the counterpart of line i of
/// the other; .gz files are decompressed as they are read), or from the source and target columns of a CSV, TSV,
/// JSONL or Parquet file. An empty source or target is an invalid row (an error naming the file, row and column, or
/// skipped and counted); two files with different numbers of lines are an error naming both.
/// </summary>
internal static class ParallelText
{
    /// <summary>The lines of a UTF-8 text file, gzip-compressed when its name ends in .gz; a final empty line (the file's last newline) is not a line.</summary>
    public static List<string> ReadLines(string path)
    {
        if (!File.Exists(path)) throw new DataException("file not found", path);
        try
        {
            using var file = File.OpenRead(path);
            using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
            using var reader = new StreamReader(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), detectEncodingFromByteOrderMarks: true);
            var lines = new List<string>();
            while (reader.ReadLine() is { } line) lines.Add(line);
            return lines;
        }
        catch (InvalidDataException e)
        {
            throw new DataException($"cannot be read as gzip: {e.Message}", path);
        }
    }

    /// <summary>Pairs from two line-aligned files; invalid lines (an empty side) stop the read unless <paramref name="skipInvalid"/>.</summary>
    public static (List<TextPair> Pairs, SkippedRows Skipped) ReadFiles(string sourceFile, string targetFile, bool skipInvalid, int reported = 5)
    {
        var sources = ReadLines(sourceFile);
        var targets = ReadLines(targetFile);
        if (sources.Count != targets.Count)
            throw new DataException($"the parallel files differ in length: {sourceFile} has {sources.Count} lines and {targetFile} has {targets.Count}", sourceFile);
        var pairs = new List<TextPair>(sources.Count);
        var skipped = new SkippedCollector(sourceFile, skipInvalid, reported);
        for (int i = 0; i < sources.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(sources[i])) skipped.Add(new DataException("the source line is empty", sourceFile, i + 1));
            else if (string.IsNullOrWhiteSpace(targets[i])) skipped.Add(new DataException("the target line is empty", targetFile, i + 1));
            else pairs.Add(new TextPair(sources[i], targets[i], sourceFile, i + 1));
        }
        return (pairs, skipped.Result);
    }

    /// <summary>Pairs from the source and target columns of a data file.</summary>
    public static (List<TextPair> Pairs, SkippedRows Skipped) ReadColumns(string file, DataFileOptions options, string sourceColumn, string targetColumn,
        bool skipInvalid, int reported = 5)
    {
        var reader = DataFileReader.Open(file, options);
        foreach (var column in new[] { sourceColumn, targetColumn })
            if (!reader.Columns.Contains(column))
                throw new DataException($"no such column; the file's columns are: {DataFileReader.JoinNames(reader.Columns)}", file, column: column);
        var pairs = new List<TextPair>();
        var skipped = new SkippedCollector(file, skipInvalid, reported);
        foreach (var row in reader.ReadRows())
        {
            if (row.Error is not null)
            {
                skipped.Add(row.Error);
                continue;
            }
            var source = row[sourceColumn].Text;
            var target = row[targetColumn].Text;
            if (string.IsNullOrWhiteSpace(source)) skipped.Add(new DataException(source is null ? "the source is missing or not text" : "the source is empty", file, row.SourceRow, sourceColumn));
            else if (string.IsNullOrWhiteSpace(target)) skipped.Add(new DataException(target is null ? "the target is missing or not text" : "the target is empty", file, row.SourceRow, targetColumn));
            else pairs.Add(new TextPair(source, target, file, row.SourceRow));
        }
        return (pairs, skipped.Result);
    }

    /// <summary>
    /// The target-side file of a held-out source file, named as the training target is named after the training
    /// source: with train.de.gz and train.en.gz, val.de.gz → val.en.gz (in the held-out file's folder). Null when
    /// <paramref name="heldOutSource"/>'s name does not end as the training source's does.
    /// </summary>
    public static string? Counterpart(string heldOutSource, string trainSource, string trainTarget)
    {
        string s = Path.GetFileName(trainSource), t = Path.GetFileName(trainTarget);
        int prefix = 0;
        while (prefix < s.Length && prefix < t.Length && s[prefix] == t[prefix]) prefix++;
        int suffix = 0;
        while (suffix < s.Length - prefix && suffix < t.Length - prefix && s[^(suffix + 1)] == t[^(suffix + 1)]) suffix++;
        string sourceEnd = s[prefix..], targetEnd = t[prefix..^suffix] + s[^suffix..];   // "de.gz", "en.gz"
        var name = Path.GetFileName(heldOutSource);
        if (sourceEnd.Length == 0 || s == t || !name.EndsWith(sourceEnd, StringComparison.Ordinal)) return null;
        return Path.Combine(Path.GetDirectoryName(heldOutSource) ?? "", name[..^sourceEnd.Length] + targetEnd);
    }

    /// <summary>Invalid rows: the first one thrown unless they are skipped, then counted with the first reasons.</summary>
    private sealed class SkippedCollector(string file, bool skip, int reported)
    {
        private readonly List<string> _reasons = [];
        private int _count;

        public void Add(DataException error)
        {
            if (!skip) throw error;
            _count++;
            if (_reasons.Count < reported) _reasons.Add(error.Message);
        }

        public SkippedRows Result => new(file, _count, _reasons);
    }
}
