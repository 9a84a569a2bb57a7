using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FineTune.Text.Pipeline;

namespace FineTune.Text;

internal sealed partial class PipelineTokenizer
{
    public const string TokenizerJsonFileName = "tokenizer.json";
    public const string VocabJsonFileName = "vocab.json";
    public const string MergesFileName = "merges.txt";
    public const string SentencePieceFileName = "sentencepiece.bpe.model";
    private static readonly string[] s_companionFiles = ["tokenizer_config.json", "special_tokens_map.json"];

    /// <summary>
    /// The tokenizer of a model folder with a tokenizer.json of any supported kind, or RoBERTa's vocab.json + merges.txt.
    /// tokenizer_config.json and special_tokens_map.json name the unknown and padding tokens and model_max_length.
    /// </summary>
    public static PipelineTokenizer FromFolder(string folder)
    {
        if (!Directory.Exists(folder)) throw new ModelLoadException("the tokenizer folder does not exist", folder);
        var companions = ReadCompanions(folder);
        var json = Path.Combine(folder, TokenizerJsonFileName);
        if (File.Exists(json)) return FromTokenizerJson(json, companions);
        if (File.Exists(Path.Combine(folder, VocabJsonFileName)) && File.Exists(Path.Combine(folder, MergesFileName)))
            return FromBpeFiles(folder, companions);
        if (File.Exists(Path.Combine(folder, SentencePieceFileName)))
            throw new ModelLoadException($"has only {SentencePieceFileName}; converting a SentencePiece model is not exact (Hugging Face's conversion and SentencePiece " +
                $"differ on runs of spaces and punctuation), so save the tokenizer with Hugging Face's fast tokenizer to get {TokenizerJsonFileName} " +
                "(tokenizer.save_pretrained(folder) in Python) and put it in the folder", folder, TokenizerJsonFileName);
        throw new ModelLoadException($"the folder has no {TokenizerJsonFileName}, vocab.txt, or {VocabJsonFileName} + {MergesFileName}", folder);
    }

