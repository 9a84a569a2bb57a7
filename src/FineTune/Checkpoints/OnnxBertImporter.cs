using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace FineTune.Checkpoints;

/// <summary>
/// Turns a BERT-style ONNX export (as written by torch.onnx.export from transformers' BertModel) back into the
/// Hugging Face state dict and config values. Embeddings, biases and LayerNorms keep their Hugging Face names in
/// such files; each Linear weight is an unnamed MatMul input holding W transposed ([in, out]), and is named after
/// the bias its MatMul's output is added to (<c>X.bias</c> gives <c>X.weight</c>). A Gemm carries its weight and
/// bias directly. Weights are found by following the graph, never by their order in the file.
/// </summary>
internal static partial class OnnxBertImporter
{
    /// <summary>Reads the ONNX file at <paramref name="onnxPath"/> and imports it.</summary>
    public static OnnxBertImport Import(string onnxPath) => Import(OnnxModelReader.Read(onnxPath));

    /// <summary>Extracts the BertModel state dict and hyperparameters from a parsed ONNX model.</summary>
    /// <exception cref="ModelLoadException">The graph is not a BERT encoder this importer can read; the message says where.</exception>
    public static OnnxBertImport Import(OnnxModel model) => new Importer(model).Run();

    /// <summary>The keys of transformers' BertModel.state_dict() for this many layers, in its order.</summary>
    public static IReadOnlyList<string> BertModelKeys(int numHiddenLayers, bool withPooler)
    {
        var keys = new List<string>
        {
            "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
        };
        for (int i = 0; i < numHiddenLayers; i++)
            foreach (var module in LayerModules)
            {
                keys.Add($"encoder.layer.{i}.{module}.weight");
                keys.Add($"encoder.layer.{i}.{module}.bias");
            }
        if (withPooler)
        {
            keys.Add("pooler.dense.weight");
            keys.Add("pooler.dense.bias");
        }
        return keys;
    }

    private static readonly string[] LayerModules =
    [
        "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
        "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
    ];

    [GeneratedRegex(@"^(embeddings\.(word|position|token_type)_embeddings\.weight|embeddings\.LayerNorm\.(weight|bias)|encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|attention\.output\.LayerNorm|intermediate\.dense|output\.dense|output\.LayerNorm)\.(weight|bias)|pooler\.dense\.(weight|bias))$")]
    private static partial Regex BertKeyPattern();

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.")]
    private static partial Regex LayerIndexPattern();

    private sealed class Importer
    {
        private readonly OnnxModel _model;
        private readonly string _file;
        private readonly Dictionary<string, OnnxTensor> _initializers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, OnnxTensor> _constants = new(StringComparer.Ordinal);
        private readonly Dictionary<string, OnnxNode> _producer = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<OnnxNode>> _consumers = new(StringComparer.Ordinal);
        private string _prefix = "";

        // key -> (source, the value the dense layer's output is available as)
        private readonly Dictionary<string, OnnxWeightSource> _sources = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _denseOutput = new(StringComparer.Ordinal);

        public Importer(OnnxModel model)
        {
            _model = model;
            _file = model.Source;
            foreach (var t in model.Graph.Initializers)
                if (!_initializers.TryAdd(t.Name, t))
                    throw Fail("the graph has two initializers with this name", t.Name);
            foreach (var node in model.Graph.Nodes)
            {
                foreach (var output in node.Outputs)
                    if (output.Length > 0) _producer[output] = node;
                foreach (var input in node.Inputs)
                {
                    if (input.Length == 0) continue;
                    if (!_consumers.TryGetValue(input, out var list)) _consumers[input] = list = [];
                    list.Add(node);
                }
                if (node.OpType == "Constant" && node.Domain is ("" or "ai.onnx") && node.Outputs.Count == 1)
                    if (ConstantValue(node) is { } value) _constants[node.Outputs[0]] = value;
            }
        }

