using System.Runtime.InteropServices;
using FineTune.Checkpoints.Onnx;
using Google.Protobuf;
using DataType = FineTune.Checkpoints.Onnx.TensorProto.Types.DataType;

namespace FineTune.Export;

/// <summary>
/// Dynamic int8 quantization of an exported graph, in standard ONNX operators: every MatMul with a weight becomes
/// DynamicQuantizeLinear of its activation (uint8, scale and zero point computed at run time; one per activation,
/// shared by the projections that read it) and MatMulInteger with the weight quantized to int8 per output column
/// (symmetric, zero point 0), the int32 product scaled back to float by the two scales. The word-embedding table
/// (the Gather of input_ids) is stored as int8 with a scale per row and dequantized after the lookup. The
/// activation products of attention, LayerNorm, softmax and the other embeddings stay float32.
/// </summary>
internal static class Int8Quantizer
{
    public static ModelProto Quantize(ModelProto fp32)
    {
        var model = fp32.Clone();
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var consumers = graph.Node.SelectMany(n => n.Input).GroupBy(i => i).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        var quantizedActivations = new Dictionary<string, (string Value, string Scale, string ZeroPoint)>(StringComparer.Ordinal);
        var nodes = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (node.OpType == "MatMul" && node.Input.Count == 2 && initializers.TryGetValue(node.Input[1], out var weight)
                && weight.Dims.Count == 2 && weight.DataType == (int)DataType.Float)
            {
                var x = node.Input[0];
                if (!quantizedActivations.TryGetValue(x, out var xq))
                {
                    var q = new NodeProto { Name = x + "/DynamicQuantizeLinear", OpType = "DynamicQuantizeLinear", Input = { x }, Output = { x + "_quantized", x + "_scale", x + "_zero_point" } };
                    nodes.Add(q);
                    quantizedActivations[x] = xq = (q.Output[0], q.Output[1], q.Output[2]);
                }
                var (wq, ws, wzp) = QuantizeColumns(weight, graph);
                replaced.Add(weight.Name);
                var product = node.Name + "/MatMulInteger";
                nodes.Add(new NodeProto { Name = product, OpType = "MatMulInteger", Input = { xq.Value, wq, xq.ZeroPoint, wzp }, Output = { product + "_output" } });
                nodes.Add(new NodeProto { Name = node.Name + "/Cast", OpType = "Cast", Input = { product + "_output" }, Output = { node.Name + "/Cast_output" }, Attribute = { IntAttribute("to", (long)DataType.Float) } });
                nodes.Add(new NodeProto { Name = node.Name + "/scale", OpType = "Mul", Input = { xq.Scale, ws }, Output = { node.Name + "/scale_output" } });
                nodes.Add(new NodeProto { Name = node.Name + "/rescale", OpType = "Mul", Input = { node.Name + "/Cast_output", node.Name + "/scale_output" }, Output = { node.Output[0] } });
                continue;
            }
            if (node.OpType == "Gather" && node.Input.Count == 2 && node.Input[1] == OnnxExporter.InputIds && initializers.TryGetValue(node.Input[0], out var table)
                && table.Dims.Count == 2 && table.DataType == (int)DataType.Float && consumers[table.Name] == 1)
            {
                var (tq, ts) = QuantizeRows(table, graph);
                replaced.Add(table.Name);
                var rows = node.Name + "/rows";
                nodes.Add(new NodeProto { Name = rows, OpType = "Gather", Input = { tq, node.Input[1] }, Output = { rows + "_output" } });
                nodes.Add(new NodeProto { Name = rows + "/Cast", OpType = "Cast", Input = { rows + "_output" }, Output = { rows + "/Cast_output" }, Attribute = { IntAttribute("to", (long)DataType.Float) } });
                var scales = node.Name + "/scales";
                nodes.Add(new NodeProto { Name = scales, OpType = "Gather", Input = { ts, node.Input[1] }, Output = { scales + "_output" } });
                var axis = Int64Initializer(graph, node.Name + "/last_axis", [-1]);
                nodes.Add(new NodeProto { Name = scales + "/Unsqueeze", OpType = "Unsqueeze", Input = { scales + "_output", axis }, Output = { scales + "/Unsqueeze_output" } });
                nodes.Add(new NodeProto { Name = node.Name + "/dequantize", OpType = "Mul", Input = { rows + "/Cast_output", scales + "/Unsqueeze_output" }, Output = { node.Output[0] } });
                continue;
            }
            nodes.Add(node);
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        var kept = graph.Initializer.Where(t => !replaced.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(kept);
        model.DocString += " — int8 dynamic quantization (MatMulInteger, weights per output column; word embeddings per row)";
        return model;
    }

    /// <summary>A [K, N] weight as int8 with one symmetric scale per column n: scale = max |W[:, n]| / 127.</summary>
    private static (string Weight, string Scale, string ZeroPoint) QuantizeColumns(TensorProto weight, GraphProto graph)
    {
        var w = MemoryMarshal.Cast<byte, float>(weight.RawData.Span);
        int k = checked((int)weight.Dims[0]), n = checked((int)weight.Dims[1]);
        var scales = new float[n];
        for (int r = 0; r < k; r++)
            for (int c = 0; c < n; c++)
                scales[c] = Math.Max(scales[c], Math.Abs(w[r * n + c]));
        for (int c = 0; c < n; c++) scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        var q = new sbyte[k * n];
        for (int r = 0; r < k; r++)
            for (int c = 0; c < n; c++)
                q[r * n + c] = Round(w[r * n + c] / scales[c]);
        var name = weight.Name + "_quantized";
        graph.Initializer.Add(Tensor(name, DataType.Int8, MemoryMarshal.AsBytes(q.AsSpan()), [k, n]));
        graph.Initializer.Add(Tensor(weight.Name + "_scale", DataType.Float, MemoryMarshal.AsBytes(scales.AsSpan()), [n]));
        graph.Initializer.Add(Tensor(weight.Name + "_zero_point", DataType.Int8, new byte[n], [n]));
        return (name, weight.Name + "_scale", weight.Name + "_zero_point");
    }

    /// <summary>A [V, E] table as int8 with one symmetric scale per row.</summary>
    private static (string Table, string Scale) QuantizeRows(TensorProto table, GraphProto graph)
    {
        var w = MemoryMarshal.Cast<byte, float>(table.RawData.Span);
        int v = checked((int)table.Dims[0]), e = checked((int)table.Dims[1]);
        var scales = new float[v];
        var q = new sbyte[v * e];
        for (int r = 0; r < v; r++)
        {
            float max = 0;
            for (int c = 0; c < e; c++) max = Math.Max(max, Math.Abs(w[r * e + c]));
            float scale = max > 0 ? max / 127f : 1f;
            scales[r] = scale;
            for (int c = 0; c < e; c++) q[r * e + c] = Round(w[r * e + c] / scale);
        }
        graph.Initializer.Add(Tensor(table.Name + "_quantized", DataType.Int8, MemoryMarshal.AsBytes(q.AsSpan()), [v, e]));
        graph.Initializer.Add(Tensor(table.Name + "_scale", DataType.Float, MemoryMarshal.AsBytes(scales.AsSpan()), [v]));
        return (table.Name + "_quantized", table.Name + "_scale");
    }

    private static sbyte Round(float x) => (sbyte)Math.Clamp(MathF.Round(x, MidpointRounding.ToEven), -127, 127);

    private static string Int64Initializer(GraphProto graph, string name, long[] values)
    {
        graph.Initializer.Add(Tensor(name, DataType.Int64, MemoryMarshal.AsBytes(values.AsSpan()), [values.Length]));
        return name;
    }

    private static TensorProto Tensor(string name, DataType type, ReadOnlySpan<byte> data, long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(data) };
        t.Dims.AddRange(dims);
        return t;
    }

    private static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
}