    /// <summary>Loads a tokenizer.json; <paramref name="companions"/> are tokenizer_config.json and special_tokens_map.json when known.</summary>
    public static PipelineTokenizer FromTokenizerJson(string path, IReadOnlyDictionary<string, JsonObject>? companions = null)
    {
        if (!File.Exists(path)) throw new ModelLoadException("the tokenizer file does not exist", path);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelLoadException("expected a JSON object", path);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"not valid JSON: {e.Message}", path, inner: e);
        }
        return FromTokenizerJson(root, companions ?? new Dictionary<string, JsonObject>(), path);
    }

    internal static PipelineTokenizer FromTokenizerJson(JsonObject root, IReadOnlyDictionary<string, JsonObject> companions, string path)
    {
        var reader = new TokenizerJsonReader(path);
        try
        {
            var model = reader.Model(root["model"] as JsonObject ?? throw reader.Error("no model section", "model"));
            var normalizer = reader.Normalizer(root["normalizer"], "normalizer");
            var preTokenizer = reader.PreTokenizer(root["pre_tokenizer"], "pre_tokenizer");
            var added = reader.AddedTokens(root["added_tokens"] as JsonArray);
            var processor = reader.PostProcessor(root["post_processor"], "post_processor", model, added);
            var decoder = reader.Decoder(root["decoder"], "decoder");
            var settings = ReadSettings(root, companions);
            return new PipelineTokenizer(normalizer, preTokenizer, model, added, processor, decoder, settings, path);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException or ArgumentException or KeyNotFoundException)
        {
            throw new ModelLoadException($"unexpected content: {e.Message}", path, inner: e);
        }
    }

    private static PipelineTokenizerSettings ReadSettings(JsonObject root, IReadOnlyDictionary<string, JsonObject> companions)
    {
        string? Token(string key)
        {
            foreach (var name in s_companionFiles.Reverse())
                if (companions.TryGetValue(name, out var config) && TokenString(config[key]) is string s) return s;
            return null;
        }
        int? maxLength = null;
        if (companions.TryGetValue("tokenizer_config.json", out var tc) && tc["model_max_length"] is JsonValue max && max.TryGetValue<double>(out var value))
            maxLength = value is > 0 and <= int.MaxValue ? (int)value : null;
        return new PipelineTokenizerSettings
        {
            UnknownToken = Token("unk_token"),
            PaddingToken = Token("pad_token") ?? root["padding"]?["pad_token"]?.GetValue<string>(),
            ModelMaxLength = maxLength,
            TokenizerJson = root,
            CompanionFiles = companions,
        };
    }

    private static string? TokenString(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonObject o => o["content"]?.GetValue<string>(),
        _ => null,
    };

    private static Dictionary<string, JsonObject> ReadCompanions(string folder)
    {
        var result = new Dictionary<string, JsonObject>();
        foreach (var name in s_companionFiles)
        {
            var path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            try
            {
                result[name] = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelLoadException("expected a JSON object", path);
            }
            catch (JsonException e)
            {
                throw new ModelLoadException($"not valid JSON: {e.Message}", path, inner: e);
            }
        }
        return result;
    }

    /// <summary>
    /// RoBERTa's files without tokenizer.json, built as transformers builds RobertaTokenizerFast: byte-level BPE,
    /// RobertaProcessing with the bos and eos tokens, the special tokens added (mask with lstrip), add_prefix_space from
    /// tokenizer_config.json (false by default).
    /// </summary>
    public static PipelineTokenizer FromBpeFiles(string folder, IReadOnlyDictionary<string, JsonObject>? companions = null)
    {
        companions ??= ReadCompanions(folder);
        var vocabPath = Path.Combine(folder, VocabJsonFileName);
        var mergesPath = Path.Combine(folder, MergesFileName);
        JsonObject vocab;
        try
        {
            vocab = JsonNode.Parse(File.ReadAllText(vocabPath)) as JsonObject ?? throw new ModelLoadException("expected a JSON object of token: id", vocabPath);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"not valid JSON: {e.Message}", vocabPath, inner: e);
        }
        var merges = new JsonArray();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(mergesPath))
        {
            lineNumber++;
            if (line.StartsWith("#version", StringComparison.Ordinal) || line.Length == 0) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2) throw new ModelLoadException($"line {lineNumber}: expected two tokens separated by one space, got '{line}'", mergesPath);
            merges.Add(new JsonArray(parts[0], parts[1]));
        }
        string Config(string key, string fallback)
        {
            foreach (var name in s_companionFiles.Reverse())
                if (companions.TryGetValue(name, out var config) && TokenString(config[key]) is string s) return s;
            return fallback;
        }
        bool addPrefixSpace = companions.TryGetValue("tokenizer_config.json", out var tc) && tc["add_prefix_space"]?.GetValue<bool>() == true;
        bool trimOffsets = !(tc?["trim_offsets"]?.GetValue<bool>() == false);
        string bos = Config("bos_token", "<s>"), eos = Config("eos_token", "</s>"), cls = Config("cls_token", bos), sep = Config("sep_token", eos);
        var added = new JsonArray();
        foreach (var key in new[] { "bos_token", "pad_token", "eos_token", "unk_token", "cls_token", "sep_token", "mask_token" })
        {
            var token = Config(key, key switch { "bos_token" => "<s>", "pad_token" => "<pad>", "eos_token" => "</s>", "unk_token" => "<unk>", "cls_token" => bos, "sep_token" => eos, _ => "<mask>" });
            if (vocab[token] is not JsonValue id || added.Any(a => a!["content"]!.GetValue<string>() == token)) continue;
            added.Add(new JsonObject
            {
                ["id"] = id.GetValue<int>(), ["content"] = token, ["single_word"] = false, ["lstrip"] = key == "mask_token", ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            });
        }
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = addPrefixSpace, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "RobertaProcessing", ["sep"] = new JsonArray(sep, vocab[sep]?.GetValue<int>() ?? throw new ModelLoadException($"'{sep}' (sep_token) is not in the vocabulary", vocabPath)),
                ["cls"] = new JsonArray(cls, vocab[cls]?.GetValue<int>() ?? throw new ModelLoadException($"'{cls}' (cls_token) is not in the vocabulary", vocabPath)),
                ["trim_offsets"] = trimOffsets, ["add_prefix_space"] = addPrefixSpace,
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "", ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab.DeepClone(), ["merges"] = merges,
            },
        };
        return FromTokenizerJson(root, companions, vocabPath);
    }

    /// <summary>Writes tokenizer.json (as loaded, or as built from vocab.json + merges.txt) and the tokenizer_config.json and special_tokens_map.json it came with.</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var utf8 = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        File.WriteAllText(Path.Combine(folder, TokenizerJsonFileName), Settings.TokenizerJson.ToJsonString(options), utf8);
        foreach (var (name, json) in Settings.CompanionFiles)
            File.WriteAllText(Path.Combine(folder, name), json.ToJsonString(options), utf8);
    }
}

