namespace FineTune.Text;

/// <summary>
/// A WordPiece BERT tokenizer that reproduces Hugging Face's fast tokenizer (the Rust <c>tokenizers</c> library):
/// the same ids, type ids, offsets, sequence ids and word ids, and the same truncation and overflow windows.
/// Offsets are UTF-16 indices into the original string (Hugging Face's Python API gives Unicode characters;
/// they differ only after characters outside the Basic Multilingual Plane, such as most emoji).
/// Thread-safe: one instance may encode from many threads at once.
/// </summary>
internal sealed partial class WordPieceTokenizer : ITokenizer
{
    private readonly WordPieceVocabulary _vocab;
    private readonly BertPipeline _pipeline;
    private readonly HashSet<int> _specialIds;
    private readonly string[] _displayTokens;

    [ThreadStatic] private static TokenList? t_first;
    [ThreadStatic] private static TokenList? t_second;

    internal WordPieceTokenizer(string?[] tokensById, WordPieceTokenizerOptions options, IReadOnlyList<AddedToken> addedTokens, string source)
    {
        Options = options;
        Source = source;
        _displayTokens = Array.ConvertAll(tokensById, t => t ?? "");
        _vocab = new WordPieceVocabulary(tokensById, options.ContinuingSubwordPrefix);
        UnknownTokenId = RequireToken(options.UnknownToken, "unk_token", source);
        ClassifierTokenId = RequireToken(options.ClassifierToken, "cls_token", source);
        SeparatorTokenId = RequireToken(options.SeparatorToken, "sep_token", source);
        PaddingTokenId = RequireToken(options.PaddingToken, "pad_token", source);
        MaskTokenId = options.MaskToken is not null && _vocab.TryGetId(options.MaskToken, out var mask) ? mask : null;
        AddedTokens = addedTokens;
        _specialIds = addedTokens.Where(t => t.Special).Select(t => t.Id).ToHashSet();
        foreach (var id in new[] { UnknownTokenId, ClassifierTokenId, SeparatorTokenId, PaddingTokenId }) _specialIds.Add(id);
        if (MaskTokenId is int m) _specialIds.Add(m);
        _pipeline = new BertPipeline(_vocab, UnknownTokenId, options.MaxInputCharsPerWord, options.CleanText, options.HandleChineseChars,
            options.EffectiveStripAccents, options.Lowercase, addedTokens.Select(t => (t.Content, t.Id)));
    }

    private int RequireToken(string token, string key, string source) =>
        _vocab.TryGetId(token, out var id)
            ? id
            : throw new ModelLoadException($"the vocabulary has no '{token}' token ({key}); a BERT vocabulary needs [CLS], [SEP], [UNK] and [PAD]", source, key);

    /// <summary>The settings this tokenizer was loaded with.</summary>
    public WordPieceTokenizerOptions Options { get; }

    /// <summary>The file or folder it was loaded from (for messages).</summary>
    public string Source { get; }

    /// <summary>Tokens matched whole in the text before normalization (the special tokens, as Hugging Face adds them).</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>True for an uncased model (the text is lower-cased).</summary>
    public bool IsLowerCase => Options.Lowercase;

    /// <summary>The number of token ids (the size of the model's embedding table).</summary>
    public int VocabSize => _vocab.Count;

    public int UnknownTokenId { get; }
    public int ClassifierTokenId { get; }
    public int SeparatorTokenId { get; }
    public int PaddingTokenId { get; }
    public int? MaskTokenId { get; }

    /// <summary>model_max_length, when known.</summary>
    public int? ModelMaxLength => Options.ModelMaxLength;

    /// <summary>The token with this id.</summary>
    public string IdToToken(int id) => (uint)id < (uint)_displayTokens.Length ? _displayTokens[id] : throw new ArgumentOutOfRangeException(nameof(id), id, $"not a token id (vocabulary size {VocabSize})");

    /// <summary>The id of a token, or null when it is not in the vocabulary.</summary>
    public int? TokenToId(string token) => _vocab.TryGetId(token, out var id) ? id : null;

    /// <summary>True for the ids of special tokens ([CLS], [SEP], [PAD], [UNK], [MASK] and added special tokens).</summary>
    public bool IsSpecialToken(int id) => _specialIds.Contains(id);

    /// <summary>The number of tokens the template adds: 2 for one text, 3 for a pair.</summary>
    public static int SpecialTokenCount(bool pair) => pair ? 3 : 2;

    int ITokenizer.SpecialTokenCount(bool pair) => SpecialTokenCount(pair);

    /// <summary>WordPiece.</summary>
    public string Model => "WordPiece";

    /// <summary>[CLS] ids [SEP].</summary>
    public int[] WithSpecialTokens(ReadOnlySpan<int> ids)
    {
        var result = new int[ids.Length + 2];
        result[0] = ClassifierTokenId;
        ids.CopyTo(result.AsSpan(1));
        result[^1] = SeparatorTokenId;
        return result;
    }

    /// <summary>Tokenizes a text or a text pair; see <see cref="EncodeOptions"/> for truncation and special tokens.</summary>
    public Encoding Encode(string text, string? pair = null, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        options ??= EncodeOptions.Default;
        var first = t_first ??= new TokenList();
        first.Clear();
        _pipeline.Tokenize(text, first);
        TokenList? second = null;
        if (pair is not null)
        {
            second = t_second ??= new TokenList();
            second.Clear();
            _pipeline.Tokenize(pair, second);
        }
        int n1 = first.Count, n2 = second?.Count ?? 0;
        if (options.MaxLength is int maxLength && options.Truncation != TruncationStrategy.DoNotTruncate)
            (n1, n2) = TruncatedLengths(first.Count, second?.Count, maxLength, options.Truncation, options.AddSpecialTokens);
        int truncated = first.Count - n1 + (second is null ? 0 : second.Count - n2);
        return Build(first, 0, n1, second, 0, n2, options.AddSpecialTokens, truncated);
    }

