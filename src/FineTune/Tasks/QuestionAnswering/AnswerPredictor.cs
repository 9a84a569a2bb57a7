using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Runtime;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// The answer to a question: the text cut from the context, where it is ([<see cref="Start"/>, <see cref="End"/>),
/// UTF-16 indices, so <c>context[Start..End] == Text</c>), and its score (the probability of its start times that of its
/// end among the window's context tokens, as Hugging Face's pipeline scores it). Empty text, -1 offsets and score 0
/// when no span qualifies.
/// </summary>
public sealed record Answer(string Text, int Start, int End, double Score)
{
    public bool IsEmpty => Start < 0;
}

/// <summary>Options of <see cref="AnswerPredictor"/>; the window settings default to those of training.</summary>
public sealed record AnswerPredictorOptions : PredictorOptions
{
    /// <summary>The default window when the model folder does not say what it was trained with.</summary>
    public const int DefaultMaxLength = 384;

    /// <summary>
    /// Tokens per window (question, context and special tokens). Null: the length the model was trained with (its
    /// finetune.json), else <see cref="DefaultMaxLength"/>.
    /// </summary>
    public int? MaxLength { get; init; }
    /// <summary>The default stride when the model folder does not say what it was trained with.</summary>
    public const int DefaultDocStride = 128;

    /// <summary>
    /// Context tokens shared by consecutive windows of a long context. Null: the stride the model was trained with
    /// (its finetune.json), else <see cref="DefaultDocStride"/>.
    /// </summary>
    public int? DocStride { get; init; }
    /// <summary>Start and end candidates considered per window.</summary>
    public int NBest { get; init; } = 20;
    /// <summary>The longest answer, in tokens.</summary>
    public int MaxAnswerLength { get; init; } = 30;
}

/// <summary>
/// Answers questions from a context with a fine-tuned extractive-QA model (a run's model/ folder): the context is cut
/// into windows as in training, and the best span over all windows is decoded as in evaluation.
/// </summary>
public sealed class AnswerPredictor : IDisposable
{
    private readonly IForwardModel _model;
    private readonly ITokenizer _tokenizer;
    private readonly Device _device;
    private readonly AnswerPredictorOptions _options;
    private readonly AnswerDecoder _decoder;
    private readonly int _maxLength;
    private readonly Func<IDisposable?>? _precision;

    private AnswerPredictor(IForwardModel model, ITokenizer tokenizer, Device device, AnswerPredictorOptions options, int maxLength)
    {
        _model = model;
        _tokenizer = tokenizer;
        _device = device;
        _options = options;
        _maxLength = maxLength;
        _decoder = new AnswerDecoder(options.NBest, options.MaxAnswerLength);
        _precision = PrecisionScopes.For(options.Precision, device);
    }

    /// <summary>
    /// Loads a question-answering model folder (config.json, weights, tokenizer files), or an export folder of one
    /// (finetune export) run by ONNX Runtime.
    /// </summary>
    public static AnswerPredictor Load(string modelFolder, AnswerPredictorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(modelFolder);
        TaskRegistry.CheckIsNotAnotherTask<QuestionAnsweringTask>(modelFolder, "question-answering");
        return LoadChecked(modelFolder, options ?? new AnswerPredictorOptions());
    }