/// <summary>Reads the sections of a tokenizer.json into the pipeline's parts; anything unsupported is an error naming its key.</summary>
internal sealed class TokenizerJsonReader(string path)
{
    public ModelLoadException Error(string message, string key) => new(message, path, key);

    private static string? Type(JsonNode? node) => node?["type"]?.GetValue<string>();

    public TokenModel Model(JsonObject model)
    {
        var type = Type(model);
        switch (type)
        {
            case "WordPiece":
            {
                var vocab = model["vocab"] as JsonObject ?? throw Error("the WordPiece model has no vocab", "model.vocab");
                var tokens = TokensById(vocab);
                return new WordPieceModel(tokens, model["unk_token"]?.GetValue<string>() ?? "[UNK]", model["continuing_subword_prefix"]?.GetValue<string>() ?? "##",
                    model["max_input_chars_per_word"]?.GetValue<int>() ?? 100);
            }
            case "BPE":
            {
                var vocab = model["vocab"] as JsonObject ?? throw Error("the BPE model has no vocab", "model.vocab");
                var ids = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
                foreach (var (token, id) in vocab) ids[token] = id!.GetValue<int>();
                var merges = new List<(string, string)>();
                foreach (var m in model["merges"] as JsonArray ?? [])
                {
                    if (m is JsonArray pair && pair.Count == 2) merges.Add((pair[0]!.GetValue<string>(), pair[1]!.GetValue<string>()));
                    else if (m is JsonValue v && v.GetValue<string>().Split(' ') is { Length: 2 } parts) merges.Add((parts[0], parts[1]));
                    else throw Error($"merge {merges.Count} is neither \"a b\" nor [a, b]: {m?.ToJsonString()}", "model.merges");
                }
                if (model["dropout"] is JsonValue dropout && dropout.GetValue<double>() > 0)
                    throw Error("BPE dropout samples segmentations at random; only dropout null or 0 is supported", "model.dropout");
                return new BpeModel(ids, merges, model["unk_token"]?.GetValue<string>(), model["continuing_subword_prefix"]?.GetValue<string>(),
                    model["end_of_word_suffix"]?.GetValue<string>(), model["fuse_unk"]?.GetValue<bool>() ?? false, model["byte_fallback"]?.GetValue<bool>() ?? false,
                    model["ignore_merges"]?.GetValue<bool>() ?? false);
            }
            case "Unigram":
            {
                var vocab = new List<(string, double)>();
                foreach (var entry in model["vocab"] as JsonArray ?? throw Error("the Unigram model has no vocab", "model.vocab"))
                    vocab.Add((entry![0]!.GetValue<string>(), entry[1]!.GetValue<double>()));
                return new UnigramModel(vocab, model["unk_id"]?.GetValue<int>(), model["byte_fallback"]?.GetValue<bool>() ?? false);
            }
            default:
                throw Error($"the model type is '{type ?? "(none)"}'; supported: WordPiece, BPE, Unigram", "model.type");
        }
    }

