using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Text;

internal sealed partial class WordPieceTokenizer
{
    public const string VocabFileName = "vocab.txt";
    public const string TokenizerJsonFileName = "tokenizer.json";
    public const string TokenizerConfigFileName = "tokenizer_config.json";
    public const string SpecialTokensMapFileName = "special_tokens_map.json";

    /// <summary>
    /// Loads the tokenizer of a Hugging Face model folder: tokenizer.json when present, else vocab.txt;
    /// tokenizer_config.json and special_tokens_map.json supply the options and special tokens when present.
    /// </summary>
    public static WordPieceTokenizer FromFolder(string folder)
    {
        if (!Directory.Exists(folder)) throw new ModelLoadException("the tokenizer folder does not exist", folder);
        var options = ReadConfig(folder, new WordPieceTokenizerOptions(), out var configured);
        var json = Path.Combine(folder, TokenizerJsonFileName);
        if (File.Exists(json)) return FromTokenizerJson(json, options, configured);
        var vocab = Path.Combine(folder, VocabFileName);
        if (File.Exists(vocab)) return FromVocabFile(vocab, options);
        throw new ModelLoadException($"the folder has neither {TokenizerJsonFileName} nor {VocabFileName}", folder);
    }

    /// <summary>Loads a vocab.txt (one token per line, LF or CRLF) with the given options (bert-base-uncased's by default).</summary>
    public static WordPieceTokenizer FromVocabFile(string vocabPath, WordPieceTokenizerOptions? options = null)
    {
        if (!File.Exists(vocabPath)) throw new ModelLoadException("the vocabulary file does not exist", vocabPath);
        using var reader = new StreamReader(vocabPath, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return FromVocab(reader, options, vocabPath);
    }

    /// <summary>Loads a vocab.txt from a reader; <paramref name="source"/> names it in error messages.</summary>
    public static WordPieceTokenizer FromVocab(TextReader vocab, WordPieceTokenizerOptions? options = null, string source = VocabFileName)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        options ??= new WordPieceTokenizerOptions();
        var tokens = WordPieceVocabulary.ReadVocabLines(vocab);
        if (tokens.Length == 0) throw new ModelLoadException("the vocabulary is empty", source);
        return new WordPieceTokenizer(tokens, options, SpecialAddedTokens(tokens, options), source);
    }

    /// <summary>
    /// Loads a Hugging Face tokenizer.json with a BertNormalizer, a BertPreTokenizer, a WordPiece model and a BERT
    /// template post-processor. <paramref name="options"/> supplies what tokenizer.json does not hold (pad and mask tokens, model_max_length).
    /// </summary>
    public static WordPieceTokenizer FromTokenizerJson(string path, WordPieceTokenizerOptions? options = null) =>
        FromTokenizerJson(path, options ?? new WordPieceTokenizerOptions(), []);

