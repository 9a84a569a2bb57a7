using FineTune.Data;
using FineTune.Modeling;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>
/// One window of a question over its context: the answer's start and end token (0, 0 = the first token when the
/// window does not hold the answer; null when not labelled) and, per token, its character range [start, end) in the
/// context (null for the question and special tokens).
/// </summary>
internal sealed record WindowFeature(int[] InputIds, int[] TypeIds, int ExampleIndex, (int Start, int End)? AnswerSpan, (int Start, int End)?[] ContextOffsets)
    : Feature(InputIds, TypeIds, ExampleIndex);

/// <summary>
/// Extractive QA: every question becomes one or more windows over its context (question, then as much context as
/// fits), each labelled with the answer's start and end token, or with [CLS] (0, 0) when the window does not hold
/// the whole answer, as Hugging Face's <c>prepare_train_features</c> does.
/// </summary>
internal static partial class QuestionAnsweringFeatures
{
    /// <summary>
    /// Windows of <paramref name="maxLength"/> tokens whose contexts overlap by <paramref name="docStride"/> tokens.
    /// The label comes from the first reference answer (a question without one points at [CLS]). Returns the
    /// features, in example order, and how many questions needed more than one window.
    /// </summary>
    public static (List<WindowFeature> Features, int MultiWindow) Build(IReadOnlyList<QaExample> examples, ITokenizer tokenizer,
        int maxLength, int docStride)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var perExample = new List<WindowFeature>[examples.Count];
        var errors = new DataException?[examples.Count];
        Parallel.For(0, examples.Count, new ParallelOptions { MaxDegreeOfParallelism = examples.Count < 64 ? 1 : -1 }, i =>
        {
            try { perExample[i] = Windows(examples[i], i, tokenizer, maxLength, docStride); }
            catch (DataException e) { errors[i] = e; }
        });
        // The first bad question in file order, whatever thread met it first.
        if (errors.FirstOrDefault(e => e is not null) is { } error) throw error;
        var features = new List<WindowFeature>(examples.Count);
        int multi = 0;
        foreach (var windows in perExample)
        {
            if (windows.Count > 1) multi++;
            features.AddRange(windows);
        }
        return (features, multi);
    }

    /// <summary>The windows of one question (see <see cref="Build"/>).</summary>
    public static List<WindowFeature> Windows(QaExample example, int exampleIndex, ITokenizer tokenizer, int maxLength, int docStride)
    {
        IReadOnlyList<Text.Encoding> encodings;
        try
        {
            encodings = tokenizer.EncodeWindows(example.Question, example.Context, maxLength, docStride);
        }
        catch (ArgumentException e)
        {
            throw Located(example, $"{e.Message.Split(" (Parameter")[0]} (TrainingOptions.MaxLength {maxLength}, QuestionAnsweringOptions.DocStride {docStride})");
        }
        var answer = example.Answers.Count > 0 ? example.Answers[0] : null;
        var features = new List<WindowFeature>(encodings.Count);
        foreach (var encoding in encodings)
        {
            var offsets = ContextOffsets(encoding);
            var span = answer is null ? (0, 0) : AnswerPositions(offsets, answer.Start, answer.End);
            features.Add(new WindowFeature(encoding.Ids, encoding.TypeIds, exampleIndex, span, offsets));
        }
        return features;
    }

    /// <summary>A padded batch with the answers' start and end tokens [B, 2] when every window has them.</summary>
    public static ModelInput Collate(IReadOnlyList<WindowFeature> batch, int padId, Device device)
    {
        var input = InputPadding.Collate(batch, padId, device);
        if (batch.Any(f => f.AnswerSpan is null)) return input;
        return input with { Labels = tensor(batch.SelectMany(f => new long[] { f.AnswerSpan!.Value.Start, f.AnswerSpan!.Value.End }).ToArray(), device: device).view(batch.Count, 2) };
    }

    /// <summary>
    /// The first and last token of the answer [<paramref name="startChar"/>, <paramref name="endChar"/>) among the
    /// context tokens of a window: the last token starting at or before the answer's start and the first token ending
    /// at or after its end. (0, 0), the [CLS] token, when the window's context does not hold the whole answer.
    /// </summary>
    public static (int Start, int End) AnswerPositions(IReadOnlyList<(int Start, int End)?> offsets, int startChar, int endChar)
    {
        int first = -1, last = -1;
        for (int t = 0; t < offsets.Count; t++)
        {
            if (offsets[t] is null) continue;
            if (first < 0) first = t;
            last = t;
        }
        if (first < 0 || offsets[first]!.Value.Start > startChar || offsets[last]!.Value.End < endChar) return (0, 0);
        int start = first;
        while (start <= last && offsets[start]!.Value.Start <= startChar) start++;
        int end = last;
        while (end >= first && offsets[end]!.Value.End >= endChar) end--;
        return (start - 1, end + 1);
    }

    private static DataException Located(QaExample example, string message) =>
        example.SourceLine is { } line
            ? new DataException(message, example.SourceFile, line)
            : new DataException($"question '{example.Id}': {message}", example.SourceFile);
}