    private static string?[] TokensById(JsonObject vocab)
    {
        int size = 0;
        foreach (var (_, id) in vocab) size = Math.Max(size, id!.GetValue<int>() + 1);
        var tokens = new string?[size];
        foreach (var (token, id) in vocab) tokens[id!.GetValue<int>()] = token;
        return tokens;
    }

    private (string? Literal, Regex? Regex) Pattern(JsonNode? pattern, string key)
    {
        if (pattern?["String"] is JsonValue s) return (s.GetValue<string>(), null);
        if (pattern?["Regex"] is JsonValue r)
        {
            try
            {
                return (null, new Regex(r.GetValue<string>(), RegexOptions.CultureInvariant));
            }
            catch (ArgumentException e)
            {
                throw Error($"the regular expression '{r}' is not one .NET reads: {e.Message}", key);
            }
        }
        throw Error("expected a pattern {\"String\": ...} or {\"Regex\": ...}", key);
    }

    public Pipeline.Normalizer? Normalizer(JsonNode? node, string key)
    {
        if (node is null) return null;
        var type = Type(node);
        return type switch
        {
            "Sequence" => new SequenceNormalizer((node["normalizers"] as JsonArray ?? []).Select((n, i) => Normalizer(n, $"{key}.normalizers[{i}]")!).ToArray()),
            "NFC" => new UnicodeNormalizer(UnicodeNormalization.Form.Nfc),
            "NFD" => new UnicodeNormalizer(UnicodeNormalization.Form.Nfd),
            "NFKC" => new UnicodeNormalizer(UnicodeNormalization.Form.Nfkc),
            "NFKD" => new UnicodeNormalizer(UnicodeNormalization.Form.Nfkd),
            "Lowercase" => new LowercaseNormalizer(),
            "StripAccents" => new StripAccentsNormalizer(),
            "Strip" => new StripNormalizer(node["strip_left"]?.GetValue<bool>() ?? true, node["strip_right"]?.GetValue<bool>() ?? true),
            "Prepend" => new PrependNormalizer(node["prepend"]?.GetValue<string>() ?? throw Error("Prepend has no prepend", key + ".prepend")),
            "Replace" => ReplaceNormalizerOf(node, key),
            "BertNormalizer" => new BertNormalizer(node["clean_text"]?.GetValue<bool>() ?? true, node["handle_chinese_chars"]?.GetValue<bool>() ?? true,
                node["strip_accents"]?.GetValue<bool?>(), node["lowercase"]?.GetValue<bool>() ?? true),
            "Precompiled" => PrecompiledOf(node, key),
            _ => throw Error($"the normalizer is '{type ?? "(none)"}'; supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Prepend, Replace, BertNormalizer, Precompiled", key + ".type"),
        };
    }

    private ReplaceNormalizer ReplaceNormalizerOf(JsonNode node, string key)
    {
        var (literal, regex) = Pattern(node["pattern"], key + ".pattern");
        return new ReplaceNormalizer(literal, regex, node["content"]?.GetValue<string>() ?? "");
    }

    private PrecompiledNormalizer? PrecompiledOf(JsonNode node, string key)
    {
        var map = node["precompiled_charsmap"]?.GetValue<string>();
        if (string.IsNullOrEmpty(map)) return null;
        try
        {
            return new PrecompiledNormalizer(Convert.FromBase64String(map));
        }
        catch (FormatException e)
        {
            throw Error($"precompiled_charsmap cannot be read: {e.Message}", key + ".precompiled_charsmap");
        }
    }

    private SplitBehavior Behavior(JsonNode? node, string key, SplitBehavior fallback)
    {
        var name = node?.GetValue<string>();
        if (name is null) return fallback;
        return Enum.TryParse<SplitBehavior>(name, out var b) ? b : throw Error($"unknown split behavior '{name}'", key);
    }