    /// <summary>Loads a folder already known to hold a question-answering model.</summary>
    internal static AnswerPredictor LoadChecked(string modelFolder, AnswerPredictorOptions options)
    {
        if (options.NBest < 1) throw new OptionException("QuestionAnsweringOptions.NBest", $"must be at least 1, got {options.NBest}");
        if (options.MaxAnswerLength < 1) throw new OptionException("QuestionAnsweringOptions.MaxAnswerLength", $"must be at least 1 token, got {options.MaxAnswerLength}");
        var metadata = FineTuneMetadata.Load(modelFolder);
        int requested = options.MaxLength ?? (metadata?.MaxLength is int trained and > 0 ? trained : AnswerPredictorOptions.DefaultMaxLength);
        options = options with { DocStride = options.DocStride ?? (int?)metadata?.Number(QuestionAnsweringTask.DocStrideKey) ?? AnswerPredictorOptions.DefaultDocStride };
        if (options.DocStride is not int stride || stride < 0 || stride >= requested)
            throw new OptionException("QuestionAnsweringOptions.DocStride", $"{options.DocStride}: must be at least 0 and less than the {requested} tokens of a window (AnswerPredictorOptions.MaxLength)");
        var device = options.Setup();
        var tokenizer = Tokenizers.FromFolder(modelFolder);
        var model = TaskRegistry.Get("question-answering").OpenForPrediction(modelFolder, device, options.Load, options.Precision, options.Threads);
        int limit = PredictionModels.MaxLength(model.Config, tokenizer.ModelMaxLength);
        int maxLength = Math.Min(requested, limit);
        if (options.DocStride!.Value >= maxLength)
        {
            model.Dispose();
            throw new OptionException("QuestionAnsweringOptions.DocStride", $"{options.DocStride}: must be less than the {maxLength} tokens the model takes per window");
        }
        return new AnswerPredictor(model, tokenizer, device, options, maxLength);
    }

    /// <summary>Tokens per window.</summary>
    public int MaxLength => _maxLength;

    /// <summary>Context tokens shared by consecutive windows.</summary>
    public int DocStride => _options.DocStride!.Value;

    /// <summary>
    /// Scores the model on SQuAD JSON or JSONL with reference answers (see <see cref="SquadReader"/>): each question's
    /// context is cut into windows as in training, the answer is decoded over all of them, and SQuAD's exact match
    /// and F1 (0–100) are taken against the reference answers. With the window settings of the run, a run's test file
    /// scores as in the run. An answer that does not match its context at answer_start is an error naming the file
    /// and line (JSONL) or question id, unless <paramref name="skipInvalidRows"/> skips and counts the question.
    /// </summary>
    public AnswerEvaluationResult Evaluate(string file, bool skipInvalidRows = false)
    {
        ArgumentNullException.ThrowIfNull(file);
        var read = SquadReader.Read(file, new SquadReadOptions { SkipMismatchedAnswers = skipInvalidRows });
        var skipped = new SkippedRows(file, read.SkippedCount, read.Skipped.Take(5).ToList());
        if (read.Examples.Count == 0)
            throw new DataException(read.SkippedCount > 0 ? $"no valid questions to evaluate ({read.SkippedCount} skipped)" : "no questions to evaluate", file);
        var (features, multiWindow) = QuestionAnsweringFeatures.Build(read.Examples, _tokenizer, _maxLength, DocStride);
        var evaluator = new QuestionAnsweringEvaluator(read.Examples, _decoder, _options.BatchSize, _tokenizer.PaddingTokenId, _precision);
        var evaluation = evaluator.Run(_model, features, _device, keepPredictions: true);
        return new AnswerEvaluationResult(evaluation.Metrics, evaluation.Squad, read.Examples, evaluation.Predictions!, _maxLength, DocStride,
            features.Count, multiWindow, skipped);
    }

    /// <summary>The answer to one question about one context.</summary>
    public Answer Predict(string question, string context) => Predict([(question, context)])[0];

    /// <summary>The answers to several questions (windows batched across them), in input order.</summary>
    public IReadOnlyList<Answer> Predict(IReadOnlyList<(string Question, string Context)> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Predict(inputs.Select((x, i) => new QaExample((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), "",
            x.Question ?? throw new ArgumentException($"question {i} is null", nameof(inputs)),
            x.Context ?? throw new ArgumentException($"context {i} is null", nameof(inputs)), [], "input", i + 1)).ToList());
    }

    /// <summary>
    /// The answers to questions read from a file (their reference answers, if any, are ignored); a question too long
    /// to leave room for its context is an error naming the question's file and line.
    /// </summary>
    public IReadOnlyList<Answer> Predict(IReadOnlyList<QaExample> questions)
    {
        ArgumentNullException.ThrowIfNull(questions);
        var decoded = Decode(questions);
        var answers = new Answer[questions.Count];
        for (int i = 0; i < questions.Count; i++)
        {
            var (best, windows) = decoded[i];
            answers[i] = best.IsEmpty
                ? new Answer("", -1, -1, 0)
                : new Answer(best.Text, best.StartChar, best.EndChar, AnswerScores.Probability(windows, best));
        }
        return answers;
    }

