using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// An entity found in a text: its type, the text itself, where it is in the original string (UTF-16 indices,
/// [<see cref="Start"/>, <see cref="End"/>), so <c>text[Start..End] == Text</c>), and the model's confidence (the mean
/// probability of the tags of its words).
/// </summary>
public sealed record Entity(string Type, string Text, int Start, int End, double Score);

/// <summary>Options of <see cref="EntityPredictor"/>.</summary>
public sealed record EntityPredictorOptions : PredictorOptions
{
    /// <summary>
    /// Tokens per model input. Prediction cuts a longer text into consecutive pieces at word boundaries (null: what the
    /// model takes, at most 512); evaluation truncates a longer sentence (null: the length the model was trained with,
    /// from its finetune.json, so that the scores match the run's).
    /// </summary>
    public int? MaxLength { get; init; }
}

/// <summary>
/// Finds entities in raw text with a fine-tuned token-classification model (a run's model/ folder).
/// </summary>
/// <remarks>
/// The text is tokenized as the model's tokenizer does (lower-casing, accent stripping, splitting off punctuation),
/// keeping each token's range in the original string. Each word (a whitespace- or punctuation-delimited piece, with
/// all its sub-tokens) takes the tag and probability of its first sub-token, as in training; entities are read from
/// the words' tags as seqeval reads them, and span from the first character of their first word to the last
/// character of their last, so whatever lies between (several spaces, a line break) is kept as it was.
/// </remarks>
public sealed class EntityPredictor : IDisposable
{
    private readonly IForwardModel _model;
    private readonly ITokenizer _tokenizer;
    private readonly TokenLabelMap _labels;
    private readonly Device _device;
    private readonly EntityPredictorOptions _options;
    private readonly int _maxLength;
    private readonly int _evaluationMaxLength;
    private readonly Func<IDisposable?>? _precision;

    private EntityPredictor(IForwardModel model, ITokenizer tokenizer, TokenLabelMap labels, Device device, EntityPredictorOptions options,
        int maxLength, int evaluationMaxLength)
    {
        _model = model;
        _tokenizer = tokenizer;
        _labels = labels;
        _device = device;
        _options = options;
        _maxLength = maxLength;
        _evaluationMaxLength = evaluationMaxLength;
        _precision = PrecisionScopes.For(options.Precision, device);
    }

    /// <summary>
    /// Loads a token-classification model folder (config.json with the tags as id2label, weights, tokenizer files), or
    /// an export folder of one (finetune export) run by ONNX Runtime.
    /// </summary>
    public static EntityPredictor Load(string modelFolder, EntityPredictorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(modelFolder);
        TaskRegistry.CheckIsNotAnotherTask<TokenClassificationTask>(modelFolder, "token-classification");
        return LoadChecked(modelFolder, options ?? new EntityPredictorOptions());
    }