    public Pipeline.PreTokenizer? PreTokenizer(JsonNode? node, string key)
    {
        if (node is null) return null;
        var type = Type(node);
        switch (type)
        {
            case "Sequence":
                return new SequencePreTokenizer((node["pretokenizers"] as JsonArray ?? []).Select((n, i) => PreTokenizer(n, $"{key}.pretokenizers[{i}]")!).ToArray());
            case "BertPreTokenizer":
                return new BertPreTokenizer();
            case "Whitespace":
                return new WhitespacePreTokenizer();
            case "WhitespaceSplit":
                return new WhitespaceSplitPreTokenizer();
            case "Punctuation":
                return new PunctuationPreTokenizer(Behavior(node["behavior"], key + ".behavior", SplitBehavior.Isolated));
            case "Digits":
                return new DigitsPreTokenizer(node["individual_digits"]?.GetValue<bool>() ?? false);
            case "Split":
            {
                var (literal, regex) = Pattern(node["pattern"], key + ".pattern");
                return new SplitPreTokenizer(literal, regex, Behavior(node["behavior"], key + ".behavior", SplitBehavior.Removed), node["invert"]?.GetValue<bool>() ?? false);
            }
            case "Metaspace":
            {
                var replacement = node["replacement"]?.GetValue<string>() ?? "\u2581";
                if (replacement.Length != 1) throw Error($"the replacement '{replacement}' is not one character", key + ".replacement");
                var scheme = node["prepend_scheme"]?.GetValue<string>() switch
                {
                    "always" => MetaspacePreTokenizer.Prepend.Always,
                    "first" => MetaspacePreTokenizer.Prepend.First,
                    "never" => MetaspacePreTokenizer.Prepend.Never,
                    null => node["add_prefix_space"]?.GetValue<bool>() == false ? MetaspacePreTokenizer.Prepend.Never : MetaspacePreTokenizer.Prepend.Always,
                    var other => throw Error($"unknown prepend_scheme '{other}'", key + ".prepend_scheme"),
                };
                return new MetaspacePreTokenizer(replacement[0], scheme, node["split"]?.GetValue<bool>() ?? true);
            }
            case "ByteLevel":
                return new ByteLevelPreTokenizer(node["add_prefix_space"]?.GetValue<bool>() ?? true, node["use_regex"]?.GetValue<bool>() ?? true);
            default:
                throw Error($"the pre-tokenizer is '{type ?? "(none)"}'; supported: Sequence, BertPreTokenizer, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Split, Punctuation, Digits", key + ".type");
        }
    }

    public List<PipelineAddedToken> AddedTokens(JsonArray? tokens)
    {
        var result = new List<PipelineAddedToken>();
        foreach (var node in tokens ?? [])
        {
            bool Flag(string name) => node![name]?.GetValue<bool>() ?? false;
            result.Add(new PipelineAddedToken(node!["id"]!.GetValue<int>(), node["content"]!.GetValue<string>(), Flag("special"), Flag("single_word"),
                Flag("lstrip"), Flag("rstrip"), node["normalized"]?.GetValue<bool>() ?? !Flag("special")));
        }
        return result;
    }

