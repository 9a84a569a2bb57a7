namespace FineTune.Onnx;

/// <summary>
/// An entity found in a text: its type, the text itself, where it is in the original string (UTF-16 indices,
/// [<see cref="Start"/>, <see cref="End"/>), so <c>text[Start..End] == Text</c>), its first and last word (0-based,
/// inclusive; words as the tokenizer splits them) and the model's confidence (the mean probability of its words' tags).
/// </summary>
public sealed record Entity(string Type, string Text, int Start, int End, int FirstWord, int LastWord, double Score);

/// <summary>
/// An exported token-classification model run with ONNX Runtime: entities in raw text, read as FineTune's
/// EntityPredictor reads them (each word takes its first sub-token's tag; a long text is cut at word boundaries).
/// </summary>
public sealed class EntityPredictor : IDisposable
{
    private readonly ExportedModel _model;
    private readonly IReadOnlyList<string> _tags;
    private readonly int _maxLength;

    private EntityPredictor(ExportedModel model, int? maxLength)
    {
        _model = model;
        _tags = model.Labels() ?? throw new ModelLoadException("has no id2label: a token-classification model needs its tags", Path.Combine(model.Folder, "config.json"), "id2label");
        _maxLength = Math.Min(maxLength ?? Math.Min(512, model.Limit), model.Limit);
        if (_maxLength < 3) throw new OptionException("OnnxPredictorOptions.MaxLength", $"must be at least 3, got {_maxLength}");
    }

    /// <summary>Opens an export folder of a token-classification model.</summary>
    public static EntityPredictor Load(string exportFolder, OnnxPredictorOptions? options = null)
    {
        options ??= new OnnxPredictorOptions();
        return new(ExportedModel.Open(exportFolder, options, "token-classification"), options.MaxLength);
    }

    /// <summary>The tags the model predicts, in id order.</summary>
    public IReadOnlyList<string> Labels => _tags;

    /// <summary>The entities of one text, in text order.</summary>
    public IReadOnlyList<Entity> Predict(string text) => Predict([text])[0];

    /// <summary>The entities of each text (batched across texts), in input order.</summary>
    public IReadOnlyList<IReadOnlyList<Entity>> Predict(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var tokenizer = _model.Tokenizer;
        var noSpecials = new Text.EncodeOptions { AddSpecialTokens = false };
        var encodings = new Text.Encoding[texts.Count];
        var pieces = new List<(int Text, int From, int Count)>();
        var inputs = new List<(int[], int[])>();
        for (int i = 0; i < texts.Count; i++)
        {
            encodings[i] = tokenizer.Encode(texts[i] ?? throw new ArgumentException($"text {i} is null", nameof(texts)), null, noSpecials);
            foreach (var (from, count) in Tasks.EntitySpans.Pieces(encodings[i].WordIds, _maxLength - 2))
            {
                var ids = tokenizer.WithSpecialTokens(encodings[i].Ids.AsSpan(from, count));
                pieces.Add((i, from, count));
                inputs.Add((ids, new int[ids.Length]));
            }
        }
        var tokenLabels = encodings.Select(e => new int[e.Length]).ToArray();
        var tokenScores = encodings.Select(e => new float[e.Length]).ToArray();
        int classes = _tags.Count;
        _model.Run(inputs, (indices, width, outputs) =>
        {
            var logits = outputs["logits"];                                                       // [B, T, C]
            for (int r = 0; r < indices.Length; r++)
            {
                var (text, from, count) = pieces[indices[r]];
                for (int t = 0; t < count; t++)
                {
                    // Token t of the piece is at position t + 1, after the classifier token.
                    var (p, best) = Tasks.SequenceScores.Softmax(logits.AsSpan(((r * width) + t + 1) * classes, classes));
                    tokenLabels[text][from + t] = best;
                    tokenScores[text][from + t] = p[best];
                }
            }
        });
        var result = new IReadOnlyList<Entity>[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            var text = texts[i];
            result[i] = Tasks.EntitySpans.Find(encodings[i], tokenLabels[i], tokenScores[i], id => _tags[id])
                .Select(e => new Entity(e.Type, text[e.Start..e.End], e.Start, e.End, e.FirstWord, e.LastWord, e.Score)).ToList();
        }
        return result;
    }

    public void Dispose() => _model.Dispose();
}
