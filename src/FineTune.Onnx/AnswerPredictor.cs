namespace FineTune.Onnx;

/// <summary>
/// The answer to a question: the text cut from the context, where it is ([<see cref="Start"/>, <see cref="End"/>),
/// UTF-16 indices) and its score (the probability of its start times that of its end among the window's context
/// tokens). Empty text, -1 offsets and score 0 when no span qualifies.
/// </summary>
public sealed record Answer(string Text, int Start, int End, double Score)
{
    public bool IsEmpty => Start < 0;
}

/// <summary>
/// An exported extractive-QA model run with ONNX Runtime: the context is cut into windows as in training, and the
/// best span over all windows is decoded as FineTune's AnswerPredictor decodes it.
/// </summary>
public sealed class AnswerPredictor : IDisposable
{
    private readonly ExportedModel _model;
    private readonly Tasks.AnswerDecoder _decoder;

    private AnswerPredictor(ExportedModel model, int? docStride, int nBest, int maxAnswerLength)
    {
        _model = model;
        DocStride = docStride ?? ExportedModel.Number(model.Metadata["doc_stride"]) ?? 128;
        if (DocStride < 0 || DocStride >= model.MaxLength)
            throw new OptionException("QuestionAnsweringOptions.DocStride", $"{DocStride}: must be at least 0 and less than the {model.MaxLength} tokens of a window");
        if (nBest < 1) throw new OptionException("QuestionAnsweringOptions.NBest", $"must be at least 1, got {nBest}");
        if (maxAnswerLength < 1) throw new OptionException("QuestionAnsweringOptions.MaxAnswerLength", $"must be at least 1 token, got {maxAnswerLength}");
        _decoder = new Tasks.AnswerDecoder(nBest, maxAnswerLength);
    }

    /// <summary>Opens an export folder of a question-answering model; the stride defaults to the one it was trained with.</summary>
    public static AnswerPredictor Load(string exportFolder, OnnxPredictorOptions? options = null, int? docStride = null, int nBest = 20, int maxAnswerLength = 30)
    {
        var model = ExportedModel.Open(exportFolder, options ?? new OnnxPredictorOptions(), "question-answering");
        try { return new AnswerPredictor(model, docStride, nBest, maxAnswerLength); }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Tokens per window.</summary>
    public int MaxLength => _model.MaxLength;

    /// <summary>Context tokens shared by consecutive windows.</summary>
    public int DocStride { get; }

    /// <summary>The answer to one question about one context.</summary>
    public Answer Predict(string question, string context) => Predict([(question, context)])[0];

    /// <summary>The answers to several questions (windows batched across them), in input order.</summary>
    public IReadOnlyList<Answer> Predict(IReadOnlyList<(string Question, string Context)> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var windows = new List<(int Question, Text.Encoding Encoding, (int Start, int End)?[] Offsets)>();
        for (int i = 0; i < inputs.Count; i++)
            foreach (var e in _model.Tokenizer.EncodeWindows(inputs[i].Question, inputs[i].Context, _model.MaxLength, DocStride))
                windows.Add((i, e, Tasks.QuestionAnsweringFeatures.ContextOffsets(e)));
        var outputs = new Tasks.QaWindowOutput[windows.Count];
        _model.Run(windows.Select(w => (w.Encoding.Ids, w.Encoding.TypeIds)).ToList(), (indices, width, results) =>
        {
            var starts = results["start_logits"];
            var ends = results["end_logits"];
            for (int r = 0; r < indices.Length; r++)
            {
                var (_, encoding, offsets) = windows[indices[r]];
                outputs[indices[r]] = new Tasks.QaWindowOutput(starts.AsSpan(r * width, encoding.Length).ToArray(), ends.AsSpan(r * width, encoding.Length).ToArray(), offsets);
            }
        });
        var answers = new Answer[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            var own = Enumerable.Range(0, windows.Count).Where(w => windows[w].Question == i).Select(w => outputs[w]).ToArray();
            var best = _decoder.Decode(inputs[i].Context, own);
            answers[i] = best.IsEmpty ? new Answer("", -1, -1, 0) : new Answer(best.Text, best.StartChar, best.EndChar, Tasks.AnswerScores.Probability(own, best));
        }
        return answers;
    }

    public void Dispose() => _model.Dispose();
}