    public PostProcessor PostProcessor(JsonNode? node, string key, TokenModel model, IReadOnlyList<PipelineAddedToken> added)
    {
        if (node is null) return Pipeline.PostProcessor.None;
        var type = Type(node);
        (string, int) Token(JsonNode? pair, string name) =>
            pair is JsonArray { Count: 2 } a ? (a[0]!.GetValue<string>(), a[1]!.GetValue<int>()) : throw Error($"expected [token, id] for {name}", $"{key}.{name}");
        switch (type)
        {
            case "BertProcessing":
            {
                var (cls, clsId) = Token(node["cls"], "cls");
                var (sep, sepId) = Token(node["sep"], "sep");
                return Pipeline.PostProcessor.Bert(cls, clsId, sep, sepId);
            }
            case "RobertaProcessing":
            {
                var (cls, clsId) = Token(node["cls"], "cls");
                var (sep, sepId) = Token(node["sep"], "sep");
                return Pipeline.PostProcessor.Roberta(cls, clsId, sep, sepId, node["trim_offsets"]?.GetValue<bool>() ?? true, node["add_prefix_space"]?.GetValue<bool>() ?? true);
            }
            case "ByteLevel":
                return Pipeline.PostProcessor.ByteLevel(node["trim_offsets"]?.GetValue<bool>() ?? true, node["add_prefix_space"]?.GetValue<bool>() ?? true);
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
                if (node["special_tokens"] is JsonObject map)
                    foreach (var (name, entry) in map)
                        specials[name] = (entry!["ids"] as JsonArray ?? []).Select(i => i!.GetValue<int>()).ToArray();
                return new PostProcessor(Template(node["single"], key + ".single"), Template(node["pair"], key + ".pair"), specials, false, false);
            }
            case "Sequence":
            {
                var result = Pipeline.PostProcessor.None;
                var parts = (node["processors"] as JsonArray ?? []).Select((p, i) => PostProcessor(p, $"{key}.processors[{i}]", model, added)).ToList();
                foreach (var p in parts)
                    result = p.Single.Length > 1 || p.Pair.Length > 2 || p.SpecialTokens.Count > 0 ? result.WithTemplateOf(p) : p.WithTemplateOf(result);
                return result;
            }
            default:
                throw Error($"the post-processor is '{type ?? "(none)"}'; supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence", key + ".type");
        }
    }

    private TemplatePiece[] Template(JsonNode? node, string key)
    {
        var pieces = new List<TemplatePiece>();
        foreach (var p in node as JsonArray ?? throw Error("expected a list of pieces", key))
        {
            if (p!["Sequence"] is JsonObject s)
                pieces.Add(new TemplatePiece(s["id"]!.GetValue<string>() == "A" ? 0 : 1, null, s["type_id"]?.GetValue<int>() ?? 0));
            else if (p["SpecialToken"] is JsonObject t)
                pieces.Add(new TemplatePiece(0, t["id"]!.GetValue<string>(), t["type_id"]?.GetValue<int>() ?? 0));
            else throw Error($"unknown template piece {p.ToJsonString()}", key);
        }
        return pieces.ToArray();
    }

    public Pipeline.Decoder? Decoder(JsonNode? node, string key)
    {
        if (node is null) return null;
        var type = Type(node);
        switch (type)
        {
            case "Sequence":
                return new SequenceDecoder((node["decoders"] as JsonArray ?? []).Select((d, i) => Decoder(d, $"{key}.decoders[{i}]")!).ToArray());
            case "ByteLevel":
                return new ByteLevelDecoder();
            case "Metaspace":
            {
                var replacement = node["replacement"]?.GetValue<string>() ?? "\u2581";
                var scheme = node["prepend_scheme"]?.GetValue<string>();
                bool prefix = scheme is null ? node["add_prefix_space"]?.GetValue<bool>() ?? true : scheme != "never";
                return new MetaspaceDecoder(replacement[0], prefix);
            }
            case "WordPiece":
                return new WordPieceDecoder(node["prefix"]?.GetValue<string>() ?? "##", node["cleanup"]?.GetValue<bool>() ?? true);
            case "BPEDecoder":
                return new BpeSuffixDecoder(node["suffix"]?.GetValue<string>() ?? "</w>");
            case "Replace":
            {
                var (literal, regex) = Pattern(node["pattern"], key + ".pattern");
                return new ReplaceDecoder(literal, regex, node["content"]?.GetValue<string>() ?? "");
            }
            case "ByteFallback":
                return new ByteFallbackDecoder();
            case "Fuse":
                return new FuseDecoder();
            case "Strip":
            {
                var content = node["content"]?.GetValue<string>() ?? " ";
                return new StripDecoder(content[0], node["start"]?.GetValue<int>() ?? 0, node["stop"]?.GetValue<int>() ?? 0);
            }
            default:
                throw Error($"the decoder is '{type ?? "(none)"}'; supported: ByteLevel, Metaspace, WordPiece, BPEDecoder, Replace, ByteFallback, Fuse, Strip, Sequence", key + ".type");
        }
    }
}
