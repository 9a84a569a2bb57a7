namespace FineTune.Text.Pipeline;

/// <summary>One piece of a template: a sequence (0 for A, 1 for B) or a special token, with its type id.</summary>
internal readonly record struct TemplatePiece(int Sequence, string? SpecialToken, int TypeId)
{
    public bool IsSequence => SpecialToken is null;
}

/// <summary>
/// What a tokenizer.json post-processor does, in one form: ByteLevel offset trimming (RobertaProcessing's and the
/// ByteLevel processor's), and the template that places the special tokens and type ids (TemplateProcessing as
/// written; BertProcessing as <c>[CLS] $A [SEP] $B:1 [SEP]:1</c>; RobertaProcessing as <c>&lt;s&gt; $A &lt;/s&gt; &lt;/s&gt; $B &lt;/s&gt;</c> with every
/// type id 0; none as <c>$A $B:1</c>). Without special tokens only the sequences' pieces (and their type ids) apply.
/// </summary>
internal sealed class PostProcessor
{
    public static PostProcessor None { get; } = new([new(0, null, 0)], [new(0, null, 0), new(1, null, 1)], new Dictionary<string, int[]>(), false, false);

    public PostProcessor(TemplatePiece[] single, TemplatePiece[] pair, IReadOnlyDictionary<string, int[]> specialTokens, bool trimOffsets, bool addPrefixSpace,
        bool zeroTypeIds = false)
    {
        ZeroTypeIds = zeroTypeIds;
        Single = single;
        Pair = pair;
        SpecialTokens = specialTokens;
        TrimOffsets = trimOffsets;
        AddPrefixSpace = addPrefixSpace;
        foreach (var piece in single.Concat(pair))
            if (piece.SpecialToken is string token && !specialTokens.ContainsKey(token))
                throw new FormatException($"the template uses '{token}', which is not in its special_tokens");
    }

    public TemplatePiece[] Single { get; }
    public TemplatePiece[] Pair { get; }
    public IReadOnlyDictionary<string, int[]> SpecialTokens { get; }

    /// <summary>Whether leading and trailing spaces (Ġ or whitespace) of a token are left out of its offsets.</summary>
    public bool TrimOffsets { get; }

    /// <summary>With trimming: the single leading space of a sequence's first token was added, so it stays in.</summary>
    public bool AddPrefixSpace { get; }

    /// <summary>
    /// RobertaProcessing: every type id is 0, also in the later windows of a long context. Any other processor leaves the
    /// second sequence of a later window (Hugging Face's overflowing encodings) with the type id 1 it was encoded with,
    /// whatever the template says, as Hugging Face does.
    /// </summary>
    public bool ZeroTypeIds { get; }

    /// <summary>How many tokens the template adds to one sequence or a pair.</summary>
    public int SpecialTokenCount(bool pair) =>
        (pair ? Pair : Single).Where(p => !p.IsSequence).Sum(p => SpecialTokens[p.SpecialToken!].Length);

    /// <summary>This processor with the template of <paramref name="other"/> (a Sequence processor: trimming from one, the template from another).</summary>
    public PostProcessor WithTemplateOf(PostProcessor other) =>
        new(other.Single, other.Pair, other.SpecialTokens, TrimOffsets || other.TrimOffsets, other.TrimOffsets ? other.AddPrefixSpace : AddPrefixSpace,
            other.ZeroTypeIds);

    public static PostProcessor Bert(string cls, int clsId, string sep, int sepId) => new(
        [new(0, cls, 0), new(0, null, 0), new(0, sep, 0)],
        [new(0, cls, 0), new(0, null, 0), new(0, sep, 0), new(1, null, 1), new(1, sep, 1)],
        new Dictionary<string, int[]> { [cls] = [clsId], [sep] = [sepId] }, false, false);

    public static PostProcessor Roberta(string cls, int clsId, string sep, int sepId, bool trimOffsets, bool addPrefixSpace) => new(
        [new(0, cls, 0), new(0, null, 0), new(0, sep, 0)],
        [new(0, cls, 0), new(0, null, 0), new(0, sep, 0), new(1, sep, 0), new(1, null, 0), new(1, sep, 0)],
        new Dictionary<string, int[]> { [cls] = [clsId], [sep] = [sepId] }, trimOffsets, addPrefixSpace, zeroTypeIds: true);

    public static PostProcessor ByteLevel(bool trimOffsets, bool addPrefixSpace) =>
        new(None.Single, None.Pair, None.SpecialTokens, trimOffsets, addPrefixSpace);
}
