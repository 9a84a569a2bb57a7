namespace FineTune.Text;

/// <summary>
/// A tokenizer as the rest of the library sees it: text to token ids with offsets, word ids and type ids, as Hugging
/// Face's fast tokenizers give them, for single texts, pairs, pre-split words and question/context windows. Every
/// implementation must be safe to call from several threads at once.
/// </summary>
public interface ITokenizer
{
    /// <summary>The tokenizer model (tokenizer.json's model.type): WordPiece, BPE or Unigram.</summary>
    string Model { get; }

    /// <summary>The number of token ids (the size of the model's embedding table).</summary>
    int VocabSize { get; }

    /// <summary>The id inputs are padded with.</summary>
    int PaddingTokenId { get; }

    /// <summary>The id of the unknown token.</summary>
    int UnknownTokenId { get; }

    /// <summary>model_max_length, when known.</summary>
    int? ModelMaxLength { get; }

    /// <summary>The number of special tokens the template adds to one text, or to a pair.</summary>
    int SpecialTokenCount(bool pair);

    /// <summary>Tokenizes a text or a text pair; see <see cref="EncodeOptions"/> for truncation and special tokens.</summary>
    Encoding Encode(string text, string? pair = null, EncodeOptions? options = null);

    /// <summary>Tokenizes many texts (in parallel when there are enough of them); results are in input order.</summary>
    Encoding[] EncodeBatch(IReadOnlyList<string> texts, EncodeOptions? options = null, int maxDegreeOfParallelism = -1);

    /// <summary>Tokenizes many text pairs (in parallel when there are enough of them); results are in input order.</summary>
    Encoding[] EncodeBatch(IReadOnlyList<(string Text, string? Pair)> inputs, EncodeOptions? options = null, int maxDegreeOfParallelism = -1);

    /// <summary>
    /// Tokenizes pre-split words (Hugging Face's <c>is_split_into_words</c>): <see cref="Encoding.WordIds"/> gives each
    /// token's word in <paramref name="words"/>, and offsets are relative to the word.
    /// </summary>
    Encoding EncodeWords(IReadOnlyList<string> words, EncodeOptions? options = null);

    /// <summary>
    /// A question with successive windows of a long context of at most <paramref name="maxLength"/> tokens each,
    /// consecutive windows sharing <paramref name="stride"/> context tokens (Hugging Face's
    /// <c>truncation="only_second", return_overflowing_tokens=True</c>).
    /// </summary>
    IReadOnlyList<Encoding> EncodeWindows(string question, string context, int maxLength, int stride = 0, bool addSpecialTokens = true);

    /// <summary>
    /// The ids, type ids and attention masks of encodings padded to the longest (or to <paramref name="length"/>),
    /// rounded up to a multiple of <paramref name="multipleOf"/> when given, as flat [batch, length] arrays.
    /// </summary>
    TokenBatch ToBatch(IReadOnlyList<Encoding> encodings, int? length = null, int? multipleOf = null);

    /// <summary>The ids of one sequence inside the template's special tokens (BERT: [CLS] ids [SEP]).</summary>
    int[] WithSpecialTokens(ReadOnlySpan<int> ids);

    /// <summary>The token with this id.</summary>
    string IdToToken(int id);

    /// <summary>The id of a token, or null when it is not in the vocabulary.</summary>
    int? TokenToId(string token);

    /// <summary>Text from token ids, as Hugging Face's decode.</summary>
    string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true);

    /// <summary>Writes the tokenizer's files in Hugging Face's layout into <paramref name="folder"/> (created when missing).</summary>
    void Save(string folder);
}

/// <summary>Loads the tokenizer of a model folder, whichever kind it is.</summary>
public static class Tokenizers
{
    /// <summary>
    /// The tokenizer of a Hugging Face model folder: tokenizer.json when present (WordPiece, BPE or Unigram, with any
    /// of the normalizers, pre-tokenizers and post-processors of the BERT, RoBERTa, XLM-R and DeBERTa-v3 families),
    /// else vocab.txt (WordPiece) or RoBERTa's vocab.json + merges.txt, with tokenizer_config.json and
    /// special_tokens_map.json for its settings and special tokens.
    /// </summary>
    public static ITokenizer FromFolder(string folder)
    {
        if (!Directory.Exists(folder)) throw new ModelLoadException("the tokenizer folder does not exist", folder);
        var json = Path.Combine(folder, PipelineTokenizer.TokenizerJsonFileName);
        bool hasJson = File.Exists(json);
        if (hasJson ? IsWordPiece(json) : File.Exists(Path.Combine(folder, WordPieceTokenizer.VocabFileName)))
        {
            // BERT's own pipeline (one pass, the fast path) when the files are BERT's; any other WordPiece set-up runs the general pipeline.
            try
            {
                return WordPieceTokenizer.FromFolder(folder);
            }
            catch (ModelLoadException) when (hasJson)
            {
            }
        }
        return PipelineTokenizer.FromFolder(folder);
    }

    private static bool IsWordPiece(string tokenizerJson)
    {
        // The model section comes last in Hugging Face's files; its type is read without parsing the vocabulary twice.
        using var stream = File.OpenRead(tokenizerJson);
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(stream);
            return document.RootElement.TryGetProperty("model", out var model) && model.ValueKind == System.Text.Json.JsonValueKind.Object
                && model.TryGetProperty("type", out var type) && type.ValueKind == System.Text.Json.JsonValueKind.String && type.GetString() == "WordPiece";
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ModelLoadException($"not valid JSON: {e.Message}", tokenizerJson, inner: e);
        }
    }
}