    /// <summary>Each question's best span over all its windows (windows batched across questions), with the windows' outputs.</summary>
    private (AnswerCandidate Best, QaWindowOutput[] Windows)[] Decode(IReadOnlyList<QaExample> questions)
    {
        var features = new List<WindowFeature>();
        var windowsOf = new List<int>[questions.Count];
        for (int i = 0; i < questions.Count; i++)
        {
            windowsOf[i] = [];
            foreach (var window in QuestionAnsweringFeatures.Windows(questions[i], i, _tokenizer, _maxLength, DocStride))
            {
                windowsOf[i].Add(features.Count);
                features.Add(window with { AnswerSpan = null });
            }
        }
        var outputs = new QaWindowOutput[features.Count];
        BatchedForward.Run(_model, features, _options.BatchSize, _tokenizer.PaddingTokenId, _device, _precision, (indices, logits) =>
        {
            var values = logits.data<float>().ToArray();                                       // [B, T, 2]
            int width = (int)logits.shape[1];
            for (int r = 0; r < indices.Length; r++)
            {
                var feature = features[indices[r]];
                var starts = new float[feature.Length];
                var ends = new float[feature.Length];
                for (int t = 0; t < feature.Length; t++)
                {
                    starts[t] = values[(r * width + t) * 2];
                    ends[t] = values[(r * width + t) * 2 + 1];
                }
                outputs[indices[r]] = new QaWindowOutput(starts, ends, feature.ContextOffsets!);
            }
        });
        var decoded = new (AnswerCandidate, QaWindowOutput[])[questions.Count];
        for (int i = 0; i < questions.Count; i++)
        {
            var windows = windowsOf[i].Select(w => outputs[w]).ToArray();
            decoded[i] = (_decoder.Decode(questions[i].Context, windows), windows);
        }
        return decoded;
    }

    /// <summary>
    /// Explains each question's answer in the window it was found in: the probability of its start token and of its
    /// end token among the window's tokens (or only the one <see cref="ExplanationInput.TargetLabel"/> names), over the
    /// words of the question and of the window's context.
    /// </summary>
    internal ExplanationOutcome Explain(SavedModelRequest request, ExplanationInput input, IReadOnlyList<(long Row, QaExample Example)> questions)
    {
        if (input.TargetLabel is { } asked && asked is not ("start" or "end"))
            throw new OptionException("ExplainRequest.TargetLabel", $"a question-answering model explains the start or the end of its answer: give start or end, got '{asked}'");
        var decoded = Decode(questions.Select(q => q.Example).ToList());
        var inputs = questions.Select((q, i) =>
        {
            var best = decoded[i].Best;
            var encodings = _tokenizer.EncodeWindows(q.Example.Question, q.Example.Context, _maxLength, DocStride);
            var encoding = encodings[best.IsEmpty ? 0 : best.Window];
            var ends = new[] { ("start", 0, best.StartToken), ("end", 1, best.EndToken) }.Where(e => input.TargetLabel is null || input.TargetLabel == e.Item1);
            IReadOnlyList<ExplanationTarget> targets = best.IsEmpty ? [] : ends
                .Select(e => new ExplanationTarget(e.Item1, l => l.select(2, e.Item2).softmax(-1).select(1, e.Item3)))   // [n, T, 2] -> [n, T] -> [n]
                .ToList();
            return new ExplainedInput(q.Row, q.Example.Question, q.Example.Context, encoding, _ => (best.IsEmpty ? "no answer" : best.Text, targets));
        });
        return TaskExplanations.Run(request, input, "Question answering", ExportedTaskModel.Differentiable(_model), _tokenizer.PaddingTokenId, _device, inputs);
    }

    public void Dispose() => _model.Dispose();
}