        public OnnxBertImport Run()
        {
            _prefix = _initializers.ContainsKey("embeddings.word_embeddings.weight") ? ""
                : _initializers.ContainsKey("bert.embeddings.word_embeddings.weight") ? "bert."
                : throw Fail("no initializer named embeddings.word_embeddings.weight: this is not an ONNX export of a BERT model with Hugging Face names");

            var claimed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var node in _model.Graph.Nodes)
            {
                if (node.Domain is not ("" or "ai.onnx")) continue;
                if (node.OpType == "MatMul") NameMatMulWeight(node, claimed);
                else if (node.OpType == "Gemm") NameGemmWeight(node, claimed);
            }

            // Dense weights named after a bias outside BertModel (a task head) are reported, not imported.
            var ignored = new List<string>();
            foreach (var key in _sources.Keys.Where(k => !BertKeyPattern().IsMatch(k)).ToList())
            {
                ignored.Add(_sources[key].InitializerName);
                _sources.Remove(key);
            }
            foreach (var t in _model.Graph.Initializers)
            {
                if (claimed.Contains(t.Name)) continue;
                var key = HfName(t.Name);
                if (key is null) continue;
                if (!BertKeyPattern().IsMatch(key)) { ignored.Add(t.Name); continue; }
                if (_sources.TryGetValue(key, out var other))
                    throw Fail($"key '{key}' comes both from this initializer and from the dense weight '{other.InitializerName}'", t.Name);
                _sources[key] = new OnnxWeightSource(t.Name, Transposed: false);
            }

            foreach (var key in _sources.Keys.Where(k => k.EndsWith(".bias", StringComparison.Ordinal) && !k.Contains("LayerNorm", StringComparison.Ordinal)))
            {
                var weightKey = key[..^".bias".Length] + ".weight";
                if (!_sources.ContainsKey(weightKey))
                    throw Fail($"bias '{key}' has no weight: no MatMul or Gemm output is added to it", _sources[key].InitializerName);
            }

            int layers = CountLayers();
            bool pooler = _sources.ContainsKey("pooler.dense.weight") || _sources.ContainsKey("pooler.dense.bias");
            var expected = BertModelKeys(layers, pooler);
            var missing = expected.Where(k => !_sources.ContainsKey(k)).ToList();
            if (missing.Count > 0)
                throw Fail($"the export lacks {missing.Count} BertModel weight(s): {string.Join(", ", missing)}");

            var stateDict = new OrderedDictionary<string, HostTensor>(StringComparer.Ordinal);
            foreach (var key in expected)
                stateDict[key] = ToHostTensor(key, _sources[key]);

            var word = stateDict["embeddings.word_embeddings.weight"].Shape;
            int hidden = checked((int)word[1]);
            int intermediate = checked((int)stateDict["encoder.layer.0.intermediate.dense.bias"].Shape[0]);
            CheckShapes(stateDict, hidden, intermediate);

            var architecture = new OnnxBertArchitecture(
                VocabSize: checked((int)word[0]),
                HiddenSize: hidden,
                NumHiddenLayers: layers,
                NumAttentionHeads: InferHeads(layers, hidden),
                IntermediateSize: intermediate,
                MaxPositionEmbeddings: checked((int)stateDict["embeddings.position_embeddings.weight"].Shape[0]),
                TypeVocabSize: checked((int)stateDict["embeddings.token_type_embeddings.weight"].Shape[0]),
                LayerNormEps: InferLayerNormEps(expected),
                HiddenAct: InferActivation(layers),
                HasPooler: pooler,
                InputNames: _model.Graph.RuntimeInputs.Select(i => i.Name).ToList(),
                OutputNames: _model.Graph.Outputs.Select(o => o.Name).ToList());

            var sources = new OrderedDictionary<string, OnnxWeightSource>(StringComparer.Ordinal);
            foreach (var key in expected) sources[key] = _sources[key];
            return new OnnxBertImport { Architecture = architecture, StateDict = stateDict, Sources = sources, IgnoredInitializers = ignored };
        }

        // ---- naming the dense weights -------------------------------------------------------------

