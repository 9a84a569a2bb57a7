using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Export;
using FineTune.Modeling;
using FineTune.Text;
using Microsoft.ML.OnnxRuntime;

namespace FineTune.Inference;

/// <summary>
/// An encoder-decoder's export folder (finetune export of a translation or summarization model, Optimum's layout)
/// opened on ONNX Runtime: the encoder, the decoder's first step and the decoder with past keys and values, their
/// inputs and outputs checked against config.json; the tokenizers; the special tokens. Generation runs on it through
/// <see cref="IDecoderSteps"/>, so greedy decoding and beam search are the library's own (<see cref="Decoding"/>).
/// TorchSharp-free: FineTune runs seq2seq exports through it, and FineTune.Onnx compiles it in.
/// </summary>
internal sealed class ExportedSeq2Seq : IDisposable
{
    private const string EncoderName = "encoder_model", DecoderName = "decoder_model", DecoderWithPastName = "decoder_with_past_model";

    private ExportedSeq2Seq(string folder, JsonObject metadata, ITokenizer tokenizer, ITokenizer decoderTokenizer, InferenceSession encoder,
        InferenceSession decoder, InferenceSession decoderWithPast, SpecialTokens tokens, int layers)
    {
        Folder = folder;
        Metadata = metadata;
        Tokenizer = tokenizer;
        DecoderTokenizer = decoderTokenizer;
        Encoder = encoder;
        Decoder = decoder;
        DecoderWithPast = decoderWithPast;
        Tokens = tokens;
        Layers = layers;
        TakesTokenTypes = encoder.InputMetadata.ContainsKey(Seq2SeqGraphNames.TokenTypeIds);
        Copies = decoder.InputMetadata.ContainsKey(Seq2SeqGraphNames.EncoderInputIds);
        DecoderOutputs = OutputsOf(decoder, layers);
        DecoderWithPastOutputs = OutputsOf(decoderWithPast, layers);
        PastInputs = Enumerable.Range(0, layers)
            .SelectMany(i => new[] { (false, false), (false, true), (true, false), (true, true) }.Select(e => Seq2SeqGraphNames.Past(i, e.Item1, e.Item2)))
            .ToArray();
    }

