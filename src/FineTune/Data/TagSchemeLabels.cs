namespace FineTune.Data;

/// <summary>
/// The tag list of a token-classification model: tag &lt;-&gt; label id, in a stable order.
/// </summary>
/// <remarks>
/// Built from training data (<see cref="FromExamples"/>): <c>O</c> first, then for each entity type in ordinal order
/// every prefix of the scheme in the order B, I, E, S (IOB2: <c>B-X</c>, <c>I-X</c>; BIOES: <c>B-X</c>, <c>I-X</c>,
/// <c>E-X</c>, <c>S-X</c>). Every prefix is listed for a type seen in the data, even one the data never uses with
/// that type, so that any well-formed sequence over the seen types can be encoded.
/// </remarks>
internal sealed class TokenLabelMap
{
    private readonly string[] _labels;
    private readonly Dictionary<string, int> _ids;
    private readonly int[] _continuation;

    /// <summary>A map over the given tags, in the given order (e.g. the <c>id2label</c> of a saved model). Tags must be valid and unique.</summary>
    public TokenLabelMap(IEnumerable<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        _labels = labels.ToArray();
        if (_labels.Length == 0) throw new FineTuneException("A token label list needs at least one tag.");
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < _labels.Length; i++)
        {
            if (!TagSchemes.TryParseTag(_labels[i], out _)) throw new FineTuneException($"Label {i}: {TagSchemes.InvalidTagMessage(_labels[i])}.");
            if (!_ids.TryAdd(_labels[i], i)) throw new FineTuneException($"Label '{_labels[i]}' appears twice in the label list (ids {_ids[_labels[i]]} and {i}).");
        }
        // Continuation sub-tokens of a B-X word take I-X when the list has it, as Hugging Face's run_ner.py does.
        _continuation = new int[_labels.Length];
        for (var i = 0; i < _labels.Length; i++)
        {
            var parts = TagSchemes.ParseTag(_labels[i]);
            _continuation[i] = parts.Prefix == 'B' && _ids.TryGetValue("I-" + parts.Type, out var inside) ? inside : i;
        }
    }

    /// <summary>Builds the list from the tags of training examples that are in <paramref name="scheme"/> (see the remarks).</summary>
    public static TokenLabelMap FromExamples(IEnumerable<TokenExample> examples, TagScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var types = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var example in examples)
            foreach (var tag in example.Tags)
            {
                var parts = TagSchemes.ParseTag(tag);
                if (!parts.IsOutside) types.Add(parts.Type);
            }
        return FromTypes(types, scheme);
    }

    /// <summary>Builds the list for the given entity types: <c>O</c>, then each type (ordinal order) with every prefix of the scheme.</summary>
    public static TokenLabelMap FromTypes(IEnumerable<string> types, TagScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(types);
        var labels = new List<string> { TagSchemes.Outside };
        foreach (var type in types.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            foreach (var prefix in TagSchemes.Prefixes(scheme))
                labels.Add($"{prefix}-{type}");
        return new TokenLabelMap(labels);
    }

    public IReadOnlyList<string> Labels => _labels;
    public int Count => _labels.Length;
    public string this[int id] => _labels[id];

    /// <summary>The entity types in the list, ordinal order.</summary>
    public IReadOnlyList<string> EntityTypes =>
        _labels.Select(TagSchemes.ParseTag).Where(p => !p.IsOutside).Select(p => p.Type).Distinct().Order(StringComparer.Ordinal).ToArray();

    public bool TryGetId(string tag, out int id) => _ids.TryGetValue(tag, out id);

    /// <summary>The id of a tag; an unknown tag is a <see cref="FineTuneException"/>.</summary>
    public int IdOf(string tag) =>
        _ids.TryGetValue(tag, out var id) ? id : throw new FineTuneException($"Tag '{tag}' is not in the label list ({string.Join(", ", _labels)}).");

    /// <summary>
    /// The label id a continuation sub-token gets under <see cref="SubwordLabeling.AllSubwords"/>: for <c>B-X</c> the id
    /// of <c>I-X</c> when listed, for every other tag its own id.
    /// </summary>
    public int ContinuationId(int id) => _continuation[id];

    /// <summary>
    /// The scheme the tags are written in: <see cref="TagScheme.BIOES"/> when some tag is <c>E-</c> or <c>S-</c>,
    /// <see cref="TagScheme.IO"/> when every entity tag is <c>I-</c>, else <see cref="TagScheme.IOB2"/> (as models
    /// trained here and most published ones are).
    /// </summary>
    public TagScheme Scheme
    {
        get
        {
            var prefixes = _labels.Select(l => TagSchemes.ParseTag(l).Prefix).Where(p => p != 'O').ToHashSet();
            if (prefixes.Contains('E') || prefixes.Contains('S')) return TagScheme.BIOES;
            return prefixes.Count == 1 && prefixes.Contains('I') ? TagScheme.IO : TagScheme.IOB2;
        }
    }

    /// <summary>The ids of an example's tags. A tag the list doesn't have is a <see cref="DataException"/> naming the file and line.</summary>
    public int[] ToIds(TokenExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        var ids = new int[example.Tags.Count];
        for (var i = 0; i < ids.Length; i++)
            if (!_ids.TryGetValue(example.Tags[i], out ids[i])) throw UnknownTag(example, i);
        return ids;
    }

    /// <summary>The error for the example's first tag the list doesn't have (naming the file and line), or null when it has them all.</summary>
    public DataException? Check(TokenExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        for (var i = 0; i < example.Tags.Count; i++)
            if (!_ids.ContainsKey(example.Tags[i])) return UnknownTag(example, i);
        return null;
    }

    private DataException UnknownTag(TokenExample example, int word) => new(
        $"word {word + 1} ('{example.Words[word]}') has tag '{example.Tags[word]}', which the model's labels don't include ({string.Join(", ", _labels)})",
        example.SourceFile, example.LineOf(word));

    /// <summary>
    /// Label ids per sub-token of an example (see <see cref="SubwordAlignment.AlignLabels"/>), from the word index of each
    /// sub-token as the tokenizer gives it (null for special tokens).
    /// </summary>
    public int[] AlignLabels(TokenExample example, IReadOnlyList<int?> wordIds, SubwordLabeling labeling = SubwordLabeling.FirstSubword) =>
        SubwordAlignment.AlignLabels(wordIds, ToIds(example), labeling, ContinuationId);

    /// <summary>Tags per word from per-sub-token predicted ids (the first sub-token's); words with no sub-token get <paramref name="missing"/>.</summary>
    public string[] WordTags(IReadOnlyList<int?> wordIds, IReadOnlyList<int> predictedIds, int wordCount, string missing = TagSchemes.Outside)
    {
        var ids = SubwordAlignment.WordPredictions(wordIds, predictedIds, wordCount);
        return ids.Select(id => id is { } i ? this[i] : missing).ToArray();
    }
}
