using FineTune.Checkpoints;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Text;
using FineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Inference;

/// <summary>
/// Sentence embeddings from an encoder (a catalog model, a similarity fine-tune, or any HF BERT-family folder): the
/// hidden states mean-pooled over real tokens, optionally L2-normalised, as sentence-transformers computes them. An
/// export folder of a similarity or feature-extraction model (finetune export) gives its graph's sentence_embedding,
/// run by ONNX Runtime.
/// </summary>
public sealed class SentenceEmbedder : IDisposable
{
    private readonly Func<ModelInput, Tensor> _embed;
    private readonly IDisposable _model;
    private readonly Device _device;
    private readonly Func<IDisposable?>? _precision;

    private SentenceEmbedder(Func<ModelInput, Tensor> embed, IDisposable model, int dimension, ITokenizer tokenizer, Device device,
        Func<IDisposable?>? precision, int maxLength)
    {
        _embed = embed;
        _model = model;
        Dimension = dimension;
        Tokenizer = tokenizer;
        _device = device;
        _precision = precision;
        MaxLength = maxLength;
    }

    public ITokenizer Tokenizer { get; }
    public int Dimension { get; }
    public int MaxLength { get; set; }
    public int BatchSize { get; set; } = 64;

    /// <summary>
    /// Loads an encoder folder or catalog model, or an export folder (fp32, or int8 with <see cref="Precision.Int8"/>);
    /// <paramref name="threads"/> sets the CPU threads (null: one per processor).
    /// </summary>
    public static SentenceEmbedder Load(string modelOrCatalogName, string device = "cpu", Precision precision = Precision.Fp32, int? threads = null)
    {
        TorchRuntime.SetThreads(threads);
        var folder = ModelCatalog.Resolve(modelOrCatalogName);
        var dev = TorchRuntime.ParseDevice(device);
        var tokenizer = Tokenizers.FromFolder(folder);
        if (ExportFolder.IsExport(folder))
        {
            var export = ExportedTaskModel.Open(folder, dev, precision, threads, "similarity", "feature-extraction");
            return new SentenceEmbedder(input => export.Forward(input).Logits, export, export.Config.HiddenSize, tokenizer, dev, null,
                DefaultMaxLength(folder, export.Config, tokenizer));
        }
        if (precision == Precision.Int8)
            throw new OptionException("PredictorOptions.Precision", $"int8 runs the quantized model of an export folder, and {folder} is a model folder: export it with int8 quantization and give the export folder");
        var (encoder, _) = ModelFolder.LoadEncoder(folder);
        encoder.to(dev);
        encoder.eval();
        return new SentenceEmbedder(input => ForSentenceEmbedding.MeanPool(encoder.call(input).LastHiddenState, input.AttentionMask), encoder,
            encoder.Config.HiddenSize, tokenizer, dev, PrecisionScopes.For(precision, dev), DefaultMaxLength(folder, encoder.Config, tokenizer));
    }

    /// <summary>The length the model was trained with, else what the model and its tokenizer take (at most 512 without a tokenizer limit).</summary>
    private static int DefaultMaxLength(string folder, EncoderConfig config, ITokenizer tokenizer) =>
        FineTuneMetadata.Load(folder)?.MaxLength is > 0 and var m ? m : Math.Min(tokenizer.ModelMaxLength ?? 512, ModelFamilies.Of(config).MaxSequenceLength(config));

    /// <summary>One vector per text, in input order; unit length when <paramref name="normalize"/>.</summary>
    public float[][] Embed(IReadOnlyList<string> texts, bool normalize = false)
    {
        var encodings = Tokenizer.EncodeBatch(texts, EncodeOptions.Truncate(MaxLength));
        var features = encodings.Select((e, i) => new Feature(e.Ids, e.TypeIds, i)).ToList();
        var result = new float[texts.Count][];
        var order = Enumerable.Range(0, features.Count).OrderByDescending(i => features[i].Length).ToArray();
        using var _ = inference_mode();
        for (int start = 0; start < order.Length; start += BatchSize)
        {
            using var scope = NewDisposeScope();
            var indices = order.AsSpan(start, Math.Min(BatchSize, order.Length - start)).ToArray();
            var input = InputPadding.Collate(indices.Select(i => features[i]).ToList(), Tokenizer.PaddingTokenId, _device);
            Tensor pooled;
            using (_precision?.Invoke())
                pooled = _embed(input);
            pooled = pooled.to(ScalarType.Float32);
            if (normalize) pooled = nn.functional.normalize(pooled, p: 2, dim: 1);
            var flat = pooled.cpu().data<float>().ToArray();
            for (int r = 0; r < indices.Length; r++)
                result[indices[r]] = flat.AsSpan(r * Dimension, Dimension).ToArray();
        }
        return result;
    }

    /// <summary>The cosine similarity of two texts' embeddings.</summary>
    public double Similarity(string a, string b)
    {
        var v = Embed([a, b], normalize: true);
        double dot = 0;
        for (int i = 0; i < v[0].Length; i++) dot += v[0][i] * v[1][i];
        return dot;
    }

    public void Dispose() => _model.Dispose();
}