    /// <summary>
    /// A decoder graph's outputs, in order, each with where it goes: -1 the logits; 2·layer (+1 for the values) the
    /// self-attention cache; 2·layers + 2·layer (+1) the cross-attention cache. Worked out once, not every step.
    /// </summary>
    private static (string[] Names, int[] Slots) OutputsOf(InferenceSession session, int layers)
    {
        var names = session.OutputMetadata.Keys.ToArray();
        var slots = names.Select(name =>
        {
            if (name == Seq2SeqGraphNames.Logits) return -1;
            // present.{layer}.{decoder|encoder}.{key|value}
            var parts = name.Split('.');
            int entry = 2 * int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) + (parts[3] == "value" ? 1 : 0);
            return parts[2] == "decoder" ? entry : 2 * layers + entry;
        }).ToArray();
        return (names, slots);
    }

    /// <summary>The outputs of the first-step decoder graph and where each goes (see <see cref="OutputsOf"/>).</summary>
    private (string[] Names, int[] Slots) DecoderOutputs { get; }

    /// <summary>The outputs of the decoder graph with past keys and values and where each goes.</summary>
    private (string[] Names, int[] Slots) DecoderWithPastOutputs { get; }

    /// <summary>The cache inputs of the decoder with past keys and values, per layer: self key, self value, cross key, cross value.</summary>
    private string[] PastInputs { get; }

    public string Folder { get; }
    public JsonObject Metadata { get; }
    public ITokenizer Tokenizer { get; }
    public ITokenizer DecoderTokenizer { get; }
    public InferenceSession Encoder { get; }
    public InferenceSession Decoder { get; }
    public InferenceSession DecoderWithPast { get; }
    public SpecialTokens Tokens { get; }

    /// <summary>The decoder's layers (one self-attention and one cross-attention cache entry each).</summary>
    public int Layers { get; }

    public bool TakesTokenTypes { get; }

    /// <summary>Whether the decoder copies from the source: both decoder graphs take the source's ids and the encoder's states.</summary>
    public bool Copies { get; }

    /// <summary>The task the model was fine-tuned for (translation, summarization).</summary>
    public string Task => ExportFolder.Text(Metadata["task"]) ?? "";

    /// <summary>Source tokens the model was trained with, when recorded.</summary>
    public int? TrainedMaxLength => ExportFolder.Number(Metadata["max_length"]);

    /// <summary>The most source tokens the encoder takes.</summary>
    public int Limit { get; private init; }

    /// <summary>Whether a folder is an encoder-decoder's export (onnx/encoder_model.onnx beside config.json).</summary>
    public static bool IsExport(string folder) =>
        File.Exists(Path.Combine(folder, "onnx", Seq2SeqGraphNames.EncoderFile)) && File.Exists(Path.Combine(folder, "config.json"));

    /// <summary>Opens an export folder's fp32 graphs, or the int8 ones with <paramref name="int8"/>; every problem is one error naming the file.</summary>
    public static ExportedSeq2Seq Open(string folder, bool int8, int? threads, string threadsOption)
    {
        if (threads is < 1) throw new OptionException(threadsOption, $"must be at least 1, got {threads}");
        var configPath = Path.Combine(folder, "config.json");
        JsonObject config;
        try { config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new ModelLoadException("must hold a JSON object", configPath); }
        catch (JsonException e) { throw new ModelLoadException($"not valid JSON: {e.Message}", configPath, inner: e); }
        var metadata = config[ExportFolder.MetadataKey] as JsonObject
            ?? throw new ModelLoadException("has no \"finetune\" metadata: not a folder written by finetune export", configPath, ExportFolder.MetadataKey);
        int Id(string key, JsonNode? fallback = null) => ExportFolder.Number(config[key]) ?? ExportFolder.Number(fallback)
            ?? throw new ModelLoadException($"has no \"{key}\"", configPath, key);
        var decoderConfig = config["decoder"] as JsonObject ?? throw new ModelLoadException("has no \"decoder\" config: not an encoder-decoder's export", configPath, "decoder");
        var tokens = new SpecialTokens(Id("decoder_start_token_id"), Id("eos_token_id", decoderConfig["eos_token_id"]), Id("pad_token_id", decoderConfig["pad_token_id"]));
        int layers = ExportFolder.Number(decoderConfig["num_hidden_layers"]) ?? throw new ModelLoadException("has no decoder.num_hidden_layers", configPath, "decoder.num_hidden_layers");
        if (!File.Exists(Path.Combine(folder, "tokenizer.json")))
            throw new ModelLoadException("tokenizer.json not found: an export folder carries its tokenizer (export the model again)", Path.Combine(folder, "tokenizer.json"));
        var tokenizer = Tokenizers.FromFolder(folder);
        var decoderTokenizer = ExportFolder.Text(metadata["decoder_tokenizer"]) is { } sub ? Tokenizers.FromFolder(Path.Combine(folder, sub)) : tokenizer;
        var models = metadata["models"] as JsonObject ?? throw new ModelLoadException("names no graphs", configPath, "finetune.models");
        var sessions = new List<InferenceSession>();
        try
        {
            foreach (var name in new[] { EncoderName, DecoderName, DecoderWithPastName })
            {
                var entry = models[name] as JsonObject ?? throw new ModelLoadException($"names no {name} graph", configPath, $"finetune.models.{name}");
                var relative = ExportFolder.Text(entry[int8 ? "int8" : "fp32"])
                    ?? throw new ModelLoadException(int8 ? $"has no int8 {name}: export with int8 quantization for it" : $"names no {name} file", configPath, $"finetune.models.{name}");
                var file = Path.Combine(folder, relative);
                if (!File.Exists(file)) throw new ModelLoadException("not found", file);
                // Every decoding step has new shapes (the cache grows by a token, batches differ in length): no arena
                // kept at its largest and no memory plan per shape (peak RSS 2.1 GB instead of 2.6 GB on 256 Multi30k
                // sentences with 4 beams, docs/export.md).
                var sessionOptions = ExportFolder.SessionOptions(threads);
                sessionOptions.EnableCpuMemArena = false;
                sessionOptions.EnableMemoryPattern = false;
                var session = ExportFolder.OpenSession(file, sessionOptions);
                sessions.Add(session);
                ExportFolder.Check(session.InputMetadata.Keys, entry["inputs"], file, "inputs");
                ExportFolder.Check(session.OutputMetadata.Keys, entry["outputs"], file, "outputs");
            }
            int limit = ExportFolder.Number(metadata["model_max_length"]) ?? 512;
            if (tokenizer.ModelMaxLength is int m) limit = Math.Min(limit, m);
            return new ExportedSeq2Seq(folder, metadata, tokenizer, decoderTokenizer, sessions[0], sessions[1], sessions[2],
                tokens, layers) { Limit = limit };
        }
        catch
        {
            foreach (var s in sessions) s.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The generated ids of each source (its token ids, special tokens included), in source order: batches of
    /// <paramref name="batchSize"/> sources, longest first, padded with the tokenizer's padding token.
    /// </summary>
    public int[][] Generate(IReadOnlyList<int[]> sources, GenerationSettings settings, int batchSize)
    {
        var outputs = new int[sources.Count][];
        var order = Enumerable.Range(0, sources.Count).OrderByDescending(i => sources[i].Length).ToArray();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var indices = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
            int length = indices.Max(i => sources[i].Length), b = indices.Length;
            var ids = new long[b * length];
            var mask = new long[b * length];
            Array.Fill(ids, Tokenizer.PaddingTokenId);
            for (int r = 0; r < b; r++)
            {
                var tokens = sources[indices[r]];
                for (int j = 0; j < tokens.Length; j++)
                {
                    ids[r * length + j] = tokens[j];
                    mask[r * length + j] = 1;
                }
            }
            var generated = Generate(ids, mask, b, length, settings);
            for (int r = 0; r < b; r++) outputs[indices[r]] = generated[r];
        }
        return outputs;
    }

    /// <summary>
    /// Generates from one padded batch of sources ([<paramref name="batch"/>, <paramref name="length"/>] row-major ids
    /// and mask): the generated ids of each, without the start and end-of-sequence tokens.
    /// </summary>
    public List<int[]> Generate(long[] ids, long[] mask, int batch, int length, GenerationSettings settings)
    {
        using var steps = Begin(ids, mask, batch, length, settings.NumBeams);
        return Decoding.Run(steps, batch, Tokens, settings);
    }

    /// <summary>The decoder's steps over one padded batch of sources (encoded now), each source repeated <paramref name="beams"/> times.</summary>
    internal IDecoderSteps Begin(long[] ids, long[] mask, int batch, int length, int beams) => new Steps(this, ids, mask, batch, length, beams);

    public void Dispose()
    {
        Encoder.Dispose();
        Decoder.Dispose();
        DecoderWithPast.Dispose();
    }

    /// <summary>
    /// The ONNX decoder's steps: the first through decoder_model (which returns every cache entry), the rest one token at
    /// a time through decoder_with_past_model. The cache lives in pooled buffers between steps and the logits in one
    /// buffer, so that a long generation does not leave the garbage collector tens of megabytes per step.
    /// </summary>
    private sealed class Steps : IDecoderSteps
    {
        private readonly ExportedSeq2Seq _export;
        private readonly long[] _mask;
        private readonly long[]? _sourceIds;
        private readonly int _rows, _length;
        private readonly float[] _encoded;
        private readonly int _hidden;
        // Per layer: self-attention keys and values [N, heads, P, D] and cross-attention keys and values [N, heads, S, D].
        private Cached[]? _self, _cross;
        private float[] _logits = [];

        /// <summary>A cache tensor: its values at the start of a pooled buffer, and its shape.</summary>
        private readonly record struct Cached(float[] Buffer, int Length, long[] Shape)
        {
            public static Cached Copy(ReadOnlySpan<float> values, long[] shape)
            {
                var buffer = System.Buffers.ArrayPool<float>.Shared.Rent(values.Length);
                values.CopyTo(buffer);
                return new Cached(buffer, values.Length, shape);
            }

            public OrtValue Value() => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, Buffer.AsMemory(0, Length), Shape);

            public void Return() => System.Buffers.ArrayPool<float>.Shared.Return(Buffer);
        }

        public Steps(ExportedSeq2Seq export, long[] ids, long[] mask, int batch, int length, int beams)
        {
            _export = export;
            _length = length;
            _rows = batch * beams;
            long[] shape = [batch, length];
            var names = new List<string> { Seq2SeqGraphNames.InputIds, Seq2SeqGraphNames.AttentionMask };
            var values = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(ids, shape), OrtValue.CreateTensorValueFromMemory(mask, shape) };
            if (export.TakesTokenTypes)
            {
                names.Add(Seq2SeqGraphNames.TokenTypeIds);
                values.Add(OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape));
            }
            try
            {
                using var options = new RunOptions();
                using var results = export.Encoder.Run(options, names, values, [Seq2SeqGraphNames.LastHiddenState]);
                var encoded = results[0].GetTensorDataAsSpan<float>();
                _hidden = (int)results[0].GetTensorTypeAndShape().Shape[2];
                // Each input repeated once per beam.
                _encoded = Repeat(encoded, batch, beams);
                _mask = Repeat<long>(mask, batch, beams);
                if (export.Copies) _sourceIds = Repeat<long>(ids, batch, beams);
            }
            finally
            {
                foreach (var v in values) v.Dispose();
            }
        }

        private static T[] Repeat<T>(ReadOnlySpan<T> rows, int batch, int times)
        {
            if (times == 1) return rows.ToArray();
            int width = rows.Length / batch;
            var repeated = new T[rows.Length * times];
            for (int r = 0; r < batch; r++)
                for (int k = 0; k < times; k++)
                    rows.Slice(r * width, width).CopyTo(repeated.AsSpan((r * times + k) * width, width));
            return repeated;
        }

        /// <summary>The logits of the last position, [N, V]; the same buffer every step (valid until the next call).</summary>
        public float[] NextLogits(IReadOnlyList<List<int>> sequences)
        {
            int n = sequences.Count;
            bool first = _self is null;
            int t = first ? sequences[0].Count : 1;
            var ids = first ? sequences.SelectMany(s => s.Select(x => (long)x)).ToArray() : sequences.Select(s => (long)s[^1]).ToArray();
            var names = new List<string> { Seq2SeqGraphNames.InputIds, Seq2SeqGraphNames.EncoderAttentionMask };
            var values = new List<OrtValue>
            {
                OrtValue.CreateTensorValueFromMemory(ids, [n, t]),
                OrtValue.CreateTensorValueFromMemory(_mask, [n, _length]),
            };
            if (first || _sourceIds is not null)
            {
                names.Add(Seq2SeqGraphNames.EncoderHiddenStates);
                values.Add(OrtValue.CreateTensorValueFromMemory(_encoded, [n, _length, _hidden]));
            }
            if (_sourceIds is not null)
            {
                names.Add(Seq2SeqGraphNames.EncoderInputIds);
                values.Add(OrtValue.CreateTensorValueFromMemory(_sourceIds, [n, _length]));
            }
            if (!first)
            {
                names.AddRange(_export.PastInputs);
                for (int i = 0; i < _export.Layers; i++)
                    foreach (var cache in new[] { _self!, _cross! })
                        for (int kv = 0; kv < 2; kv++) values.Add(cache[2 * i + kv].Value());
            }
            var session = first ? _export.Decoder : _export.DecoderWithPast;
            var (outputs, slots) = first ? _export.DecoderOutputs : _export.DecoderWithPastOutputs;
            try
            {
                using var options = new RunOptions();
                using var results = session.Run(options, names, values, outputs);
                int entries = 2 * _export.Layers;
                var self = new Cached[entries];
                var cross = first ? new Cached[entries] : _cross!;
                bool logits = false;
                for (int o = 0; o < outputs.Length; o++)
                {
                    var shape = results[o].GetTensorTypeAndShape().Shape;
                    var data = results[o].GetTensorDataAsSpan<float>();
                    int slot = slots[o];
                    if (slot < 0)
                    {
                        // The last position's logits: [N, T, V] -> [N, V].
                        int vocab = (int)shape[2], length = (int)shape[1];
                        if (_logits.Length != n * vocab) _logits = new float[n * vocab];
                        for (int r = 0; r < n; r++)
                            data.Slice((r * length + length - 1) * vocab, vocab).CopyTo(_logits.AsSpan(r * vocab, vocab));
                        logits = true;
                    }
                    else if (slot < entries) self[slot] = Cached.Copy(data, shape);
                    else cross[slot - entries] = Cached.Copy(data, shape);
                }
                ReturnAll(_self);
                (_self, _cross) = (self, cross);
                return logits ? _logits : throw new FineTuneException($"the decoder graph of {_export.Folder} returned no logits");
            }
            finally
            {
                foreach (var v in values) v.Dispose();
            }
        }

        public void Reorder(long[] rows)
        {
            // The encoder's keys and values are the same for every beam of an input; only the self-attention entries move.
            if (_self is null) return;
            for (int i = 0; i < _self.Length; i++)
            {
                var old = _self[i];
                int width = old.Length / _rows;
                var moved = System.Buffers.ArrayPool<float>.Shared.Rent(old.Length);
                for (int r = 0; r < _rows; r++) old.Buffer.AsSpan((int)rows[r] * width, width).CopyTo(moved.AsSpan(r * width, width));
                _self[i] = new Cached(moved, old.Length, old.Shape);
                old.Return();
            }
        }

        private static void ReturnAll(Cached[]? cache)
        {
            if (cache is null) return;
            foreach (var c in cache)
                if (c.Buffer is not null) c.Return();
        }

        public void Dispose()
        {
            ReturnAll(_self);
            ReturnAll(_cross);
            _self = _cross = null;
        }
    }
}
