using System.Buffers.Binary;
using System.Text;

namespace FineTune.Checkpoints;

/// <summary>
/// Reads an ONNX model file (a protobuf-encoded onnx.ModelProto) without any protobuf library. The file is read
/// forward once through a small buffer; each tensor's data is copied straight into its own array, so the whole
/// file is never held twice. Tensors stored in external files are not supported. Every problem with the file is
/// a <see cref="ModelLoadException"/> naming it (and the tensor, where known).
/// </summary>
internal static class OnnxModelReader
{
    /// <summary>Reads the ONNX model at <paramref name="path"/>.</summary>
    public static OnnxModel Read(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException($"cannot open the ONNX file: {e.Message}", path, inner: e);
        }
        using (file)
            return Read(file, path);
    }

    /// <summary>
    /// Reads an ONNX model from <paramref name="stream"/>, from its current position to its end.
    /// <paramref name="source"/> names the stream in error messages (a path or a resource name).
    /// </summary>
    public static OnnxModel Read(Stream stream, string source)
    {
        long? length = stream.CanSeek ? stream.Length - stream.Position : null;
        if (length == 0)
            throw new ModelLoadException("the file is empty, not an ONNX model", source);
        var wire = new WireReader(stream, source);
        try
        {
            return ReadModel(wire, length ?? long.MaxValue);
        }
        catch (EndOfStreamException e)
        {
            throw new ModelLoadException($"unexpected end of data at byte {wire.Position}: the file is truncated or not an ONNX model", source, wire.CurrentTensor, e);
        }
        catch (IOException e)
        {
            throw new ModelLoadException($"cannot read the ONNX file: {e.Message}", source, wire.CurrentTensor, e);
        }
    }

    // Field numbers below are those of onnx/onnx.proto3.

    private static OnnxModel ReadModel(WireReader r, long end)
    {
        long? irVersion = null;
        string producer = "", producerVersion = "";
        OnnxGraph? graph = null;
        var opsets = new List<OnnxOpset>();
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            switch (field)
            {
                case 1: irVersion = (long)r.Varint(wire, "ir_version"); break;
                case 2: producer = r.String(wire, "producer_name"); break;
                case 3: producerVersion = r.String(wire, "producer_version"); break;
                case 7: graph = ReadGraph(r, r.Message(wire, "graph")); break;
                case 8: opsets.Add(ReadOpset(r, r.Message(wire, "opset_import"))); break;
                default: r.Skip(field, wire); break;
            }
        }
        if (irVersion is null || graph is null)
            throw r.Error(graph is null
                ? "no graph found: the file is not an ONNX model"
                : "no ir_version found: the file is not an ONNX model");
        if (opsets.Count == 0 && irVersion >= 3)
            throw r.Error("no opset_import found: the file is truncated or not an ONNX model");
        return new OnnxModel
        {
            Source = r.Source, IrVersion = irVersion.Value, ProducerName = producer, ProducerVersion = producerVersion,
            Opsets = opsets, Graph = graph,
        };
    }

    private static OnnxOpset ReadOpset(WireReader r, long end)
    {
        string domain = "";
        long version = 0;
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            if (field == 1) domain = r.String(wire, "opset domain");
            else if (field == 2) version = (long)r.Varint(wire, "opset version");
            else r.Skip(field, wire);
        }
        r.ExpectEnd(end, "opset_import");
        return new OnnxOpset(domain, version);
    }

    private static OnnxGraph ReadGraph(WireReader r, long end)
    {
        var nodes = new List<OnnxNode>();
        var initializers = new List<OnnxTensor>();
        var inputs = new List<OnnxValueInfo>();
        var outputs = new List<OnnxValueInfo>();
        string name = "";
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            switch (field)
            {
                case 1: nodes.Add(ReadNode(r, r.Message(wire, "node"))); break;
                case 2: name = r.String(wire, "graph name"); break;
                case 5: initializers.Add(ReadTensor(r, r.Message(wire, "initializer"))); break;
                case 11: inputs.Add(ReadValueInfo(r, r.Message(wire, "graph input"))); break;
                case 12: outputs.Add(ReadValueInfo(r, r.Message(wire, "graph output"))); break;
                case 15: throw r.Error("sparse initializers are not supported");
                default: r.Skip(field, wire); break;
            }
        }
        r.ExpectEnd(end, "graph");
        return new OnnxGraph { Name = name, Nodes = nodes, Initializers = initializers, Inputs = inputs, Outputs = outputs };
    }

    private static OnnxNode ReadNode(WireReader r, long end)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new List<OnnxAttribute>();
        string name = "", opType = "", domain = "";
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            switch (field)
            {
                case 1: inputs.Add(r.String(wire, "node input")); break;
                case 2: outputs.Add(r.String(wire, "node output")); break;
                case 3: name = r.String(wire, "node name"); break;
                case 4: opType = r.String(wire, "op_type"); break;
                case 5: attributes.Add(ReadAttribute(r, r.Message(wire, "attribute"))); break;
                case 7: domain = r.String(wire, "node domain"); break;
                default: r.Skip(field, wire); break;
            }
        }
        r.ExpectEnd(end, "node");
        if (opType.Length == 0) throw r.Error($"node '{name}' has no op_type: the file is not an ONNX model");
        return new OnnxNode { Name = name, OpType = opType, Domain = domain, Inputs = inputs, Outputs = outputs, Attributes = attributes };
    }

    private static OnnxAttribute ReadAttribute(WireReader r, long end)
    {
        string name = "", s = "";
        var type = OnnxAttributeType.Undefined;
        float f = 0;
        long i = 0;
        OnnxTensor? tensor = null;
        var floats = new List<float>();
        var ints = new List<long>();
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            switch (field)
            {
                case 1: name = r.String(wire, "attribute name"); break;
                case 2: f = r.Fixed32Float(wire, "attribute f"); break;
                case 3: i = (long)r.Varint(wire, "attribute i"); break;
                case 4: s = r.String(wire, "attribute s"); break;
                case 5: tensor = ReadTensor(r, r.Message(wire, "attribute t")); break;
                case 7: r.RepeatedFixed32(wire, "attribute floats", v => floats.Add(BitConverter.Int32BitsToSingle((int)v))); break;
                case 8: r.RepeatedVarint(wire, "attribute ints", v => ints.Add((long)v)); break;
                case 20: type = (OnnxAttributeType)(int)r.Varint(wire, "attribute type"); break;
                default: r.Skip(field, wire); break; // subgraphs, string lists, docs
            }
        }
        r.ExpectEnd(end, "attribute");
        return new OnnxAttribute { Name = name, Type = type, Float = f, Int = i, String = s, Tensor = tensor, Floats = floats, Ints = ints };
    }

    private static OnnxValueInfo ReadValueInfo(WireReader r, long end)
    {
        string name = "";
        var elementType = OnnxDataType.Undefined;
        List<string>? shape = null;
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            if (field == 1) name = r.String(wire, "value name");
            else if (field == 2)
            {
                long typeEnd = r.Message(wire, "value type");
                while (r.Position < typeEnd && r.TryReadTag(out int tf, out int tw))
                {
                    if (tf != 1) { r.Skip(tf, tw); continue; } // only tensor types are described
                    long tensorTypeEnd = r.Message(tw, "tensor type");
                    while (r.Position < tensorTypeEnd && r.TryReadTag(out int ef, out int ew))
                    {
                        if (ef == 1) elementType = (OnnxDataType)(int)r.Varint(ew, "elem_type");
                        else if (ef == 2) shape = ReadShape(r, r.Message(ew, "shape"));
                        else r.Skip(ef, ew);
                    }
                    r.ExpectEnd(tensorTypeEnd, "tensor type");
                }
                r.ExpectEnd(typeEnd, "value type");
            }
            else r.Skip(field, wire);
        }
        r.ExpectEnd(end, "value info");
        return new OnnxValueInfo(name, elementType, shape);
    }

    private static List<string> ReadShape(WireReader r, long end)
    {
        var dims = new List<string>();
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            if (field != 1) { r.Skip(field, wire); continue; }
            long dimEnd = r.Message(wire, "dim");
            string dim = "?";
            while (r.Position < dimEnd && r.TryReadTag(out int df, out int dw))
            {
                if (df == 1) dim = ((long)r.Varint(dw, "dim_value")).ToString(System.Globalization.CultureInfo.InvariantCulture);
                else if (df == 2) dim = r.String(dw, "dim_param");
                else r.Skip(df, dw);
            }
            r.ExpectEnd(dimEnd, "dim");
            dims.Add(dim);
        }
        r.ExpectEnd(end, "shape");
        return dims;
    }

    private static OnnxTensor ReadTensor(WireReader r, long end)
    {
        var dims = new List<long>();
        var type = OnnxDataType.Undefined;
        string name = "";
        byte[]? raw = null;
        // Typed repeated fields, kept as little-endian bytes of their field's element type until the type is known.
        var typed = new MemoryStream();
        int typedField = 0;
        bool external = false;
        string? location = null;
        r.CurrentTensor = null;
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            switch (field)
            {
                case 1: r.RepeatedVarint(wire, "dims", v => dims.Add((long)v)); break;
                case 2: type = (OnnxDataType)(int)r.Varint(wire, "data_type"); break;
                case 8: name = r.String(wire, "tensor name"); r.CurrentTensor = name.Length == 0 ? null : name; break;
                case 9: raw = r.Bytes(wire, "raw_data"); break;
                case 4: // float_data (fixed32)
                    typedField = 4;
                    r.RepeatedFixed32(wire, "float_data", v => WriteLe(typed, v, 4));
                    break;
                case 5: // int32_data (varint; also carries int8/16, bool and 16-bit float bit patterns)
                    typedField = 5;
                    r.RepeatedVarint(wire, "int32_data", v => WriteLe(typed, v, 4));
                    break;
                case 7: typedField = 7; r.RepeatedVarint(wire, "int64_data", v => WriteLe(typed, v, 8)); break;
                case 10: typedField = 10; r.RepeatedFixed64(wire, "double_data", v => WriteLe(typed, v, 8)); break;
                case 11: typedField = 11; r.RepeatedVarint(wire, "uint64_data", v => WriteLe(typed, v, 8)); break;
                case 13: external = true; location ??= ReadExternalLocation(r, r.Message(wire, "external_data")); break;
                case 14: external |= r.Varint(wire, "data_location") == 1; break;
                case 3: throw r.Error("segmented tensors are not supported");
                default: r.Skip(field, wire); break; // string_data, doc_string
            }
        }
        r.ExpectEnd(end, "tensor");
        if (external)
            throw r.Error($"the tensor's data is stored in an external file{(location is null ? "" : $" ('{location}')")}; external data is not supported, re-export the model with the weights inside the .onnx file");
        byte[] data = raw ?? FromTypedField(r, type, typedField, typed.ToArray());
        var tensor = new OnnxTensor(name, dims.ToArray(), type, data, r.Source);
        r.CurrentTensor = null;
        return tensor;
    }

    private static string? ReadExternalLocation(WireReader r, long end)
    {
        string key = "", value = "";
        while (r.Position < end && r.TryReadTag(out int field, out int wire))
        {
            if (field == 1) key = r.String(wire, "external_data key");
            else if (field == 2) value = r.String(wire, "external_data value");
            else r.Skip(field, wire);
        }
        return key == "location" ? value : null;
    }

    private static void WriteLe(MemoryStream s, ulong v, int size)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        s.Write(b[..size]);
    }

    /// <summary>Converts the contents of a typed repeated field to little-endian bytes of <paramref name="type"/>.</summary>
    private static byte[] FromTypedField(WireReader r, OnnxDataType type, int field, byte[] values)
    {
        if (field == 0) return [];
        int size = OnnxTensor.ElementSize(type);
        int expectedField = type switch
        {
            OnnxDataType.Float or OnnxDataType.Complex64 => 4,
            OnnxDataType.Int64 => 7,
            OnnxDataType.Double or OnnxDataType.Complex128 => 10,
            OnnxDataType.UInt32 or OnnxDataType.UInt64 => 11,
            OnnxDataType.Int32 or OnnxDataType.Int16 or OnnxDataType.UInt16 or OnnxDataType.Int8 or OnnxDataType.UInt8
                or OnnxDataType.Bool or OnnxDataType.Float16 or OnnxDataType.BFloat16 => 5,
            _ => -1,
        };
        if (expectedField != field)
            throw r.Error($"tensor of type {type} stores its values in protobuf field {field}, which does not hold that type");
        int stored = field is 4 or 5 ? 4 : 8;
        if (size == stored || type is OnnxDataType.Complex64 or OnnxDataType.Complex128) return values;
        // Narrow each stored value to the element size (int32_data holding int8/int16/float16, uint64_data holding uint32).
        int count = values.Length / stored;
        var data = new byte[count * size];
        for (int i = 0; i < count; i++)
            values.AsSpan(i * stored, size).CopyTo(data.AsSpan(i * size));
        return data;
    }

    /// <summary>The protobuf wire format over a forward-only stream, with its own buffer and byte position.</summary>
    private sealed class WireReader(Stream stream, string source)
    {
        private readonly byte[] _buffer = new byte[1 << 16];
        private int _start, _count;
        private long _consumed; // bytes handed out before _buffer[_start]

        public string Source { get; } = source;
        public long Position => _consumed;
        /// <summary>The tensor being read, for error messages.</summary>
        public string? CurrentTensor { get; set; }

        public ModelLoadException Error(string message) =>
            new($"{message} (at byte {Position})", Source, CurrentTensor);

        /// <summary>Reads the next field tag; false at the end of the stream.</summary>
        public bool TryReadTag(out int field, out int wire)
        {
            if (_count == 0 && !Fill())
            {
                field = wire = 0;
                return false;
            }
            ulong tag = ReadVarint();
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            if (field <= 0 || tag >> 3 > int.MaxValue || wire is 3 or 4 or 6 or 7)
                throw Error($"invalid protobuf field tag {tag}: the file is not an ONNX model or is damaged");
            return true;
        }

        public ulong Varint(int wire, string what)
        {
            Expect(wire, 0, what);
            return ReadVarint();
        }

        public float Fixed32Float(int wire, string what)
        {
            Expect(wire, 5, what);
            return BitConverter.Int32BitsToSingle((int)ReadFixed(4));
        }

        public string String(int wire, string what) => Encoding.UTF8.GetString(Bytes(wire, what));

        /// <summary>Reads the length of an embedded message and returns the position where it ends.</summary>
        public long Message(int wire, string what)
        {
            Expect(wire, 2, what);
            long length = Length(what);
            return Position + length;
        }

        public byte[] Bytes(int wire, string what)
        {
            Expect(wire, 2, what);
            long length = Length(what);
            if (length > Array.MaxLength) throw Error($"{what} of {length} bytes is too large");
            var result = new byte[length];
            ReadExactly(result);
            return result;
        }

        public void RepeatedVarint(int wire, string what, Action<ulong> add)
        {
            if (wire == 0) { add(ReadVarint()); return; }
            long end = Message(wire, what);
            while (Position < end) add(ReadVarint());
            ExpectEnd(end, what);
        }

        public void RepeatedFixed32(int wire, string what, Action<ulong> add) => RepeatedFixed(wire, 5, 4, what, add);
        public void RepeatedFixed64(int wire, string what, Action<ulong> add) => RepeatedFixed(wire, 1, 8, what, add);

        private void RepeatedFixed(int wire, int scalarWire, int size, string what, Action<ulong> add)
        {
            if (wire == scalarWire) { add(ReadFixed(size)); return; }
            Expect(wire, 2, what);
            long length = Length(what);
            if (length % size != 0) throw Error($"packed {what} has {length} bytes, not a multiple of {size}");
            for (long n = length / size; n > 0; n--) add(ReadFixed(size));
        }

        /// <summary>Skips a field this reader does not use.</summary>
        public void Skip(int field, int wire)
        {
            switch (wire)
            {
                case 0: ReadVarint(); break;
                case 1: SkipBytes(8); break;
                case 2: SkipBytes(Length($"field {field}")); break;
                case 5: SkipBytes(4); break;
                default: throw Error($"invalid protobuf wire type {wire}");
            }
        }

        /// <summary>Fails when a message's fields ran past the length its parent declared.</summary>
        public void ExpectEnd(long end, string what)
        {
            if (Position != end)
                throw Error($"{what} ends at byte {Position}, not at its declared end {end}: the file is damaged");
        }

        private void Expect(int wire, int expected, string what)
        {
            if (wire != expected)
                throw Error($"{what} has protobuf wire type {wire}, expected {expected}: the file is not an ONNX model or is damaged");
        }

        private long Length(string what)
        {
            ulong n = ReadVarint();
            long remaining = stream.CanSeek ? stream.Length - stream.Position + _count : long.MaxValue;
            if (n > (ulong)remaining)
                throw Error($"{what} declares {n} bytes but only {remaining} remain: the file is truncated or not an ONNX model");
            return (long)n;
        }

        private ulong ReadVarint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (_count == 0 && !Fill()) throw new EndOfStreamException();
                byte b = _buffer[_start++];
                _count--;
                _consumed++;
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return result;
            }
            throw Error("malformed varint: the file is not an ONNX model or is damaged");
        }

        private ulong ReadFixed(int size)
        {
            Span<byte> b = stackalloc byte[8];
            b.Clear();
            ReadExactly(b[..size]);
            return BinaryPrimitives.ReadUInt64LittleEndian(b);
        }

        private void ReadExactly(Span<byte> destination)
        {
            int fromBuffer = Math.Min(_count, destination.Length);
            _buffer.AsSpan(_start, fromBuffer).CopyTo(destination);
            _start += fromBuffer;
            _count -= fromBuffer;
            _consumed += fromBuffer;
            var rest = destination[fromBuffer..];
            if (rest.IsEmpty) return;
            if (rest.Length >= _buffer.Length)
            {
                stream.ReadExactly(rest); // large tensors go straight from the stream into their array
                _consumed += rest.Length;
            }
            else
            {
                while (!rest.IsEmpty)
                {
                    if (!Fill()) throw new EndOfStreamException();
                    int n = Math.Min(_count, rest.Length);
                    _buffer.AsSpan(_start, n).CopyTo(rest);
                    _start += n;
                    _count -= n;
                    _consumed += n;
                    rest = rest[n..];
                }
            }
        }

        private void SkipBytes(long n)
        {
            long fromBuffer = Math.Min(_count, n);
            _start += (int)fromBuffer;
            _count -= (int)fromBuffer;
            _consumed += fromBuffer;
            n -= fromBuffer;
            if (n == 0) return;
            if (stream.CanSeek)
            {
                if (stream.Position + n > stream.Length) throw new EndOfStreamException();
                stream.Seek(n, SeekOrigin.Current);
                _consumed += n;
                return;
            }
            while (n > 0)
            {
                if (!Fill()) throw new EndOfStreamException();
                int k = (int)Math.Min(_count, n);
                _start += k;
                _count -= k;
                _consumed += k;
                n -= k;
            }
        }

        private bool Fill()
        {
            _start = 0;
            _count = stream.Read(_buffer, 0, _buffer.Length);
            return _count > 0;
        }
    }
}
