using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Checkpoints;

/// <summary>
/// Reads and writes the safetensors format (an 8-byte little-endian header length, a JSON header of
/// name -> {dtype, shape, data_offsets}, then the raw little-endian bytes). Every header entry is checked against
/// the file before any data is read, so a truncated or corrupt file is reported with the file and the key.
/// </summary>
internal static class SafeTensors
{
    /// <summary>One tensor's entry in a safetensors header.</summary>
    internal sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    /// <summary>The parsed header of a safetensors file: its entries, metadata and where the data starts.</summary>
    internal sealed record Header(IReadOnlyList<Entry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

    private const long MaxHeaderBytes = 100L << 20;

    /// <summary>Reads and validates the header of <paramref name="path"/>.</summary>
    public static Header ReadHeader(string path)
    {
        using var stream = OpenRead(path);
        return ReadHeader(stream, path);
    }

    private static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new ModelLoadException("weight file not found", path); }
        catch (IOException e) { throw new ModelLoadException($"cannot open: {e.Message}", path, inner: e); }
    }

    private static Header ReadHeader(FileStream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new ModelLoadException($"is {fileLength} bytes long: too short for a safetensors file (truncated?)", path);
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BitConverter.ToUInt64(lengthBytes);
        if (headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
            throw new ModelLoadException(
                $"the header claims {headerLength} bytes but the file has {fileLength - 8} after the length field: not a safetensors file, or truncated", path);
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
            throw new ModelLoadException("the header is not UTF-8 JSON: the file is damaged", path);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(headerBytes) as JsonObject ?? throw new ModelLoadException("the header is not a JSON object", path);
        }
        catch (JsonException e) { throw new ModelLoadException($"the header is not valid JSON: {e.Message}", path, inner: e); }

        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>();
        foreach (var (name, node) in root)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                    foreach (var (k, v) in meta)
                        metadata[k] = v?.ToString() ?? "";
                continue;
            }
            if (node is not JsonObject e)
                throw new ModelLoadException("header entry is not an object", path, name);
            var dtype = e["dtype"]?.GetValue<string>() ?? throw new ModelLoadException("header entry has no dtype", path, name);
            long[] shape, offsets;
            try
            {
                shape = e["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                offsets = e["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            }
            catch (Exception ex) when (ex is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw new ModelLoadException("header entry needs an integer \"shape\" array and two \"data_offsets\"", path, name, ex);
            }
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
                throw new ModelLoadException("bad data_offsets", path, name);
            if (shape.Any(d => d < 0))
                throw new ModelLoadException("negative dimension in shape", path, name);
            long expected = shape.Aggregate(1L, (a, d) => a * d) * ElementSize(dtype, path, name);
            if (offsets[1] - offsets[0] != expected)
                throw new ModelLoadException(
                    $"shape [{string.Join(", ", shape)}] of {dtype} needs {expected} bytes but data_offsets give {offsets[1] - offsets[0]}", path, name);
            if (offsets[1] > dataLength)
                throw new ModelLoadException(
                    $"data runs to byte {offsets[1]} but the file holds only {dataLength} bytes of data: the file is truncated", path, name);
            entries.Add(new Entry(name, dtype, shape, offsets[0], offsets[1]));
        }
        return new Header(entries, metadata, dataStart);
    }

    private static int ElementSize(string dtype, string path, string key) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => throw new ModelLoadException($"unsupported dtype '{dtype}'", path, key),
    };

    private static ScalarType ToScalarType(string dtype, string path, string key) => dtype switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new ModelLoadException($"dtype '{dtype}' has no torch equivalent here", path, key),
    };

    private static string ToDType(ScalarType type) => type switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"cannot store {type} in safetensors"),
    };

    /// <summary>
    /// Loads the tensors of a safetensors file onto the CPU. <paramref name="keep"/> selects keys (null: all).
    /// Tensors are created outside any dispose scope; the caller owns them.
    /// </summary>
    public static Dictionary<string, Tensor> Load(string path, Func<string, bool>? keep = null)
    {
        using var stream = OpenRead(path);
        var header = ReadHeader(stream, path);
        var result = new Dictionary<string, Tensor>(header.Entries.Count);
        var buffer = Array.Empty<byte>();
        using var noScope = NewDisposeScope();
        foreach (var e in header.Entries.OrderBy(e => e.Begin))
        {
            if (keep is not null && !keep(e.Name)) continue;
            long length = e.End - e.Begin;
            if (length > int.MaxValue)
                throw new ModelLoadException("tensors over 2 GiB are not supported", path, e.Name);
            if (buffer.Length < length) buffer = new byte[length];
            stream.Position = header.DataStart + e.Begin;
            stream.ReadExactly(buffer, 0, (int)length);
            var t = empty(e.Shape, ToScalarType(e.DType, path, e.Name));
            t.bytes = buffer.AsSpan(0, (int)length);
            result[e.Name] = t.MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>
    /// Writes tensors (in the given order) with the given metadata; Hugging Face expects {"format": "pt"}.
    /// The file is written under a temporary name and renamed into place.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        var meta = new JsonObject();
        foreach (var (k, v) in metadata ?? new Dictionary<string, string> { ["format"] = "pt" })
            meta[k] = v;
        header["__metadata__"] = meta;
        long offset = 0;
        foreach (var (name, t) in list)
        {
            long length = t.NumberOfElements * t.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = ToDType(t.dtype),
                ["shape"] = new JsonArray(t.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + length),
            };
            offset += length;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        var tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                stream.Write(BitConverter.GetBytes((ulong)padded));
                stream.Write(json);
                for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
                foreach (var (_, t) in list)
                {
                    using var cpu = t.device_type == DeviceType.CPU ? t.alias() : t.cpu();
                    using var contiguous = cpu.contiguous();
                    stream.Write(contiguous.bytes);
                }
                stream.Flush(true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
