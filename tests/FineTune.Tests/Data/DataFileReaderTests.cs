using FineTune.Data;
using Parquet;
using Parquet.Schema;

namespace FineTune.Tests.Data;

public class DataFileReaderTests
{
    [Theory]
    [InlineData("a.csv", DataFormat.Csv)]
    [InlineData("a.TSV", DataFormat.Tsv)]
    [InlineData("a.tab", DataFormat.Tsv)]
    [InlineData("a.jsonl", DataFormat.JsonLines)]
    [InlineData("a.ndjson", DataFormat.JsonLines)]
    [InlineData("a.json", DataFormat.JsonLines)]
    [InlineData("a.parquet", DataFormat.Parquet)]
    public void FormatComesFromTheExtension(string file, DataFormat expected) =>
        Assert.Equal(expected, new DataFileOptions().ResolveFormat(file));

    [Fact]
    public void UnknownExtensionAsksForTheFormat()
    {
        var e = Assert.Throws<DataException>(() => new DataFileOptions().ResolveFormat("data.txt"));
        Assert.Equal("data.txt: cannot tell the format from the extension '.txt'; name it explicitly (csv, tsv, jsonl or parquet)", e.Message);
        Assert.Equal(DataFormat.Tsv, new DataFileOptions { Format = DataFormat.Tsv }.ResolveFormat("data.txt"));
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        var e = Assert.Throws<DataException>(() => DataFileReader.Open("/nonexistent/train.csv"));
        Assert.Equal("/nonexistent/train.csv: file not found", e.Message);
    }

    [Fact]
    public void Csv_QuotedFieldsAreUnescaped_AndRowsKeepTheirFirstLineNumber()
    {
        using var dir = new TempFolder();
        var file = dir.Write("spam.csv",
            "label,text\n" +
            "ham,\"Hello, world\"\n" +
            "spam,\"WIN \"\"BIG\"\" now\nreply STOP\"\n" +
            "\n" +
            "ham,plain\n");
        var rows = DataFileReader.Open(file).ReadRows().ToArray();

        Assert.Equal(3, rows.Length);
        Assert.All(rows, r => Assert.Null(r.Error));
        Assert.Equal(("Hello, world", 2L), (rows[0]["text"].Text, rows[0].SourceRow));
        Assert.Equal(("WIN \"BIG\" now\nreply STOP", 3L), (rows[1]["text"].Text, rows[1].SourceRow));
        Assert.Equal(("plain", 6L), (rows[2]["text"].Text, rows[2].SourceRow));
    }

    [Fact]
    public void Tsv_QuotesAreTextByDefault()
    {
        using var dir = new TempFolder();
        var file = dir.Write("rte.tsv", "s\tlabel\n\"Quoted start\tx\nmid \"quote\ty\n");
        var rows = DataFileReader.Open(file).ReadRows().ToArray();
        Assert.Equal(["\"Quoted start", "mid \"quote"], rows.Select(r => r["s"].Text));
        Assert.Equal([2L, 3L], rows.Select(r => r.SourceRow));
    }

    [Fact]
    public void CrLfLineEndsAndBomAreHandled()
    {
        using var dir = new TempFolder();
        var file = dir.File("win.csv");
        File.WriteAllBytes(file, [0xEF, 0xBB, 0xBF, .. "text,label\r\nhello,1\r\nbye,0\r\n"u8.ToArray()]);
        var reader = DataFileReader.Open(file);
        Assert.Equal(["text", "label"], reader.Columns);
        Assert.Equal(["1", "0"], reader.ReadRows().Select(r => r["label"].Text));
    }

    [Fact]
    public void WrongFieldCountNamesFileLineAndCounts()
    {
        using var dir = new TempFolder();
        var file = dir.Write("bad.tsv", "sentence\tlabel\ngood\t1\nsplit\tby\ttab\t0\nshort\n");
        var rows = DataFileReader.Open(file).ReadRows().ToArray();
        Assert.Null(rows[0].Error);
        Assert.Equal($"{file}:3: expected 2 fields (sentence, label), found 4", rows[1].Error!.Message);
        Assert.Equal($"{file}:4: expected 2 fields (sentence, label), found 1", rows[2].Error!.Message);
        Assert.Equal((file, 3L, (string?)null), (rows[1].Error!.FilePath, rows[1].Error!.Row!.Value, rows[1].Error!.Column));
    }

    [Fact]
    public void HeaderlessFileNeedsColumnNames()
    {
        using var dir = new TempFolder();
        var file = dir.Write("x.tsv", "a\t1\n");
        var e = Assert.Throws<DataException>(() => DataFileReader.Open(file, new DataFileOptions { HasHeader = false }));
        Assert.Equal($"{file}: the file has no header line; name its columns (ColumnNames)", e.Message);

        var reader = DataFileReader.Open(file, new DataFileOptions { HasHeader = false, ColumnNames = ["text", "label"] });
        var row = Assert.Single(reader.ReadRows());
        Assert.Equal((1L, "a", "1"), (row.SourceRow, row["text"].Text, row["label"].Text));
    }

