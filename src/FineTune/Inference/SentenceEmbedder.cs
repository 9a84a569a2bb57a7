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
/// hidden states mean-pooled over real tokens, optionally L2-normalised, as sentence-transformers computes them.
/// </summary>
public sealed class SentenceEmbedder : IDisposable
{
    private readonly TransformerEncoder _encoder;
    private readonly Device _device;
    private readonly Func<IDisposable?>? _precision;

    private SentenceEmbedder(TransformerEncoder encoder, ITokenizer tokenizer, Device device, Func<IDisposable?>? precision, int maxLength)
    {
        _encoder = encoder;
        Tokenizer = tokenizer;
        _device = device;
        _precision = precision;
        MaxLength = maxLength;
    }

    public ITokenizer Tokenizer { get; }
    public int Dimension => _encoder.Config.HiddenSize;
    public int MaxLength { get; set; }
    public int BatchSize { get; set; } = 64;

    /// <summary>Loads an encoder folder or catalog model; <paramref name="threads"/> sets libtorch's CPU threads (null: one per processor).</summary>
    public static SentenceEmbedder Load(string modelOrCatalogName, string device = "cpu", Precision precision = Precision.Fp32, int? threads = null)
    {
        TorchRuntime.SetThreads(threads);
        var folder = ModelCatalog.Resolve(modelOrCatalogName);
        var (encoder, _) = ModelFolder.LoadEncoder(folder);
        var dev = TorchRuntime.ParseDevice(device);
        encoder.to(dev);
        encoder.eval();
        var tokenizer = Tokenizers.FromFolder(folder);
        int limit = ModelFamilies.Of(encoder.Config).MaxSequenceLength(encoder.Config);
        int maxLength = FineTuneMetadata.Load(folder)?.MaxLength is > 0 and var m ? m : Math.Min(tokenizer.ModelMaxLength ?? 512, limit);
        return new SentenceEmbedder(encoder, tokenizer, dev, PrecisionScopes.For(precision, dev), maxLength);
    }

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
                pooled = ForSentenceEmbedding.MeanPool(_encoder.call(input).LastHiddenState, input.AttentionMask);
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

    public void Dispose() => _encoder.Dispose();
}