    /// <summary>
    /// Tokenizes pre-split words (Hugging Face's <c>is_split_into_words</c>): each word is tokenized on its own,
    /// <see cref="Encoding.WordIds"/> gives the index of the word in <paramref name="words"/>, and offsets are relative to the word.
    /// </summary>
    public Encoding EncodeWords(IReadOnlyList<string> words, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(words);
        options ??= EncodeOptions.Default;
        var first = t_first ??= new TokenList();
        first.Clear();
        for (int i = 0; i < words.Count; i++)
            _pipeline.Tokenize(words[i] ?? throw new ArgumentException($"word {i} is null", nameof(words)), first, i);
        int n1 = first.Count;
        if (options.MaxLength is int maxLength && options.Truncation != TruncationStrategy.DoNotTruncate)
            (n1, _) = TruncatedLengths(first.Count, null, maxLength, options.Truncation, options.AddSpecialTokens);
        return Build(first, 0, n1, null, 0, 0, options.AddSpecialTokens, first.Count - n1);
    }

    /// <summary>
    /// Question answering: the question with successive windows of a long context, as Hugging Face's
    /// <c>truncation="only_second", return_overflowing_tokens=True, stride=stride</c>. Each window holds at most
    /// <paramref name="maxLength"/> tokens; consecutive windows share <paramref name="stride"/> context tokens.
    /// Offsets index the question (sequence 0) or the context (sequence 1); word ids number the context's words from its
    /// start in every window. <see cref="Encoding.TruncatedTokens"/> is 0: together the windows cover the whole context.
    /// </summary>
    public IReadOnlyList<Encoding> EncodeWindows(string question, string context, int maxLength, int stride = 0, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(context);
        var first = t_first ??= new TokenList();
        var second = t_second ??= new TokenList();
        first.Clear();
        second.Clear();
        _pipeline.Tokenize(question, first);
        _pipeline.Tokenize(context, second);
        return EncodingSupport.Windows(first.Count, second.Count, maxLength, stride, addSpecialTokens ? SpecialTokenCount(true) : 0,
            (start, count) => Build(first, 0, first.Count, second, start, count, addSpecialTokens, 0));
    }

    /// <summary>Tokenizes many texts (in parallel when there are enough of them); results are in input order.</summary>
    public Encoding[] EncodeBatch(IReadOnlyList<string> texts, EncodeOptions? options = null, int maxDegreeOfParallelism = -1) =>
        EncodingSupport.EncodeBatch(this, texts, options, maxDegreeOfParallelism);

    /// <summary>Tokenizes many text pairs (in parallel when there are enough of them); results are in input order.</summary>
    public Encoding[] EncodeBatch(IReadOnlyList<(string Text, string? Pair)> inputs, EncodeOptions? options = null, int maxDegreeOfParallelism = -1) =>
        EncodingSupport.EncodeBatch(this, inputs, options, maxDegreeOfParallelism);

    /// <summary>
    /// Hugging Face's truncate_encodings: how many tokens of each sequence remain within <paramref name="maxLength"/>
    /// (which counts the special tokens when <paramref name="addSpecialTokens"/>).
    /// </summary>
    internal static (int First, int Second) TruncatedLengths(int length1, int? length2, int maxLength, TruncationStrategy strategy, bool addSpecialTokens) =>
        EncodingSupport.TruncatedLengths(length1, length2, maxLength, strategy, addSpecialTokens ? SpecialTokenCount(length2 is not null) : 0);

    /// <summary>Hugging Face's post-processing: [CLS] A [SEP] (B [SEP]) with type ids, sequence ids and word ids.</summary>
    private Encoding Build(TokenList first, int from1, int count1, TokenList? second, int from2, int count2, bool addSpecialTokens, int truncated)
    {
        int specials = addSpecialTokens ? SpecialTokenCount(second is not null) : 0;
        int length = count1 + count2 + specials;
        var ids = new int[length];
        var typeIds = new int[length];
        var mask = new int[length];
        var offsets = new TokenOffset[length];
        var sequenceIds = new int?[length];
        var wordIds = new int?[length];
        Array.Fill(mask, 1);
        int at = 0;
        if (addSpecialTokens) ids[at++] = ClassifierTokenId;
        Copy(first, from1, count1, 0);
        if (addSpecialTokens) ids[at++] = SeparatorTokenId;
        if (second is not null)
        {
            int start = at;
            Copy(second, from2, count2, 1);
            if (addSpecialTokens) ids[at++] = SeparatorTokenId;
            typeIds.AsSpan(start, at - start).Fill(1);
        }
        return new Encoding(ids, typeIds, mask, offsets, sequenceIds, wordIds, truncated, _displayTokens);

        void Copy(TokenList list, int from, int count, int sequence)
        {
            for (int i = from; i < from + count; i++, at++)
            {
                ids[at] = list.Ids[i];
                offsets[at] = new TokenOffset(list.Starts[i], list.Ends[i]);
                sequenceIds[at] = sequence;
                wordIds[at] = list.Words[i];
            }
        }
    }
}
