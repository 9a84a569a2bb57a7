using System.Text;
using FineTune.Data;

namespace FineTune.Tests.Robustness;

/// <summary>Text files that are not what they claim: bytes that are not UTF-8, binary files, other encodings.</summary>
public class TextFileTests
{
    private static DatasetOptions Options(DataFileOptions? file = null) => new()
    {
        Columns = new ColumnMapping { Text = "text", Label = "label" },
        DataFile = file ?? new DataFileOptions(),
    };

    [Fact]
    public void InvalidUtf8IsAnErrorNamingTheLineAndByteOffset()
    {
        using var dir = new TestSupport.TempDir();
        var file = dir.File("latin1.csv");
        var head = "label,text\nham,fine\nspam,win now\n";
        File.WriteAllBytes(file, [.. Encoding.UTF8.GetBytes(head), .. Encoding.Latin1.GetBytes("ham,caf\u00e9 au lait\nspam,na\u00efve\n")]);
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(file), Options(), LabelKind.Class));
        // "ham,caf" is 7 bytes into line 4, which starts after the 32 bytes of the first three lines.
        Assert.Equal($"{file}:4: byte offset {head.Length + 7}: the bytes E9 are not valid UTF-8 (2 line(s) have such bytes); name the file's encoding "
                     + "(DataFileOptions.Encoding, e.g. latin-1 or windows-1252) or read them as U+FFFD (DataFileOptions.ReplaceInvalidUtf8)", e.Message);

        var latin1 = DatasetLoader.Load(new DatasetFiles(file), Options(new DataFileOptions { Encoding = Encoding.Latin1 }), LabelKind.Class);
        Assert.Equal("café au lait", latin1.Train[2].Text);
        Assert.Equal("naïve", latin1.Train[3].Text);

        var replaced = DatasetLoader.Load(new DatasetFiles(file), Options(new DataFileOptions { ReplaceInvalidUtf8 = true }), LabelKind.Class);
        Assert.Equal("caf\uFFFD au lait", replaced.Train[2].Text);
        Assert.Equal([$"{file}: 2 line(s) had bytes that are not UTF-8 and were read with U+FFFD in their place (the first at line 4)"], replaced.Summary.Warnings);
    }

    [Fact]
    public void MultiByteCharactersAcrossTheScannersChunksAreValid()
    {
        using var dir = new TestSupport.TempDir();
        var file = dir.File("long.jsonl");
        // Lines of 3- and 4-byte characters, so that 64 KiB chunk boundaries fall inside characters.
        var sb = new StringBuilder();
        for (int i = 0; i < 8000; i++)
            sb.Append("{\"text\": \"").Append(i % 2 == 0 ? "日本語のテキスト" : "emoji 😀🎉 ok").Append(i).Append("\", \"label\": \"").Append(i % 3).Append("\"}\n");
        File.WriteAllText(file, sb.ToString(), new UTF8Encoding(false));
        Assert.True(new FileInfo(file).Length > 3 * 65536);
        Assert.Equal(Utf8Scan.Valid, TextFileCheck.Scan(file, checkUtf8: true));

        // One bad byte far in: its line is found exactly.
        var bytes = File.ReadAllBytes(file);
        int lineStart = 0, line = 1;
        for (int i = 0; i < bytes.Length && line < 6500; i++)
            if (bytes[i] == '\n') { line++; lineStart = i + 1; }
        bytes[lineStart + 10] = 0xC0; // an overlong lead byte, never valid
        File.WriteAllBytes(file, bytes);
        var scan = TextFileCheck.Scan(file, checkUtf8: true);
        Assert.Equal((1, 6500L, (long)lineStart + 10), (scan.InvalidLines, scan.FirstInvalidLine, scan.FirstInvalidOffset));
    }

    [Fact]
    public void BinaryFilesFoldersAndUtf16AreToldApart()
    {
        using var dir = new TestSupport.TempDir();
        var binary = dir.File("model.csv");
        File.WriteAllBytes(binary, [0x50, 0x41, 0x52, 0x31, 0x00, 0x01, 0x02, 0x1B, 0x5B]);
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(binary), Options(), LabelKind.Class));
        Assert.Equal($"{binary}: not a text file: a NUL byte at byte offset 4 (a binary file? Parquet files are read by their .parquet extension or DataFileOptions.Format)", e.Message);

        Directory.CreateDirectory(dir.File("data.csv"));
        e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(dir.File("data.csv")), Options(), LabelKind.Class));
        Assert.Equal($"{dir.File("data.csv")}: is a folder; give a data file (CSV, TSV, JSONL or Parquet)", e.Message);

        var utf16 = dir.File("utf16.csv");
        File.WriteAllText(utf16, "label,text\nham,hello\nspam,win\n", Encoding.Unicode); // with its byte order mark
        var data = DatasetLoader.Load(new DatasetFiles(utf16), Options(), LabelKind.Class);
        Assert.Equal(["hello", "win"], data.Train.Select(t => t.Text));
    }

    [Fact]
    public void PredictionInputsAreCheckedToo()
    {
        using var dir = new TestSupport.TempDir();
        var file = dir.File("in.txt");
        File.WriteAllBytes(file, [.. "ok\n"u8, 0x66, 0xFF, 0x0A]);
        var e = Assert.Throws<DataException>(() => TextInputs.Read(file, new DataFileOptions(), "text"));
        Assert.StartsWith($"{file}:2: byte offset 4: the bytes FF are not valid UTF-8", e.Message);
        Assert.Equal(["ok", "f\uFFFD"], TextInputs.Read(file, new DataFileOptions { ReplaceInvalidUtf8 = true }, "text").Select(r => r.Text));
    }
}