    private static WordPieceTokenizer FromTokenizerJson(string path, WordPieceTokenizerOptions options, HashSet<string> configured)
    {
        if (!File.Exists(path)) throw new ModelLoadException("the tokenizer file does not exist", path);
        JsonNode root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) ?? throw new ModelLoadException("the file is empty JSON", path);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"not valid JSON: {e.Message}", path, inner: e);
        }
        try
        {
            return ParseTokenizerJson(root, options, configured, path);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw new ModelLoadException($"unexpected content: {e.Message}", path, inner: e);
        }
    }

    private static WordPieceTokenizer ParseTokenizerJson(JsonNode root, WordPieceTokenizerOptions options, HashSet<string> configured, string path)
    {
        var model = root["model"] as JsonObject ?? throw new ModelLoadException("no model section", path, "model");
        var modelType = model["type"]?.GetValue<string>();
        if (modelType != "WordPiece")
            throw new ModelLoadException($"the model type is '{modelType ?? "(none)"}'; only WordPiece (BERT) tokenizers are supported", path, "model.type");
        var vocab = model["vocab"] as JsonObject ?? throw new ModelLoadException("the WordPiece model has no vocab", path, "model.vocab");
        int size = 0;
        foreach (var (_, id) in vocab) size = Math.Max(size, id!.GetValue<int>() + 1);
        var tokens = new string?[size];
        foreach (var (token, id) in vocab) tokens[id!.GetValue<int>()] = token;
        options = options with
        {
            UnknownToken = model["unk_token"]?.GetValue<string>() ?? options.UnknownToken,
            ContinuingSubwordPrefix = model["continuing_subword_prefix"]?.GetValue<string>() ?? options.ContinuingSubwordPrefix,
            MaxInputCharsPerWord = model["max_input_chars_per_word"]?.GetValue<int>() ?? options.MaxInputCharsPerWord,
        };

        options = ReadNormalizer(root["normalizer"], options, path);

        var pre = root["pre_tokenizer"];
        var preType = pre?["type"]?.GetValue<string>();
        if (preType != "BertPreTokenizer")
            throw new ModelLoadException($"the pre-tokenizer is '{preType ?? "(none)"}'; only BertPreTokenizer is supported", path, "pre_tokenizer.type");

        options = ReadPostProcessor(root["post_processor"], options, path);

        if (root["decoder"] is JsonObject decoder && decoder["type"]?.GetValue<string>() == "WordPiece" && decoder["cleanup"] is JsonNode cleanup)
            options = options with { CleanUpTokenizationSpaces = cleanup.GetValue<bool>() };
        if (!configured.Contains("pad_token") && root["padding"]?["pad_token"]?.GetValue<string>() is string pad)
            options = options with { PaddingToken = pad };

        foreach (var (token, key) in new[] { (options.UnknownToken, "unk_token"), (options.ClassifierToken, "cls_token"), (options.SeparatorToken, "sep_token"), (options.PaddingToken, "pad_token") })
            if (!vocab.ContainsKey(token))
                throw new ModelLoadException($"the vocabulary has no '{token}' token ({key}); a BERT vocabulary needs [CLS], [SEP], [UNK] and [PAD]", path, key);

        var added = new List<AddedToken>();
        if (root["added_tokens"] is JsonArray addedTokens)
        {
            foreach (var node in addedTokens)
            {
                var content = node!["content"]!.GetValue<string>();
                int id = node["id"]!.GetValue<int>();
                bool special = node["special"]?.GetValue<bool>() ?? false;
                foreach (var flag in new[] { "single_word", "lstrip", "rstrip", "normalized" })
                    if (node[flag]?.GetValue<bool>() == true)
                        throw new ModelLoadException($"added token '{content}' sets {flag}=true, which is not supported (BERT's special tokens set it false)", path, "added_tokens");
                if (id >= tokens.Length || tokens[id] != content)
                    throw new ModelLoadException($"added token '{content}' (id {id}) is not the vocabulary's token {id}; tokens outside the WordPiece vocabulary are not supported", path, "added_tokens");
                added.Add(new AddedToken(id, content, special));
            }
        }
        else added.AddRange(SpecialAddedTokens(tokens, options));
        return new WordPieceTokenizer(tokens, options, added, path);
    }

    private static WordPieceTokenizerOptions ReadNormalizer(JsonNode? normalizer, WordPieceTokenizerOptions options, string path)
    {
        var type = normalizer?["type"]?.GetValue<string>();
        if (type == "Sequence" && normalizer!["normalizers"] is JsonArray { Count: 1 } single)
        {
            normalizer = single[0];
            type = normalizer?["type"]?.GetValue<string>();
        }
        if (type != "BertNormalizer")
            throw new ModelLoadException($"the normalizer is '{type ?? "(none)"}'; only BertNormalizer is supported", path, "normalizer.type");
        return options with
        {
            CleanText = normalizer!["clean_text"]?.GetValue<bool>() ?? true,
            HandleChineseChars = normalizer["handle_chinese_chars"]?.GetValue<bool>() ?? true,
            StripAccents = normalizer["strip_accents"]?.GetValue<bool?>(),
            Lowercase = normalizer["lowercase"]?.GetValue<bool>() ?? true,
        };
    }

    private static WordPieceTokenizerOptions ReadPostProcessor(JsonNode? processor, WordPieceTokenizerOptions options, string path)
    {
        var type = processor?["type"]?.GetValue<string>();
        switch (type)
        {
            case "BertProcessing":
                return options with
                {
                    ClassifierToken = processor!["cls"]![0]!.GetValue<string>(),
                    SeparatorToken = processor["sep"]![0]!.GetValue<string>(),
                };
            case "TemplateProcessing":
            {
                string Describe(JsonNode? pieces) => string.Join(" ", (pieces as JsonArray ?? []).Select(p =>
                    p!["SpecialToken"] is JsonNode s ? $"{s["id"]!.GetValue<string>()}:{s["type_id"]!.GetValue<int>()}"
                    : p["Sequence"] is JsonNode q ? $"${q["id"]!.GetValue<string>()}:{q["type_id"]!.GetValue<int>()}"
                    : "?"));
                var single = Describe(processor!["single"]);
                var pair = Describe(processor["pair"]);
                var parts = single.Split(' ');
                if (parts.Length != 3 || parts[1] != "$A:0" || !parts[0].EndsWith(":0") || !parts[2].EndsWith(":0"))
                    throw new ModelLoadException($"the template '{single}' is not BERT's '[CLS] $A [SEP]'", path, "post_processor.single");
                var cls = parts[0][..^2];
                var sep = parts[2][..^2];
                if (pair != $"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1")
                    throw new ModelLoadException($"the pair template '{pair}' is not BERT's '[CLS] $A [SEP] $B:1 [SEP]:1'", path, "post_processor.pair");
                return options with { ClassifierToken = cls, SeparatorToken = sep };
            }
            default:
                throw new ModelLoadException($"the post-processor is '{type ?? "(none)"}'; only BERT's (TemplateProcessing or BertProcessing) is supported", path, "post_processor.type");
        }
    }

    /// <summary>The special tokens transformers adds as added tokens when it builds a fast tokenizer from vocab.txt.</summary>
    private static List<AddedToken> SpecialAddedTokens(string?[] tokens, WordPieceTokenizerOptions options)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++)
            if (tokens[i] is string t) index[t] = i;
        var result = new List<AddedToken>();
        var names = new[] { options.PaddingToken, options.UnknownToken, options.ClassifierToken, options.SeparatorToken, options.MaskToken }
            .Concat(options.AdditionalSpecialTokens);
        foreach (var name in names)
            if (name is not null && index.TryGetValue(name, out var id) && result.All(r => r.Content != name))
                result.Add(new AddedToken(id, name));
        return result.OrderBy(r => r.Id).ToList();
    }

    /// <summary>Reads tokenizer_config.json and special_tokens_map.json of a folder over <paramref name="options"/>.</summary>
    private static WordPieceTokenizerOptions ReadConfig(string folder, WordPieceTokenizerOptions options, out HashSet<string> configured)
    {
        configured = [];
        foreach (var name in new[] { SpecialTokensMapFileName, TokenizerConfigFileName })
        {
            var path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            JsonObject config;
            try
            {
                config = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelLoadException("expected a JSON object", path);
            }
            catch (JsonException e)
            {
                throw new ModelLoadException($"not valid JSON: {e.Message}", path, inner: e);
            }
            try
            {
                options = ApplyConfig(config, options, configured);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new ModelLoadException($"unexpected content: {e.Message}", path, inner: e);
            }
        }
        return options;
    }

    private static WordPieceTokenizerOptions ApplyConfig(JsonObject config, WordPieceTokenizerOptions options, HashSet<string> configured)
    {
        static string? TokenString(JsonNode? node) => node switch
        {
            null => null,
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            JsonObject o => o["content"]?.GetValue<string>(),
            _ => null,
        };
        foreach (var key in new[] { "unk_token", "cls_token", "sep_token", "pad_token", "mask_token" })
            if (TokenString(config[key]) is not null) configured.Add(key);
        if (config["do_lower_case"] is JsonNode lower) options = options with { Lowercase = lower.GetValue<bool>() };
        if (config.ContainsKey("strip_accents")) options = options with { StripAccents = config["strip_accents"]?.GetValue<bool?>() };
        if (config["tokenize_chinese_chars"] is JsonNode chinese) options = options with { HandleChineseChars = chinese.GetValue<bool>() };
        if (config["clean_up_tokenization_spaces"] is JsonNode cleanup) options = options with { CleanUpTokenizationSpaces = cleanup.GetValue<bool>() };
        if (config["model_max_length"] is JsonValue max)
        {
            var value = max.GetValue<double>();
            options = options with { ModelMaxLength = value is > 0 and <= int.MaxValue ? (int)value : null };
        }
        options = options with
        {
            UnknownToken = TokenString(config["unk_token"]) ?? options.UnknownToken,
            ClassifierToken = TokenString(config["cls_token"]) ?? options.ClassifierToken,
            SeparatorToken = TokenString(config["sep_token"]) ?? options.SeparatorToken,
            PaddingToken = TokenString(config["pad_token"]) ?? options.PaddingToken,
            MaskToken = TokenString(config["mask_token"]) ?? options.MaskToken,
        };
        if (config["additional_special_tokens"] is JsonArray extra)
            options = options with { AdditionalSpecialTokens = extra.Select(TokenString).OfType<string>().ToArray() };
        return options;
    }

    /// <summary>
    /// Writes the tokenizer in Hugging Face's layout: vocab.txt (LF line ends), tokenizer_config.json,
    /// special_tokens_map.json and tokenizer.json. The folder is created when missing.
    /// </summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var utf8 = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        var vocab = new System.Text.StringBuilder(_displayTokens.Length * 8);
        foreach (var token in _displayTokens) vocab.Append(token).Append('\n');
        File.WriteAllText(Path.Combine(folder, VocabFileName), vocab.ToString(), utf8);

        var indented = new JsonSerializerOptions { WriteIndented = true };
        var specialMap = new JsonObject
        {
            ["cls_token"] = Options.ClassifierToken,
            ["mask_token"] = Options.MaskToken,
            ["pad_token"] = Options.PaddingToken,
            ["sep_token"] = Options.SeparatorToken,
            ["unk_token"] = Options.UnknownToken,
        };
        if (Options.AdditionalSpecialTokens.Count > 0)
            specialMap["additional_special_tokens"] = new JsonArray(Options.AdditionalSpecialTokens.Select(t => (JsonNode)t!).ToArray());
        File.WriteAllText(Path.Combine(folder, SpecialTokensMapFileName), specialMap.ToJsonString(indented), utf8);

        var config = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = Options.Lowercase,
            ["strip_accents"] = Options.StripAccents,
            ["tokenize_chinese_chars"] = Options.HandleChineseChars,
            ["clean_up_tokenization_spaces"] = Options.CleanUpTokenizationSpaces,
            ["model_max_length"] = Options.ModelMaxLength,
            ["cls_token"] = Options.ClassifierToken,
            ["mask_token"] = Options.MaskToken,
            ["pad_token"] = Options.PaddingToken,
            ["sep_token"] = Options.SeparatorToken,
            ["unk_token"] = Options.UnknownToken,
        };
        if (Options.ModelMaxLength is null) config.Remove("model_max_length");
        if (Options.AdditionalSpecialTokens.Count > 0)
            config["additional_special_tokens"] = new JsonArray(Options.AdditionalSpecialTokens.Select(t => (JsonNode)t!).ToArray());
        File.WriteAllText(Path.Combine(folder, TokenizerConfigFileName), config.ToJsonString(indented), utf8);

        File.WriteAllText(Path.Combine(folder, TokenizerJsonFileName), ToTokenizerJson().ToJsonString(indented), utf8);
    }

    /// <summary>The tokenizer as Hugging Face's tokenizer.json (the format of <c>tokenizers</c> 0.x, version "1.0").</summary>
    public JsonObject ToTokenizerJson()
    {
        JsonObject Special(string token, int typeId) => new() { ["SpecialToken"] = new JsonObject { ["id"] = token, ["type_id"] = typeId } };
        JsonObject Sequence(string id, int typeId) => new() { ["Sequence"] = new JsonObject { ["id"] = id, ["type_id"] = typeId } };
        JsonObject SpecialEntry(string token, int id) => new() { ["id"] = token, ["ids"] = new JsonArray(id), ["tokens"] = new JsonArray(token) };
        var cls = Options.ClassifierToken;
        var sep = Options.SeparatorToken;
        var vocab = new JsonObject();
        for (int id = 0; id < _displayTokens.Length; id++)
        {
            var token = _displayTokens[id];
            if (_vocab.TryGetId(token, out var last) && last == id) vocab[token] = id;
        }
        var specialTokens = new JsonObject { [cls] = SpecialEntry(cls, ClassifierTokenId) };
        if (sep != cls) specialTokens[sep] = SpecialEntry(sep, SeparatorTokenId);
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(AddedTokens.Select(t => (JsonNode)new JsonObject
            {
                ["id"] = t.Id, ["content"] = t.Content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = t.Special,
            }).ToArray()),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "BertNormalizer", ["clean_text"] = Options.CleanText, ["handle_chinese_chars"] = Options.HandleChineseChars,
                ["strip_accents"] = Options.StripAccents, ["lowercase"] = Options.Lowercase,
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Special(cls, 0), Sequence("A", 0), Special(sep, 0)),
                ["pair"] = new JsonArray(Special(cls, 0), Sequence("A", 0), Special(sep, 0), Sequence("B", 1), Special(sep, 1)),
                ["special_tokens"] = specialTokens,
            },
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = Options.ContinuingSubwordPrefix, ["cleanup"] = Options.CleanUpTokenizationSpaces },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = Options.UnknownToken, ["continuing_subword_prefix"] = Options.ContinuingSubwordPrefix,
                ["max_input_chars_per_word"] = Options.MaxInputCharsPerWord, ["vocab"] = vocab,
            },
        };
    }
}
