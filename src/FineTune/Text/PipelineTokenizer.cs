using System.Text.Json.Nodes;
using FineTune.Text.Pipeline;

namespace FineTune.Text;

/// <summary>
/// A tokenizer from any Hugging Face tokenizer.json of the BERT, RoBERTa, XLM-R and DeBERTa-v3 kinds, run as Hugging
/// Face's <c>tokenizers</c> runs it: added tokens, normalizer, pre-tokenizer, model (WordPiece, BPE, Unigram),
/// truncation and post-processor, with the same ids, type ids, offsets (UTF-16 indices into the original text),
/// sequence ids and word ids. Thread-safe.
/// </summary>
internal sealed partial class PipelineTokenizer : ITokenizer
{
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly TokenModel _model;
    private readonly AddedVocabulary _added;
    private readonly PostProcessor _processor;
    private readonly Pipeline.Decoder? _decoder;
    private readonly string[] _display;
    private readonly Dictionary<string, int> _addedIds;
    private readonly HashSet<int> _specialIds;

    [ThreadStatic] private static SequenceTokens? t_first;
    [ThreadStatic] private static SequenceTokens? t_second;
    [ThreadStatic] private static List<PieceToken>? t_pieces;

    internal PipelineTokenizer(Normalizer? normalizer, PreTokenizer? preTokenizer, TokenModel model, IReadOnlyList<PipelineAddedToken> addedTokens,
        PostProcessor processor, Pipeline.Decoder? decoder, PipelineTokenizerSettings settings, string source)
    {
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _model = model;
        _processor = processor;
        _decoder = decoder;
        _added = new AddedVocabulary(addedTokens, normalizer);
        Settings = settings;
        Source = source;
        int size = model.Vocabulary.Length;
        foreach (var t in addedTokens) size = Math.Max(size, t.Id + 1);
        _display = new string[size];
        for (int i = 0; i < model.Vocabulary.Length; i++) _display[i] = model.Vocabulary[i] ?? "";
        _addedIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in addedTokens)
        {
            _display[t.Id] = t.Content;
            _addedIds[t.Content] = t.Id;
        }
        _specialIds = addedTokens.Where(t => t.Special).Select(t => t.Id).ToHashSet();
        UnknownTokenId = FindId(settings.UnknownToken, "<unk>", "[UNK]") ?? -1;
        PaddingTokenId = FindId(settings.PaddingToken, "<pad>", "[PAD]") ?? (UnknownTokenId >= 0 ? UnknownTokenId : 0);
    }

    private int? FindId(params string?[] tokens)
    {
        foreach (var t in tokens)
            if (t is not null && TokenToId(t) is int id) return id;
        return null;
    }

    /// <summary>What tokenizer.json does not say: special tokens named by tokenizer_config.json, model_max_length, the files to save beside it.</summary>
    public PipelineTokenizerSettings Settings { get; }

    /// <summary>The file or folder it was loaded from (for messages).</summary>
    public string Source { get; }

    /// <summary>tokenizer.json's model.type: WordPiece, BPE or Unigram.</summary>
    public string Model => _model.Type;

    public int VocabSize => _display.Length;
    public int PaddingTokenId { get; }
    public int UnknownTokenId { get; }
    public int? ModelMaxLength => Settings.ModelMaxLength;

    public int SpecialTokenCount(bool pair) => _processor.SpecialTokenCount(pair);

    public string IdToToken(int id) =>
        (uint)id < (uint)_display.Length ? _display[id] : throw new ArgumentOutOfRangeException(nameof(id), id, $"not a token id (vocabulary size {VocabSize})");

    public int? TokenToId(string token) =>
        _addedIds.TryGetValue(token, out var added) ? added : _model.TryGetId(token, out var id) ? id : null;

    /// <summary>True for the ids of added tokens marked special.</summary>
    public bool IsSpecialToken(int id) => _specialIds.Contains(id);

    /// <summary>The ids inside the single-sequence template (RoBERTa and XLM-R: &lt;s&gt; ids &lt;/s&gt;).</summary>
    public int[] WithSpecialTokens(ReadOnlySpan<int> ids)
    {
        var result = new List<int>(ids.Length + 4);
        foreach (var piece in _processor.Single)
        {
            if (piece.IsSequence)
                foreach (var id in ids) result.Add(id);
            else result.AddRange(_processor.SpecialTokens[piece.SpecialToken!]);
        }
        return result.ToArray();
    }

    /// <summary>The tokens of one sequence before post-processing, with what offset trimming needs.</summary>
    private sealed class SequenceTokens
    {
        public readonly List<int> Ids = new(64), Starts = new(64), Ends = new(64), Words = new(64);
        public readonly List<string?> Values = new(64); // an added token's matched text; null: the vocabulary's string
        public readonly List<string> Originals = new(4); // the text the offsets index: one, or one per word
        public readonly List<int> OriginalOf = new(64);

        public int Count => Ids.Count;

        public void Clear()
        {
            Ids.Clear();
            Starts.Clear();
            Ends.Clear();
            Words.Clear();
            Values.Clear();
            Originals.Clear();
            OriginalOf.Clear();
        }
    }

    /// <summary>Runs the pipeline over <paramref name="text"/> and appends its tokens (words numbered from 0, or all <paramref name="fixedWord"/>).</summary>
    private void Tokenize(string text, SequenceTokens output, int fixedWord = -1)
    {
        output.Originals.Add(text);
        int original = output.Originals.Count - 1;
        var splits = _added.ExtractAndNormalize(text, 0, text.Length, _normalizer);
        _preTokenizer?.PreTokenize(splits);
        var pieces = t_pieces ??= new List<PieceToken>(64);
        int word = 0;
        foreach (var split in splits)
        {
            int w = fixedWord >= 0 ? fixedWord : word++;
            var t = split.Text;
            if (split.IsAddedToken)
            {
                var (s, e) = t.OriginalRange(0, t.Length);
                Add(split.AddedTokenId, s, e, w, t.ToString());
                continue;
            }
            pieces.Clear();
            _model.Tokenize(t.Span, pieces);
            foreach (var p in pieces)
            {
                var (s, e) = t.OriginalRange(p.Start, p.End);
                Add(p.Id, s, e, w, null);
            }
        }

        void Add(int id, int start, int end, int w, string? value)
        {
            output.Ids.Add(id);
            output.Starts.Add(start);
            output.Ends.Add(end);
            output.Words.Add(w);
            output.Values.Add(value);
            output.OriginalOf.Add(original);
        }
    }

    private SequenceTokens First() { var t = t_first ??= new SequenceTokens(); t.Clear(); return t; }

    private SequenceTokens Second() { var t = t_second ??= new SequenceTokens(); t.Clear(); return t; }

    public Encoding Encode(string text, string? pair = null, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        options ??= EncodeOptions.Default;
        var first = First();
        Tokenize(text, first);
        SequenceTokens? second = null;
        if (pair is not null)
        {
            second = Second();
            Tokenize(pair, second);
        }
        int n1 = first.Count, n2 = second?.Count ?? 0;
        if (options.MaxLength is int maxLength && options.Truncation != TruncationStrategy.DoNotTruncate)
            (n1, n2) = EncodingSupport.TruncatedLengths(first.Count, second?.Count, maxLength, options.Truncation,
                options.AddSpecialTokens ? SpecialTokenCount(second is not null) : 0);
        int truncated = first.Count - n1 + (second is null ? 0 : second.Count - n2);
        return Build(first, 0, n1, second, 0, n2, options.AddSpecialTokens, truncated);
    }

    public Encoding EncodeWords(IReadOnlyList<string> words, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(words);
        options ??= EncodeOptions.Default;
        var first = First();
        for (int i = 0; i < words.Count; i++)
            Tokenize(words[i] ?? throw new ArgumentException($"word {i} is null", nameof(words)), first, i);
        int n1 = first.Count;
        if (options.MaxLength is int maxLength && options.Truncation != TruncationStrategy.DoNotTruncate)
            (n1, _) = EncodingSupport.TruncatedLengths(first.Count, null, maxLength, options.Truncation, options.AddSpecialTokens ? SpecialTokenCount(false) : 0);
        return Build(first, 0, n1, null, 0, 0, options.AddSpecialTokens, first.Count - n1);
    }

    public IReadOnlyList<Encoding> EncodeWindows(string question, string context, int maxLength, int stride = 0, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(context);
        var first = First();
        var second = Second();
        Tokenize(question, first);
        Tokenize(context, second);
        return EncodingSupport.Windows(first.Count, second.Count, maxLength, stride, addSpecialTokens ? SpecialTokenCount(true) : 0,
            (start, count) => Build(first, 0, first.Count, second, start, count, addSpecialTokens, 0, overflowing: start > 0));
    }

    public Encoding[] EncodeBatch(IReadOnlyList<string> texts, EncodeOptions? options = null, int maxDegreeOfParallelism = -1) =>
        EncodingSupport.EncodeBatch(this, texts, options, maxDegreeOfParallelism);

    /// <summary>Tokenizes many text pairs (in parallel when there are enough of them); results are in input order.</summary>
    public Encoding[] EncodeBatch(IReadOnlyList<(string Text, string? Pair)> inputs, EncodeOptions? options = null, int maxDegreeOfParallelism = -1) =>
        EncodingSupport.EncodeBatch(this, inputs, options, maxDegreeOfParallelism);

    public TokenBatch ToBatch(IReadOnlyList<Encoding> encodings, int? length = null, int? multipleOf = null) =>
        EncodingSupport.ToBatch(encodings, length, multipleOf, PaddingTokenId);

    /// <summary>Hugging Face's post-processing: offsets trimmed (ByteLevel), then the template's special tokens, type ids, sequence ids and word ids.</summary>
    private Encoding Build(SequenceTokens first, int from1, int count1, SequenceTokens? second, int from2, int count2, bool addSpecialTokens, int truncated,
        bool overflowing = false)
    {
        var template = second is null ? _processor.Single : _processor.Pair;
        int length = count1 + count2 + (addSpecialTokens ? SpecialTokenCount(second is not null) : 0);
        var ids = new int[length];
        var typeIds = new int[length];
        var mask = new int[length];
        var offsets = new TokenOffset[length];
        var sequenceIds = new int?[length];
        var wordIds = new int?[length];
        Array.Fill(mask, 1);
        int at = 0;
        foreach (var piece in template)
        {
            if (!piece.IsSequence)
            {
                if (!addSpecialTokens) continue;
                foreach (var id in _processor.SpecialTokens[piece.SpecialToken!])
                {
                    ids[at] = id;
                    typeIds[at] = piece.TypeId;
                    at++;
                }
                continue;
            }
            var (list, from, count) = piece.Sequence == 0 ? (first, from1, count1) : (second!, from2, count2);
            int typeId = overflowing && piece.Sequence == 1 && !_processor.ZeroTypeIds ? 1 : piece.TypeId;
            for (int i = from; i < from + count; i++, at++)
            {
                ids[at] = list.Ids[i];
                typeIds[at] = typeId;
                offsets[at] = _processor.TrimOffsets ? Trim(list, i, i == from) : new TokenOffset(list.Starts[i], list.Ends[i]);
                sequenceIds[at] = piece.Sequence;
                wordIds[at] = list.Words[i];
            }
        }
        return new Encoding(ids, typeIds, mask, offsets, sequenceIds, wordIds, truncated, _display);
    }

    /// <summary>
    /// ByteLevel offset trimming: the token's leading and trailing spaces (Ġ or whitespace) are left out of its offsets;
    /// with add_prefix_space, a single leading space of a sequence's first token (or of a token at offset 0) stays in.
    /// </summary>
    private TokenOffset Trim(SequenceTokens list, int i, bool firstOfEncoding)
    {
        int start = list.Starts[i], end = list.Ends[i];
        var value = list.Values[i] ?? _display[list.Ids[i]];
        int leading = 0, trailing = 0;
        while (leading < value.Length && IsSpace(value[leading])) leading++;
        while (trailing < value.Length && IsSpace(value[value.Length - 1 - trailing])) trailing++;
        if (leading == 0 && trailing == 0) return new TokenOffset(start, end);
        var original = list.Originals[list.OriginalOf[i]];
        if (leading > 0)
        {
            bool isFirst = firstOfEncoding || start == 0;
            if (isFirst && _processor.AddPrefixSpace && leading == 1) leading = 0;
            start = Math.Min(Advance(original, start, leading), end);
        }
        if (trailing > 0 && Back(original, end, trailing) is int back) end = Math.Max(back, start);
        return new TokenOffset(start, end);

        static bool IsSpace(char c) => c == 'Ġ' || PreTokenizer.IsWhitespace(c);
    }

    /// <summary>The index <paramref name="count"/> characters after <paramref name="index"/>.</summary>
    private static int Advance(string s, int index, int count)
    {
        for (int k = 0; k < count; k++)
            index += index < s.Length && char.IsHighSurrogate(s[index]) && index + 1 < s.Length && char.IsLowSurrogate(s[index + 1]) ? 2 : 1;
        return index;
    }

    /// <summary>The index <paramref name="count"/> characters before <paramref name="index"/>, or null when there are fewer.</summary>
    private static int? Back(string s, int index, int count)
    {
        for (int k = 0; k < count; k++)
        {
            if (index <= 0) return null;
            index -= index >= 2 && index <= s.Length && char.IsLowSurrogate(s[index - 1]) && char.IsHighSurrogate(s[index - 2]) ? 2 : 1;
        }
        return index;
    }

    /// <summary>Text from token ids, as Hugging Face's decode: special tokens skipped when asked, then the decoder (or tokens joined by spaces).</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = new List<string>();
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)_display.Length) continue;
            if (skipSpecialTokens && _specialIds.Contains(id)) continue;
            tokens.Add(_display[id]);
        }
        return _decoder is null ? string.Join(" ", tokens) : _decoder.Decode(tokens);
    }
}

/// <summary>What a <see cref="PipelineTokenizer"/> takes from beside its tokenizer.json.</summary>
internal sealed record PipelineTokenizerSettings
{
    public string? UnknownToken { get; init; }
    public string? PaddingToken { get; init; }
    public int? ModelMaxLength { get; init; }

    /// <summary>The tokenizer.json as loaded (written back by Save).</summary>
    public required JsonObject TokenizerJson { get; init; }

    /// <summary>tokenizer_config.json and special_tokens_map.json as found beside it (written back by Save), by file name.</summary>
    public IReadOnlyDictionary<string, JsonObject> CompanionFiles { get; init; } = new Dictionary<string, JsonObject>();
}
