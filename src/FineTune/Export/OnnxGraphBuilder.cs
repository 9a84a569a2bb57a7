using System.Runtime.InteropServices;
using FineTune.Checkpoints.Onnx;
using Google.Protobuf;
using DataType = FineTune.Checkpoints.Onnx.TensorProto.Types.DataType;

namespace FineTune.Export;

/// <summary>
/// Builds an ONNX graph (the protobuf classes generated from onnx.proto) node by node: inputs and outputs with
/// symbolic dimensions, weights and constants as initializers, and operators in the order they are added (which is
/// topological, since every node's inputs exist before it). Value names are the scope (the module path) and the
/// operator, made unique with a counter.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly Dictionary<string, int> _used = new(StringComparer.Ordinal);
    private readonly HashSet<string> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);

    public GraphProto Graph { get; } = new() { Name = "main_graph" };

    /// <summary>The module path that names the values made next ("bert/encoder/layer.0/attention").</summary>
    public string Scope { get; set; } = "";

    /// <summary>A graph input of <paramref name="type"/> whose dimensions are symbolic names or sizes.</summary>
    public string Input(string name, DataType type, params object[] dims)
    {
        Graph.Input.Add(ValueInfo(name, type, dims));
        Reserve(name);
        return name;
    }

    /// <summary>Declares <paramref name="value"/> a graph output named <paramref name="name"/> (an Identity renames it when needed).</summary>
    public void Output(string value, string name, DataType type, params object[] dims)
    {
        if (value != name)
        {
            Reserve(name);
            Graph.Node.Add(new NodeProto { Name = name + "/Identity", OpType = "Identity", Input = { value }, Output = { name } });
        }
        Graph.Output.Add(ValueInfo(name, type, dims));
    }

    /// <summary>A float32 initializer named <paramref name="name"/> (a weight under its checkpoint name).</summary>
    public string Weight(string name, ReadOnlySpan<float> data, params long[] dims) =>
        Initializer(name, DataType.Float, MemoryMarshal.AsBytes(data), dims);

    /// <summary>An initializer of raw little-endian bytes of <paramref name="type"/>.</summary>
    public string Initializer(string name, DataType type, ReadOnlySpan<byte> data, params long[] dims)
    {
        Reserve(name);
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(data) };
        tensor.Dims.AddRange(dims);
        Graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>An int64 constant (1-D, or a scalar when <paramref name="scalar"/>), shared by every use of the same values.</summary>
    public string Int64s(long[] values, bool scalar = false) =>
        Constant($"i64:{scalar}:{string.Join(",", values)}", DataType.Int64, MemoryMarshal.AsBytes(values.AsSpan()), scalar ? [] : [values.Length]);

    /// <summary>A float32 scalar constant, shared by every use of the same value.</summary>
    public string Float(float value)
    {
        Span<float> one = [value];
        return Constant($"f32:{BitConverter.SingleToInt32Bits(value)}", DataType.Float, MemoryMarshal.AsBytes(one), []);
    }

    private string Constant(string key, DataType type, ReadOnlySpan<byte> data, long[] dims)
    {
        if (_constants.TryGetValue(key, out var name)) return name;
        name = Unique("const");
        Initializer(name, type, data, dims);
        _constants[key] = name;
        return name;
    }

    /// <summary>Adds an operator with one output and returns the output's name.</summary>
    public string Node(string op, IReadOnlyList<string> inputs, params (string Name, object Value)[] attributes) =>
        Node(op, inputs, 1, attributes)[0];

    /// <summary>Adds an operator with <paramref name="outputs"/> outputs and returns their names.</summary>
    public string[] Node(string op, IReadOnlyList<string> inputs, int outputs, params (string Name, object Value)[] attributes)
    {
        var name = Unique((Scope.Length > 0 ? Scope + "/" : "") + op);
        var node = new NodeProto { Name = name, OpType = op };
        node.Input.AddRange(inputs);
        var names = Enumerable.Range(0, outputs).Select(i => outputs == 1 ? name + "_output" : $"{name}_output_{i}").ToArray();
        foreach (var n in names) Reserve(n);
        node.Output.AddRange(names);
        foreach (var (attribute, value) in attributes) node.Attribute.Add(Attribute(attribute, value));
        Graph.Node.Add(node);
        return names;
    }

    private static AttributeProto Attribute(string name, object value) => value switch
    {
        long i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        int i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
        double f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = (float)f },
        long[] ints => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { ints } },
        string s => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
        _ => throw new ArgumentException($"unsupported attribute value {value.GetType().Name}", nameof(value)),
    };

    internal static ValueInfoProto ValueInfo(string name, DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d switch
            {
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                int size => new TensorShapeProto.Types.Dimension { DimValue = size },
                long size => new TensorShapeProto.Types.Dimension { DimValue = size },
                _ => throw new ArgumentException($"a dimension is a name or a size, not {d.GetType().Name}", nameof(dims)),
            });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    private string Unique(string stem)
    {
        int n = _used.GetValueOrDefault(stem);
        string name;
        do name = n++ == 0 ? stem : $"{stem}_{n - 1}";
        while (_values.Contains(name));
        _used[stem] = n;
        return name;
    }

    private void Reserve(string name)
    {
        if (!_values.Add(name)) throw new InvalidOperationException($"two values of the graph are named '{name}'");
    }
}
