using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace FineTune.Data;

/// <summary>What a scan of a UTF-8 text file found: its lines with invalid bytes (the first one's line and byte offset).</summary>
internal sealed record Utf8Scan(int InvalidLines, long FirstInvalidLine, long FirstInvalidOffset, string FirstInvalidBytes)
{
    public static readonly Utf8Scan Valid = new(0, 0, 0, "");
}

/// <summary>
/// Checks a text file before it is read: a binary file (a NUL byte) is an error, and so is a byte sequence that is not
/// UTF-8 when the file is read as UTF-8, naming the line and byte offset, unless the options name another encoding or
/// accept the replacement character (<see cref="DataFileOptions.ReplaceInvalidUtf8"/>). A file is scanned once per
/// process as long as its size and time stamp stay the same.
/// </summary>
internal static class TextFileCheck
{
    private const int ChunkSize = 1 << 16;
    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written), Utf8Scan> s_scans = new();

    /// <summary>
    /// Throws a <see cref="DataException"/> for a binary file, or for invalid UTF-8 unless accepted; returns the scan.
    /// <paramref name="optionsApply"/>: whether the reader takes <see cref="DataFileOptions"/> (else the message says to convert the file).
    /// </summary>
    public static Utf8Scan Ensure(string path, Encoding? encoding, bool replaceInvalid, bool optionsApply = true)
    {
        var info = new FileInfo(path);
        var scan = s_scans.GetOrAdd((info.FullName, info.Length, info.LastWriteTimeUtc), _ => Scan(path, checkUtf8: true));
        bool utf8 = encoding is null || encoding.CodePage == Encoding.UTF8.CodePage;
        if (scan.InvalidLines > 0 && utf8 && !replaceInvalid)
            throw new DataException(string.Create(CultureInfo.InvariantCulture,
                $"byte offset {scan.FirstInvalidOffset}: the bytes {scan.FirstInvalidBytes} are not valid UTF-8 ({scan.InvalidLines} line(s) have such bytes); {(optionsApply
                    ? "name the file's encoding (DataFileOptions.Encoding, e.g. latin-1 or windows-1252) or read them as U+FFFD (DataFileOptions.ReplaceInvalidUtf8)"
                    : "convert the file to UTF-8")}"),
                path, scan.FirstInvalidLine);
        return utf8 ? scan : Utf8Scan.Valid;
    }

    /// <summary>For a text file read with <see cref="DataFileOptions.ReplaceInvalidUtf8"/>: how many of its lines had bytes replaced, or null.</summary>
    public static string? ReplacedWarning(string path, DataFileOptions options)
    {
        if (!options.ReplaceInvalidUtf8 || options.ResolveFormat(path) == DataFormat.Parquet) return null;
        var scan = Ensure(path, options.Encoding, replaceInvalid: true);
        return scan.InvalidLines == 0 ? null
            : string.Create(CultureInfo.InvariantCulture, $"{path}: {scan.InvalidLines} line(s) had bytes that are not UTF-8 and were read with U+FFFD in their place (the first at line {scan.FirstInvalidLine})");
    }

    /// <summary>Scans a file: a NUL byte in its first 64 KB is a <see cref="DataException"/>; invalid UTF-8 is counted by line.</summary>
    internal static Utf8Scan Scan(string path, bool checkUtf8)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, ChunkSize, FileOptions.SequentialScan);
        var buffer = new byte[ChunkSize + 4];
        int carry = 0;
        long offset = 0, line = 1;
        int invalidLines = 0;
        long firstLine = 0, firstOffset = 0, lastInvalidLine = 0;
        string firstBytes = "";
        bool first = true;
        while (true)
        {
            int read = stream.Read(buffer, carry, ChunkSize);
            int length = carry + read;
            if (length == 0) break;
            var span = buffer.AsSpan(0, length);
            if (first)
            {
                first = false;
                // UTF-16 and UTF-32 files (with a byte order mark) are read by the reader's detection; they are not UTF-8.
                if (span.Length >= 2 && ((span[0] == 0xFF && span[1] == 0xFE) || (span[0] == 0xFE && span[1] == 0xFF))) return Utf8Scan.Valid;
                int nul = span.IndexOf((byte)0);
                if (nul >= 0)
                    throw new DataException(string.Create(CultureInfo.InvariantCulture,
                        $"not a text file: a NUL byte at byte offset {nul} (a binary file? Parquet files are read by their .parquet extension or DataFileOptions.Format)"), path);
            }
            // Keep an incomplete sequence at the end for the next chunk (unless the file ends here).
            int complete = read == 0 ? length : CompletePrefix(span);
            var body = span[..complete];
            if (!checkUtf8 || System.Text.Unicode.Utf8.IsValid(body))
            {
                line += body.Count((byte)'\n');
            }
            else
            {
                int i = 0;
                while (i < body.Length)
                {
                    var status = Rune.DecodeFromUtf8(body[i..], out _, out int consumed);
                    if (status != System.Buffers.OperationStatus.Done)
                    {
                        if (line != lastInvalidLine)
                        {
                            invalidLines++;
                            lastInvalidLine = line;
                        }
                        if (firstLine == 0)
                        {
                            firstLine = line;
                            firstOffset = offset + i;
                            firstBytes = Convert.ToHexString(body.Slice(i, Math.Min(Math.Max(consumed, 1), 4)).ToArray());
                            firstBytes = string.Join(" ", Enumerable.Range(0, firstBytes.Length / 2).Select(k => firstBytes.Substring(2 * k, 2)));
                        }
                    }
                    else if (body[i] == (byte)'\n') line++;
                    i += Math.Max(consumed, 1);
                }
            }
            offset += complete;
            carry = length - complete;
            span[complete..].CopyTo(buffer);
            if (read == 0) break;
        }
        return invalidLines == 0 ? Utf8Scan.Valid : new Utf8Scan(invalidLines, firstLine, firstOffset, firstBytes);
    }

    /// <summary>The length of the longest prefix that does not end inside a multi-byte sequence.</summary>
    private static int CompletePrefix(ReadOnlySpan<byte> span)
    {
        // Look back at most 3 bytes for the lead byte of a sequence that may continue past the end.
        for (int back = 1; back <= Math.Min(3, span.Length); back++)
        {
            byte b = span[^back];
            if ((b & 0xC0) == 0x80) continue; // a continuation byte: keep looking for its lead
            int needed = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return needed > back ? span.Length - back : span.Length;
        }
        return span.Length;
    }
}