    [Fact]
    public void ColumnNamesReplaceAHeaderOfTheSameWidth()
    {
        using var dir = new TempFolder();
        var file = dir.Write("x.csv", "Sentence,Label\nhi,1\n");
        Assert.Equal(["text", "label"], DataFileReader.Open(file, new DataFileOptions { ColumnNames = ["text", "label"] }).Columns);
        var e = Assert.Throws<DataException>(() => DataFileReader.Open(file, new DataFileOptions { ColumnNames = ["text"] }));
        Assert.Equal($"{file}:1: 1 column names were given but the header line has 2 fields (Sentence, Label)", e.Message);
    }

    [Fact]
    public void EmptyFileAndDuplicateColumnsAreErrors()
    {
        using var dir = new TempFolder();
        var empty = dir.Write("empty.csv", "");
        Assert.Equal($"{empty}: the file is empty; expected a header line",
            Assert.Throws<DataException>(() => DataFileReader.Open(empty)).Message);
        var dup = dir.Write("dup.csv", "text,text\na,b\n");
        Assert.Equal($"{dup}: duplicate column name 'text'", Assert.Throws<DataException>(() => DataFileReader.Open(dup)).Message);
    }

    [Fact]
    public void JsonLines_ValuesListsNullsAndLineNumbers()
    {
        using var dir = new TempFolder();
        var file = dir.Write("d.jsonl",
            "{\"text\": \"first\", \"label\": 1, \"tags\": [\"a\", \"b\"], \"ok\": true}\n" +
            "\n" +
            "{\"text\": \"third line\", \"label\": 2.5, \"tags\": [], \"ok\": false, \"extra\": null}\n" +
            "{\"text\": \"broken\", \n" +
            "[1, 2]\n");
        var reader = DataFileReader.Open(file);
        Assert.Equal(["text", "label", "tags", "ok"], reader.Columns);
        var rows = reader.ReadRows().ToArray();

        Assert.Equal(4, rows.Length);
        Assert.Equal((1L, "1", "true"), (rows[0].SourceRow, rows[0]["label"].Text, rows[0]["ok"].Text));
        Assert.Equal(["a", "b"], rows[0]["tags"].Items!);
        Assert.Equal((3L, "2.5"), (rows[1].SourceRow, rows[1]["label"].Text));
        Assert.Empty(rows[1]["tags"].Items!);
        Assert.True(rows[1]["extra"].IsMissing);
        Assert.StartsWith($"{file}:4: invalid JSON: ", rows[2].Error!.Message);
        Assert.Equal($"{file}:5: expected a JSON object, found an array", rows[3].Error!.Message);
    }

    [Fact]
    public void JsonArrayFileIsRejectedWithAHint()
    {
        using var dir = new TempFolder();
        var file = dir.Write("d.json", "[{\"text\": \"a\"}]\n");
        var e = Assert.Throws<DataException>(() => DataFileReader.Open(file));
        Assert.Equal($"{file}:1: the file is a JSON array; expected JSON Lines (one JSON object per line)", e.Message);
    }

    [Fact]
    public async Task Parquet_RowGroupsStreamWithRowIndices()
    {
        using var dir = new TempFolder();
        var file = dir.File("d.parquet");
        await WriteParquet(file);

        var reader = DataFileReader.Open(file);
        Assert.Equal(DataFormat.Parquet, reader.Format);
        Assert.Equal(["text", "label", "score", "tags"], reader.Columns);
        var rows = reader.ReadRows().ToArray();

        Assert.Equal([1L, 2L, 3L, 4L], rows.Select(r => r.SourceRow));
        Assert.Equal(["good film", "dull", "fine", null], rows.Select(r => r["text"].Text));
        Assert.Equal(["1", "0", "1", "0"], rows.Select(r => r["label"].Text));
        Assert.Equal(["4.5", "1.25", "3", "0"], rows.Select(r => r["score"].Text));
        Assert.Equal(["joy", "love"], rows[0]["tags"].Items!);
        Assert.Empty(rows[3]["tags"].Items!);
    }

    [Fact]
    public void Parquet_NotAParquetFile()
    {
        using var dir = new TempFolder();
        var file = dir.Write("d.parquet", "text,label\nhello,1\n");
        var e = Assert.Throws<DataException>(() => DataFileReader.Open(file));
        Assert.StartsWith($"{file}: not a readable Parquet file: ", e.Message);
    }

    /// <summary>Two row groups: (good film, dull) and (fine, null text).</summary>
    internal static async Task WriteParquet(string file)
    {
        var text = new DataField<string>("text");
        var label = new DataField<long>("label");
        var score = new DataField<double>("score");
        var tags = new ListField("tags", new DataField<string>("element"));
        var schema = new ParquetSchema(text, label, score, tags);
        await using var stream = File.Create(file);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream);
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync(text, new[] { "good film", "dull" });
            await group.WriteAsync<long>(label, new long[] { 1, 0 }.AsMemory());
            await group.WriteAsync<double>(score, new[] { 4.5, 1.25 }.AsMemory());
            await group.WriteAsync((DataField)tags.Item, new[] { "joy", "love", "anger" }, new[] { 0, 1, 0 });
        }
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync(text, new[] { "fine", null! });
            await group.WriteAsync<long>(label, new long[] { 1, 0 }.AsMemory());
            await group.WriteAsync<double>(score, new[] { 3.0, 0.0 }.AsMemory());
            await group.WriteAsync((DataField)tags.Item, new[] { "joy", null! }, new[] { 0, 0 });
        }
    }
}