        private void NameMatMulWeight(OnnxNode node, HashSet<string> claimed)
        {
            if (node.Inputs.Count != 2) return;
            if (!_initializers.TryGetValue(node.Inputs[1], out var weight))
            {
                if (_initializers.ContainsKey(node.Inputs[0]))
                    throw Fail($"MatMul '{node.Name}' takes this initializer as its first operand; expected the weight as the second", node.Inputs[0]);
                return; // a product of two activations (attention scores, context)
            }
            if (weight.Dims.Length != 2)
                throw Fail($"MatMul '{node.Name}' uses a weight of shape [{string.Join(", ", weight.Dims)}]; expected [in, out]", weight.Name);

            var output = node.Outputs[0];
            var adds = Consumers(output);
            string? biasName = null;
            if (adds.Count == 1 && adds[0].OpType == "Add" && adds[0].Inputs.Count == 2)
            {
                var other = adds[0].Inputs[0] == output ? adds[0].Inputs[1] : adds[0].Inputs[0];
                if (_initializers.ContainsKey(other) && HfName(other) is { } k && k.EndsWith(".bias", StringComparison.Ordinal))
                    biasName = other;
            }
            if (biasName is null)
                throw Fail($"cannot name this MatMul weight [{string.Join(", ", weight.Dims)}]: the output '{output}' of MatMul '{node.Name}' is not added to a named bias", weight.Name);

            var bias = _initializers[biasName];
            if (bias.Dims.Length != 1 || bias.Dims[0] != weight.Dims[1])
                throw Fail($"MatMul weight '{weight.Name}' [{string.Join(", ", weight.Dims)}] does not fit its bias of shape [{string.Join(", ", bias.Dims)}]", biasName);
            var key = HfName(biasName)![..^".bias".Length] + ".weight";
            Claim(key, new OnnxWeightSource(weight.Name, Transposed: true), adds[0].Outputs[0], claimed);
        }

