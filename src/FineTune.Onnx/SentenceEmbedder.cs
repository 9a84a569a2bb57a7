namespace FineTune.Onnx;

/// <summary>
/// Sentence embeddings from an export (a similarity fine-tune, or a catalog model exported for feature extraction):
/// the graph's sentence_embedding, the hidden states mean-pooled over real tokens, optionally L2-normalised.
/// </summary>
public sealed class SentenceEmbedder : IDisposable
{
    private readonly ExportedModel _model;

    private SentenceEmbedder(ExportedModel model) => _model = model;

    /// <summary>Opens an export folder of a sentence-embedding model.</summary>
    public static SentenceEmbedder Load(string exportFolder, OnnxPredictorOptions? options = null) =>
        new(ExportedModel.Open(exportFolder, options ?? new OnnxPredictorOptions(), "similarity", "feature-extraction"));

    /// <summary>The length of a vector.</summary>
    public int Dimension => ExportedModel.Number(_model.Config["hidden_size"] ?? _model.Config["dim"]) ?? 0;

    /// <summary>Tokens per text; longer texts are truncated.</summary>
    public int MaxLength => _model.MaxLength;

    /// <summary>One vector per text, in input order; unit length when <paramref name="normalize"/>.</summary>
    public float[][] Embed(IReadOnlyList<string> texts, bool normalize = false)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var encodings = _model.Tokenizer.EncodeBatch(texts, Text.EncodeOptions.Truncate(_model.MaxLength));
        var result = new float[texts.Count][];
        _model.Run(encodings.Select(e => (e.Ids, e.TypeIds)).ToList(), (indices, _, outputs) =>
        {
            var pooled = outputs["sentence_embedding"];
            int width = pooled.Length / indices.Length;
            for (int r = 0; r < indices.Length; r++)
            {
                var v = pooled.AsSpan(r * width, width).ToArray();
                if (normalize)
                {
                    // As torch's normalize: v / max(‖v‖, 1e-12).
                    double norm = Math.Max(Math.Sqrt(v.Sum(x => (double)x * x)), 1e-12);
                    for (int i = 0; i < v.Length; i++) v[i] = (float)(v[i] / norm);
                }
                result[indices[r]] = v;
            }
        });
        return result;
    }

    /// <summary>The cosine similarity of two texts' embeddings.</summary>
    public double Similarity(string a, string b)
    {
        var v = Embed([a, b], normalize: true);
        return System.Numerics.Tensors.TensorPrimitives.Dot(v[0], v[1]);
    }

    public void Dispose() => _model.Dispose();
}