    /// <summary>Loads a folder already known to hold a token-classification model.</summary>
    internal static EntityPredictor LoadChecked(string modelFolder, EntityPredictorOptions options)
    {
        var device = options.Setup();
        var tokenizer = Tokenizers.FromFolder(modelFolder);
        var model = TaskRegistry.Get("token-classification").OpenForPrediction(modelFolder, device, options.Load, options.Precision, options.Threads);
        try
        {
            var tags = model.Config.LabelsInOrder() ?? throw new ModelLoadException("has no id2label: a token-classification model needs its tags", Path.Combine(modelFolder, "config.json"), "id2label");
            TokenLabelMap labels;
            try { labels = new TokenLabelMap(tags); }
            catch (FineTuneException e) { throw new ModelLoadException($"id2label are not entity tags: {e.Message}", Path.Combine(modelFolder, "config.json"), "id2label"); }
            int limit = Math.Min(512, PredictionModels.MaxLength(model.Config, tokenizer.ModelMaxLength));
            int maxLength = options.MaxLength is int asked ? Math.Min(asked, limit) : limit;
            if (maxLength < 3) throw new OptionException("EntityPredictorOptions.MaxLength", $"must be at least 3, got {maxLength}");
            int evaluationMaxLength = options.MaxLength is null && FineTuneMetadata.Load(modelFolder)?.MaxLength is int trained and >= 3
                ? Math.Min(trained, limit)
                : maxLength;
            return new EntityPredictor(model, tokenizer, labels, device, options, maxLength, evaluationMaxLength);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Tokens per model input in prediction; a longer text is cut into pieces at word boundaries.</summary>
    public int MaxLength => _maxLength;

    /// <summary>The tags the model predicts, in id order.</summary>
    public IReadOnlyList<string> Labels => _labels.Labels;

    /// <summary>The entity types the model knows.</summary>
    public IReadOnlyList<string> EntityTypes => _labels.EntityTypes;

    /// <summary>
    /// Scores the model on a labelled file, CoNLL columns or JSONL as training reads them (see <see cref="ConllReader"/>):
    /// entity precision, recall and F1 (micro and per type, seqeval's definition) and token accuracy, with the gold tags
    /// converted from the file's scheme (given or detected) to the model's. Sentences are truncated to
    /// <see cref="EntityPredictorOptions.MaxLength"/> (by default the length the model was trained with), so a run's
    /// test file scores as in the run. A tag the model doesn't know, or an invalid line, is an error naming the file
    /// and line, unless <see cref="EntityEvaluationOptions.SkipInvalidRows"/> skips and counts it.
    /// </summary>
    public EntityEvaluationResult Evaluate(string file, EntityEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        options ??= new EntityEvaluationOptions();
        if (options.TagColumn < 0) throw new OptionException("TokenClassificationOptions.TagColumn", $"must be 0 or more (0-based), got {options.TagColumn}");
        var data = ConllReader.Load(file, new ConllReadOptions
        {
            TagColumn = options.TagColumn,
            SourceScheme = options.Scheme,
            TargetScheme = _labels.Scheme,
            Labels = _labels,
            SkipInvalidRows = options.SkipInvalidRows,
            ReportedInvalidRows = options.ReportedInvalidRows,
        });
        if (data.Count == 0)
            throw new DataException(data.Skipped.Count > 0 ? $"no valid sentences to evaluate ({data.Skipped.Count} skipped)" : "no sentences to evaluate", file);
        var (features, truncated) = TokenClassificationFeatures.Build(data.Examples, _tokenizer, _labels, _evaluationMaxLength);
        var evaluator = new TokenClassificationEvaluator(data.Examples, _labels, _options.BatchSize, _tokenizer.PaddingTokenId, _precision);
        var evaluation = evaluator.Run(_model, features, _device, keepPredictions: true);
        return new EntityEvaluationResult(evaluation.Metrics, evaluation.Entities, data.Examples, evaluation.Predictions!, data.SourceScheme,
            data.SchemeDetected, data.Scheme, _evaluationMaxLength, truncated, data.Skipped);
    }

    /// <summary>The entities of one text, in text order.</summary>
    public IReadOnlyList<Entity> Predict(string text) => Predict([text])[0];

    /// <summary>The entities of each text (batched across texts), in input order.</summary>
    public IReadOnlyList<IReadOnlyList<Entity>> Predict(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var noSpecials = new EncodeOptions { AddSpecialTokens = false };
        var encodings = new Text.Encoding[texts.Count];
        var pieces = new List<(int Text, int From, int Count)>();
        var features = new List<Feature>();
        for (int i = 0; i < texts.Count; i++)
        {
            encodings[i] = _tokenizer.Encode(texts[i] ?? throw new ArgumentException($"text {i} is null", nameof(texts)), null, noSpecials);
            foreach (var (from, count) in EntitySpans.Pieces(encodings[i].WordIds, _maxLength - 2))
            {
                var ids = _tokenizer.WithSpecialTokens(encodings[i].Ids.AsSpan(from, count));
                pieces.Add((i, from, count));
                features.Add(new Feature(ids, new int[ids.Length], features.Count));
            }
        }
        // Per token of each text: the predicted label id and its probability.
        var tokenLabels = encodings.Select(e => new int[e.Length]).ToArray();
        var tokenScores = encodings.Select(e => new float[e.Length]).ToArray();
        BatchedForward.Run(_model, features, _options.BatchSize, _tokenizer.PaddingTokenId, _device, _precision, (indices, logits) =>
        {
            var (best, ids) = logits.softmax(-1).max(-1);                                     // [B, T, C] -> [B, T]
            var scores = best.data<float>().ToArray();
            var labelIds = ids.to(ScalarType.Int32).data<int>().ToArray();
            int width = (int)ids.shape[1];
            for (int r = 0; r < indices.Length; r++)
            {
                var (text, from, count) = pieces[indices[r]];
                Array.Copy(labelIds, r * width + 1, tokenLabels[text], from, count);
                Array.Copy(scores, r * width + 1, tokenScores[text], from, count);
            }
        });
        var result = new IReadOnlyList<Entity>[texts.Count];
        for (int i = 0; i < texts.Count; i++)
            result[i] = Entities(texts[i], encodings[i], tokenLabels[i], tokenScores[i]);
        return result;
    }

    private List<Entity> Entities(string text, Text.Encoding encoding, int[] tokenLabels, float[] tokenScores) =>
        EntitySpans.Find(encoding, tokenLabels, tokenScores, id => _labels[id]).Select(e => ToEntity(text, e)).ToList();

    private static Entity ToEntity(string text, EntitySpans.Span span) => new(span.Type, text[span.Start..span.End], span.Start, span.End, span.Score);

    /// <summary>
    /// Explains the entities found in each text (cut to the model's length, with its special tokens): for each entity,
    /// the mean probability of its words' predicted tags (each word's first sub-token, as in training); with
    /// <see cref="ExplanationInput.TargetLabel"/>, only the entities of that type.
    /// </summary>
    internal ExplanationOutcome Explain(SavedModelRequest request, ExplanationInput input, IReadOnlyList<TextInput> rows)
    {
        if (input.TargetLabel is { } type && !EntityTypes.Contains(type, StringComparer.Ordinal))
            throw new OptionException("ExplainRequest.TargetLabel", $"unknown entity type '{type}'; the model's types are: {string.Join(", ", EntityTypes)}");
        var options = EncodeOptions.Truncate(_maxLength);
        var inputs = rows.Select(r =>
        {
            var encoding = _tokenizer.Encode(r.Text, null, options);
            return new ExplainedInput(r.SourceRow, r.Text, null, encoding, logits => EntityTargets(r.Text, encoding, logits, input.TargetLabel));
        });
        return TaskExplanations.Run(request, input, "Token classification", ExportedTaskModel.Differentiable(_model), _tokenizer.PaddingTokenId, _device, inputs);
    }

    private (string Prediction, IReadOnlyList<ExplanationTarget> Targets) EntityTargets(string text, Text.Encoding encoding, Tensor logits, string? type)
    {
        var (best, ids) = logits[0].softmax(-1).max(-1);                                        // [1, T, C] -> [T]
        var scores = best.data<float>().ToArray();
        var labels = ids.to(ScalarType.Int32).data<int>().ToArray();
        var spans = EntitySpans.Find(encoding, labels, scores, id => _labels[id]);
        var entities = spans.Select(e => ToEntity(text, e)).ToList();
        var (wordFirst, _) = EntitySpans.Words(encoding);
        var targets = new List<ExplanationTarget>();
        foreach (var (span, entity) in spans.Zip(entities))
        {
            if (type is not null && span.Type != type) continue;
            var tokens = Enumerable.Range(span.FirstWord, span.LastWord - span.FirstWord + 1)
                .Select(w => (Token: (long)wordFirst[w], Tag: (long)labels[wordFirst[w]])).ToArray();
            targets.Add(new ExplanationTarget($"{entity.Type} '{entity.Text}'", l =>
            {
                var p = l.softmax(-1);                                                           // [n, T, C]
                var sum = p.select(1, tokens[0].Token).select(1, tokens[0].Tag);                 // [n]
                for (int k = 1; k < tokens.Length; k++) sum = sum + p.select(1, tokens[k].Token).select(1, tokens[k].Tag);
                return sum / tokens.Length;
            }));
        }
        var prediction = entities.Count == 0 ? "no entities" : string.Join("; ", entities.Select(e => $"{e.Type}: {e.Text}"));
        return (prediction, targets);
    }

    public void Dispose() => _model.Dispose();
}