        private void NameGemmWeight(OnnxNode node, HashSet<string> claimed)
        {
            if (node.Inputs.Count < 2 || !_initializers.TryGetValue(node.Inputs[1], out var weight)) return;
            if ((node.Attribute("transA")?.Int ?? 0) != 0)
                throw Fail($"Gemm '{node.Name}' transposes its activation input (transA=1), which a Linear layer never does", weight.Name);
            if ((node.Attribute("alpha")?.Float ?? 1f) != 1f || (node.Attribute("beta")?.Float ?? 1f) != 1f)
                throw Fail($"Gemm '{node.Name}' scales its weight or bias (alpha/beta != 1), which a Linear layer never does", weight.Name);
            bool transB = (node.Attribute("transB")?.Int ?? 0) != 0;

            string? key = null;
            if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0 && HfName(node.Inputs[2]) is { } b && b.EndsWith(".bias", StringComparison.Ordinal))
                key = b[..^".bias".Length] + ".weight";
            var own = HfName(weight.Name);
            if (own is not null && own.EndsWith(".weight", StringComparison.Ordinal))
            {
                if (key is not null && key != own)
                    throw Fail($"Gemm '{node.Name}' adds bias '{node.Inputs[2]}' to weight '{weight.Name}': the names disagree", weight.Name);
                key = own;
            }
            if (key is null)
                throw Fail($"cannot name this Gemm weight [{string.Join(", ", weight.Dims)}]: neither it nor the bias of Gemm '{node.Name}' has a Hugging Face name", weight.Name);
            Claim(key, new OnnxWeightSource(weight.Name, Transposed: !transB), node.Outputs[0], claimed);
        }

        private void Claim(string key, OnnxWeightSource source, string denseOutput, HashSet<string> claimed)
        {
            if (_sources.TryGetValue(key, out var existing) && existing != source)
                throw Fail($"two different initializers ('{existing.InitializerName}', '{source.InitializerName}') are both the weight '{key}'", source.InitializerName);
            _sources[key] = source;
            _denseOutput[key] = denseOutput;
            claimed.Add(source.InitializerName);
        }

        // ---- weights ----------------------------------------------------------------------------------

        private HostTensor ToHostTensor(string key, OnnxWeightSource source)
        {
            var t = _initializers[source.InitializerName];
            if (!source.Transposed)
                return new HostTensor((long[])t.Dims.Clone(), t.ToFloatArray());
            if (t.Dims.Length != 2) throw Fail($"cannot transpose a tensor of shape [{string.Join(", ", t.Dims)}] for '{key}'", t.Name);
            int rows = checked((int)t.Dims[0]), cols = checked((int)t.Dims[1]);
            // Float32 data is transposed straight out of the file's bytes; other types are widened first.
            ReadOnlySpan<float> data = t.DataType == OnnxDataType.Float && BitConverter.IsLittleEndian && t.Bytes.Length == 4L * rows * cols
                ? MemoryMarshal.Cast<byte, float>(t.Bytes)
                : t.ToFloatArray();
            var transposed = new float[data.Length];
            for (int r = 0; r < rows; r++)
            {
                var row = data.Slice(r * cols, cols);
                for (int c = 0; c < cols; c++) transposed[c * rows + r] = row[c];
            }
            return new HostTensor([cols, rows], transposed);
        }

        private void CheckShapes(IReadOnlyDictionary<string, HostTensor> stateDict, int hidden, int intermediate)
        {
            foreach (var (key, tensor) in stateDict)
            {
                long[]? expected = key switch
                {
                    _ when key.StartsWith("embeddings.", StringComparison.Ordinal) && key.EndsWith("_embeddings.weight", StringComparison.Ordinal)
                        => tensor.Shape.Length == 2 && tensor.Shape[1] == hidden ? null : [-1, hidden],
                    _ when key.EndsWith("intermediate.dense.weight", StringComparison.Ordinal) => [intermediate, hidden],
                    _ when key.EndsWith("intermediate.dense.bias", StringComparison.Ordinal) => [intermediate],
                    _ when key.EndsWith("output.dense.weight", StringComparison.Ordinal) && !key.Contains("attention", StringComparison.Ordinal) => [hidden, intermediate],
                    _ when key.EndsWith(".weight", StringComparison.Ordinal) && !key.Contains("LayerNorm", StringComparison.Ordinal) => [hidden, hidden],
                    _ => [hidden],
                };
                if (expected is not null && !expected.SequenceEqual(tensor.Shape))
                    throw Fail($"'{key}' has shape {tensor.ShapeText}; a BERT with hidden size {hidden} and intermediate size {intermediate} needs [{string.Join(", ", expected).Replace("-1", "N")}]", _sources[key].InitializerName);
            }
        }

        private int CountLayers()
        {
            var indices = _sources.Keys.Select(k => LayerIndexPattern().Match(k)).Where(m => m.Success)
                .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToHashSet();
            if (indices.Count == 0) throw Fail("the export has no encoder.layer.N weights");
            int count = indices.Max() + 1;
            if (indices.Count != count)
                throw Fail($"encoder layers are not numbered 0..{count - 1}: missing {string.Join(", ", Enumerable.Range(0, count).Where(i => !indices.Contains(i)))}");
            return count;
        }

        // ---- hyperparameters from the graph -----------------------------------------------------------

        private int InferHeads(int layers, int hidden)
        {
            int? result = null;
            for (int layer = 0; layer < layers; layer++)
            {
                var q = _denseOutput[$"encoder.layer.{layer}.attention.self.query.weight"];
                var k = _denseOutput[$"encoder.layer.{layer}.attention.self.key.weight"];
                var v = _denseOutput[$"encoder.layer.{layer}.attention.self.value.weight"];
                int? fromReshape = null;
                foreach (var value in new[] { q, k, v })
                {
                    var heads = HeadsFromReshape(value, hidden, layer);
                    if (heads is null) continue;
                    if (fromReshape is not null && fromReshape != heads)
                        throw Fail($"layer {layer}: the query, key and value reshapes disagree on the number of heads ({fromReshape} vs {heads})");
                    fromReshape = heads;
                }
                fromReshape ??= HeadsFromFusedAttention(q);

                var scale = AttentionScale(q, k);
                int heads2;
                if (fromReshape is { } h)
                {
                    if (scale is { } s && Math.Abs(s * Math.Sqrt(hidden / h) - 1) > 1e-4)
                        throw Fail($"layer {layer}: the reshapes give {h} heads (head size {hidden / h}) but the attention scores are scaled by {s}, not 1/sqrt({hidden / h})");
                    heads2 = h;
                }
                else if (scale is { } s)
                {
                    int headSize = (int)Math.Round(1 / (s * s));
                    if (headSize <= 0 || hidden % headSize != 0 || Math.Abs(s * Math.Sqrt(headSize) - 1) > 1e-4)
                        throw Fail($"layer {layer}: the attention scale {s} is not 1/sqrt(d) for a head size d dividing {hidden}");
                    heads2 = hidden / headSize;
                }
                else throw Fail($"layer {layer}: cannot find the number of attention heads (no reshape of the query to [.., heads, head_size] and no score scaling)");

                if (result is not null && result != heads2)
                    throw Fail($"layer {layer} has {heads2} attention heads, layer 0 has {result}");
                result = heads2;
            }
            return result!.Value;
        }

        /// <summary>Heads from a Reshape of a projection to [batch, seq, heads, head_size], when the last two sizes are constants.</summary>
        private int? HeadsFromReshape(string projection, int hidden, int layer)
        {
            foreach (var node in Consumers(projection))
            {
                if (node.OpType != "Reshape" || node.Inputs[0] != projection || node.Inputs.Count < 2) continue;
                var shape = ConstantInts(node.Inputs[1]);
                if (shape is null && _producer.TryGetValue(node.Inputs[1], out var concat) && concat.OpType == "Concat")
                {
                    var parts = concat.Inputs.Select(ConstantInts).ToList();
                    if (parts.Count >= 2 && parts[^1] is [var d] && parts[^2] is [var n]) shape = [n, d];
                }
                if (shape is null || shape.Length < 2) continue;
                long heads = shape[^2], size = shape[^1];
                if (heads <= 0 || size <= 0) continue;
                if (heads * size != hidden)
                    throw Fail($"layer {layer}: the attention reshape splits hidden size {hidden} into {heads} x {size}");
                return (int)heads;
            }
            return null;
        }

        private int? HeadsFromFusedAttention(string projection) =>
            Consumers(projection).FirstOrDefault(n => n.OpType is "Attention" or "MultiHeadAttention")?.Attribute("num_heads")?.Int is long h and > 0
                ? (int)h : null;

        /// <summary>
        /// The factor the attention scores q·kᵀ are multiplied by, following the query and key from their
        /// projections through reshapes and scalings to the MatMul that multiplies them, and on to the scaling of its
        /// result. Null when the graph does not have that shape.
        /// </summary>
        private double? AttentionScale(string query, string key)
        {
            var (qMatMul, qScale) = FollowToMatMul(query);
            var (kMatMul, kScale) = FollowToMatMul(key);
            if (qMatMul is null || qMatMul != kMatMul) return null;
            double scale = qScale * kScale;
            var next = Consumers(qMatMul.Outputs[0]).Where(n => n.OpType != "Shape").ToList();
            if (next.Count == 1 && ScalarFactor(next[0], qMatMul.Outputs[0]) is { } f) scale *= f;
            return scale;
        }

        private (OnnxNode? MatMul, double Scale) FollowToMatMul(string value)
        {
            double scale = 1;
            for (int step = 0; step < 16; step++)
            {
                var next = Consumers(value).Where(n => n.OpType != "Shape").ToList();
                if (next.Count != 1) return (null, scale);
                var node = next[0];
                switch (node.OpType)
                {
                    case "Reshape" or "Transpose" or "Unsqueeze" or "Squeeze" when node.Inputs[0] == value:
                        break;
                    case "Mul" or "Div" when ScalarFactor(node, value) is { } f:
                        scale *= f;
                        break;
                    case "MatMul" when node.Inputs.All(i => !_initializers.ContainsKey(i)):
                        return (node, scale);
                    default:
                        return (null, scale);
                }
                value = node.Outputs[0];
            }
            return (null, scale);
        }

        /// <summary>For Mul or Div of <paramref name="value"/> by a scalar constant, the factor it applies.</summary>
        private double? ScalarFactor(OnnxNode node, string value)
        {
            if (node.Inputs.Count != 2) return null;
            if (node.OpType == "Mul")
            {
                var other = node.Inputs[0] == value ? node.Inputs[1] : node.Inputs[0];
                return ConstantScalar(other);
            }
            if (node.OpType == "Div" && node.Inputs[0] == value && ConstantScalar(node.Inputs[1]) is { } d && d != 0)
                return 1 / d;
            return null;
        }

        private double InferLayerNormEps(IReadOnlyList<string> keys)
        {
            double? eps = null;
            string? first = null;
            foreach (var key in keys.Where(k => k.EndsWith("LayerNorm.weight", StringComparison.Ordinal)))
            {
                var e = LayerNormEps(key);
                if (eps is not null && e != eps)
                    throw Fail($"LayerNorms use different epsilons: {first} has {eps}, {key} has {e}");
                eps = e;
                first ??= key;
            }
            return eps ?? throw Fail("the export has no LayerNorm");
        }

        private double LayerNormEps(string weightKey)
        {
            var weight = _sources[weightKey].InitializerName;
            foreach (var node in Consumers(weight))
            {
                if (node.OpType is "LayerNormalization" or "SkipLayerNormalization" or "SkipSimplifiedLayerNormalization")
                    return ShortestDouble(node.Attribute("epsilon")?.Float ?? (node.OpType == "LayerNormalization" ? 1e-5f : 1e-12f));
                // Decomposed: (x - mean) / Sqrt(ReduceMean((x - mean)^2) + eps) * weight + bias
                if (node.OpType != "Mul" || node.Inputs.Count != 2) continue;
                var normalized = node.Inputs[0] == weight ? node.Inputs[1] : node.Inputs[0];
                if (Producer(normalized, "Div") is not { } div || div.Inputs.Count != 2) continue;
                if (Producer(div.Inputs[1], "Sqrt") is not { } sqrt) continue;
                if (Producer(sqrt.Inputs[0], "Add") is not { } add || add.Inputs.Count != 2) continue;
                var eps = ConstantScalar(add.Inputs[1]) ?? ConstantScalar(add.Inputs[0]);
                bool addsToVariance = Producer(add.Inputs[0], "ReduceMean") is not null || Producer(add.Inputs[1], "ReduceMean") is not null;
                if (eps is not null && addsToVariance)
                    return ShortestDouble((float)eps.Value);
            }
            throw Fail($"cannot find the epsilon of '{weightKey}': it is used neither by a LayerNormalization node nor by the decomposed pattern (x - mean) / sqrt(var + eps) * weight", weight);
        }

        private string InferActivation(int layers)
        {
            string? result = null;
            for (int layer = 0; layer < layers; layer++)
            {
                var start = _denseOutput[$"encoder.layer.{layer}.intermediate.dense.weight"];
                var (ops, constants) = Region(start);
                string act;
                var gelu = ops.FirstOrDefault(n => n.OpType is "Gelu" or "FastGelu" or "BiasGelu");
                if (gelu is not null)
                    act = gelu.OpType == "FastGelu" || gelu.Attribute("approximate")?.String == "tanh" ? "gelu_new" : "gelu";
                else if (ops.Any(n => n.OpType == "Erf")) act = "gelu";
                else if (ops.Any(n => n.OpType == "Tanh") && constants.Any(c => Math.Abs(c - 0.044715) < 1e-6)) act = "gelu_new";
                else if (ops.Any(n => n.OpType == "Relu")) act = "relu";
                else if (ops.Any(n => n.OpType == "Sigmoid"))
                    act = constants.Any(c => Math.Abs(c - 1.702) < 1e-4) ? "quick_gelu" : "silu";
                else
                    throw Fail($"layer {layer}: cannot recognise the activation after intermediate.dense (operators: {string.Join(", ", ops.Select(n => n.OpType))})");
                if (result is not null && result != act)
                    throw Fail($"layer {layer} uses activation {act}, layer 0 uses {result}");
                result = act;
            }
            return result!;
        }

        /// <summary>The nodes between a dense output and the next matrix product, with the scalar constants they use.</summary>
        private (List<OnnxNode> Ops, List<double> Constants) Region(string start)
        {
            var ops = new List<OnnxNode>();
            var constants = new List<double>();
            var seen = new HashSet<OnnxNode>(ReferenceEqualityComparer.Instance);
            var queue = new Queue<string>([start]);
            while (queue.Count > 0 && ops.Count < 64)
                foreach (var node in Consumers(queue.Dequeue()))
                {
                    if (node.OpType is "MatMul" or "Gemm" || !seen.Add(node)) continue;
                    ops.Add(node);
                    foreach (var input in node.Inputs)
                        if (ConstantScalar(input) is { } c) constants.Add(c);
                    foreach (var output in node.Outputs) queue.Enqueue(output);
                }
            return (ops, constants);
        }

        // ---- graph helpers ----------------------------------------------------------------------------

        private List<OnnxNode> Consumers(string value) => _consumers.TryGetValue(value, out var list) ? list : [];

        private OnnxNode? Producer(string value, string opType) =>
            _producer.TryGetValue(value, out var node) && node.OpType == opType ? node : null;

        private OnnxTensor? Constant(string value) =>
            _initializers.TryGetValue(value, out var t) ? t : _constants.GetValueOrDefault(value);

        private long[]? ConstantInts(string value)
        {
            var t = Constant(value);
            return t is null || t.DataType is not (OnnxDataType.Int64 or OnnxDataType.Int32) ? null : t.ToInt64Array();
        }

        private double? ConstantScalar(string value)
        {
            var t = Constant(value);
            if (t is null || t.ElementCount != 1) return null;
            return t.DataType switch
            {
                OnnxDataType.Float or OnnxDataType.Float16 or OnnxDataType.BFloat16 => t.ScalarFloat(),
                OnnxDataType.Double => BitConverter.ToDouble(t.Bytes),
                _ => null,
            };
        }

        private OnnxTensor? ConstantValue(OnnxNode node)
        {
            foreach (var a in node.Attributes)
                switch (a.Name)
                {
                    case "value" when a.Tensor is not null: return a.Tensor;
                    case "value_float": return new OnnxTensor("", [], OnnxDataType.Float, BitConverter.GetBytes(a.Float), _file);
                    case "value_int": return new OnnxTensor("", [], OnnxDataType.Int64, BitConverter.GetBytes(a.Int), _file);
                    case "value_ints":
                        return new OnnxTensor("", [a.Ints.Count], OnnxDataType.Int64, a.Ints.SelectMany(BitConverter.GetBytes).ToArray(), _file);
                }
            return null;
        }

        /// <summary>The Hugging Face key an initializer name stands for, or null when the name is not one (e.g. "onnx::MatMul_788", "927").</summary>
        private string? HfName(string initializer)
        {
            if (_prefix.Length > 0)
                return initializer.StartsWith(_prefix, StringComparison.Ordinal) ? initializer[_prefix.Length..] : null;
            return initializer.Contains('.') && !initializer.Contains("::", StringComparison.Ordinal) && !initializer.StartsWith('/')
                ? initializer : null;
        }

        /// <summary>A float32 constant as the shortest decimal that reads back as the same float (1e-12f gives 1e-12).</summary>
        private static double ShortestDouble(float value) =>
            double.Parse(value.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

        private ModelLoadException Fail(string message, string? initializer = null) => new(message, _file, initializer);
    }
}
