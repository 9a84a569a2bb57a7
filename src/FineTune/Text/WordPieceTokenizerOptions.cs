namespace FineTune.Text;

/// <summary>
/// The settings of a WordPiece BERT tokenizer, named as in Hugging Face's <c>tokenizer_config.json</c> and
/// <c>tokenizer.json</c> (BertNormalizer and WordPiece model). The defaults are those of <c>bert-base-uncased</c>.
/// </summary>
internal sealed record WordPieceTokenizerOptions
{
    /// <summary>do_lower_case / lowercase.</summary>
    public bool Lowercase { get; init; } = true;

    /// <summary>strip_accents; null follows <see cref="Lowercase"/>, as in Hugging Face.</summary>
    public bool? StripAccents { get; init; }

    /// <summary>clean_text: remove control characters, U+0000 and U+FFFD; turn whitespace into spaces.</summary>
    public bool CleanText { get; init; } = true;

    /// <summary>tokenize_chinese_chars / handle_chinese_chars: every CJK ideograph is a word of its own.</summary>
    public bool HandleChineseChars { get; init; } = true;

    public string UnknownToken { get; init; } = "[UNK]";
    public string ClassifierToken { get; init; } = "[CLS]";
    public string SeparatorToken { get; init; } = "[SEP]";
    public string PaddingToken { get; init; } = "[PAD]";

    /// <summary>The mask token; ignored when the vocabulary lacks it.</summary>
    public string? MaskToken { get; init; } = "[MASK]";

    /// <summary>Further special tokens (additional_special_tokens): matched whole in the text, skipped by decoding.</summary>
    public IReadOnlyList<string> AdditionalSpecialTokens { get; init; } = [];

    /// <summary>continuing_subword_prefix of WordPiece.</summary>
    public string ContinuingSubwordPrefix { get; init; } = "##";

    /// <summary>max_input_chars_per_word: longer words (in Unicode characters) become the unknown token.</summary>
    public int MaxInputCharsPerWord { get; init; } = 100;

    /// <summary>model_max_length: the longest input the model takes; null when unknown.</summary>
    public int? ModelMaxLength { get; init; } = 512;

    /// <summary>clean_up_tokenization_spaces of the WordPiece decoder (" ." becomes ".", and so on).</summary>
    public bool CleanUpTokenizationSpaces { get; init; } = true;

    /// <summary>Whether accents are stripped, once <see cref="StripAccents"/> has followed <see cref="Lowercase"/>.</summary>
    public bool EffectiveStripAccents => StripAccents ?? Lowercase;
}
