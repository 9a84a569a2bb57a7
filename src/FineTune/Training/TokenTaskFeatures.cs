using FineTune.Data;
using FineTune.Text;

namespace FineTune.Training;

/// <summary>Token classification: one feature per sentence, its word labels aligned to sub-words.</summary>
public static class TokenClassificationFeatures
{
    /// <summary>
    /// Tokenizes each sentence's words (Hugging Face's <c>is_split_into_words</c>), truncated to <paramref name="maxLength"/>,
    /// and labels its tokens (<see cref="TokenLabelMap.AlignLabels"/>). Returns the features and how many sentences lost
    /// words to truncation. A tag the label map lacks is a <see cref="DataException"/> naming the file and line.
    /// </summary>
    public static (List<Feature> Features, int Truncated) Build(IReadOnlyList<TokenExample> examples, BertTokenizer tokenizer,
        TokenLabelMap labels, int maxLength, SubwordLabeling labeling = SubwordLabeling.FirstSubword)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var options = EncodeOptions.Truncate(maxLength);
        var features = new List<Feature>(examples.Count);
        int truncated = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var example = examples[i];
            var encoding = tokenizer.EncodeWords(example.Words, options);
            if (encoding.WasTruncated) truncated++;
            features.Add(new Feature(encoding.Ids, encoding.TypeIds, i)
            {
                TokenLabels = labels.AlignLabels(example, encoding.WordIds, labeling),
                WordIds = encoding.WordIds,
            });
        }
        return (features, truncated);
    }
}

/// <summary>
/// Extractive QA: every question becomes one or more windows over its context (question, then as much context as
/// fits), each labelled with the answer's start and end token, or with [CLS] (0, 0) when the window does not hold
/// the whole answer, as Hugging Face's <c>prepare_train_features</c> does.
/// </summary>
public static class QuestionAnsweringFeatures
{
    /// <summary>
    /// Windows of <paramref name="maxLength"/> tokens whose contexts overlap by <paramref name="docStride"/> tokens.
    /// The label comes from the first reference answer (a question without one points at [CLS]). Returns the
    /// features, in example order, and how many questions needed more than one window.
    /// </summary>
    public static (List<Feature> Features, int MultiWindow) Build(IReadOnlyList<QaExample> examples, BertTokenizer tokenizer,
        int maxLength, int docStride)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var perExample = new List<Feature>[examples.Count];
        var errors = new DataException?[examples.Count];
        Parallel.For(0, examples.Count, new ParallelOptions { MaxDegreeOfParallelism = examples.Count < 64 ? 1 : -1 }, i =>
        {
            try { perExample[i] = Windows(examples[i], i, tokenizer, maxLength, docStride); }
            catch (DataException e) { errors[i] = e; }
        });
        // The first bad question in file order, whatever thread met it first.
        if (errors.FirstOrDefault(e => e is not null) is { } error) throw error;
        var features = new List<Feature>(examples.Count);
        int multi = 0;
        foreach (var windows in perExample)
        {
            if (windows.Count > 1) multi++;
            features.AddRange(windows);
        }
        return (features, multi);
    }

    /// <summary>The windows of one question (see <see cref="Build"/>).</summary>
    public static List<Feature> Windows(QaExample example, int exampleIndex, BertTokenizer tokenizer, int maxLength, int docStride)
    {
        IReadOnlyList<Text.Encoding> encodings;
        try
        {
            encodings = tokenizer.EncodeWindows(example.Question, example.Context, maxLength, docStride);
        }
        catch (ArgumentException e)
        {
            throw Located(example, $"{e.Message.Split(" (Parameter")[0]} (--max-length {maxLength}, --doc-stride {docStride})");
        }
        var answer = example.Answers.Count > 0 ? example.Answers[0] : null;
        var features = new List<Feature>(encodings.Count);
        foreach (var encoding in encodings)
        {
            var offsets = ContextOffsets(encoding);
            var span = answer is null ? (0, 0) : AnswerPositions(offsets, answer.Start, answer.End);
            features.Add(new Feature(encoding.Ids, encoding.TypeIds, exampleIndex) { AnswerSpan = span, ContextOffsets = offsets });
        }
        return features;
    }

    /// <summary>Per token its character range in the context (sequence 1), null for the question and special tokens.</summary>
    public static (int Start, int End)?[] ContextOffsets(Text.Encoding encoding)
    {
        var offsets = new (int Start, int End)?[encoding.Length];
        for (int t = 0; t < offsets.Length; t++)
            if (encoding.SequenceIds[t] == 1)
                offsets[t] = (encoding.Offsets[t].Start, encoding.Offsets[t].End);
        return offsets;
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
