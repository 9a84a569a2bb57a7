using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Text;

namespace FineTune.Tests.Text;

/// <summary>
/// Identity with Hugging Face's tokenizers on golden files made by tools/golden/generate.js (the npm package
/// `tokenizers`, the Rust library): real sentences, pairs, pre-split words, tricky strings, truncation and QA windows.
/// </summary>
public class GoldenTests
{
    private static readonly Lazy<JsonObject> s_golden = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Text", "Golden", "bert-wordpiece.json")))!.AsObject());

    private static readonly Lazy<Dictionary<string, WordPieceTokenizer>> s_variants = new(() =>
        s_golden.Value["variants"]!.AsObject().ToDictionary(v => v.Key, v => TestVocabulary.Load(new WordPieceTokenizerOptions
        {
            Lowercase = v.Value!["lowercase"]!.GetValue<bool>(),
            StripAccents = v.Value["stripAccents"]?.GetValue<bool>(),
            HandleChineseChars = v.Value["handleChineseChars"]!.GetValue<bool>(),
            CleanText = v.Value["cleanText"]!.GetValue<bool>(),
        })));

    private static IEnumerable<JsonObject> Cases(string kind) =>
        s_golden.Value["cases"]!.AsArray().Select(c => c!.AsObject()).Where(c => Kind(c) == kind);

    internal static string Kind(JsonObject c) =>
        c["words"] is not null ? "words"
        : c["stride"] is not null ? "windows"
        : c["max"] is not null ? "truncation"
        : c["src"]!.GetValue<string>().StartsWith("tricky", StringComparison.Ordinal) ? "tricky"
        : c["special"] is not null ? "no-special-tokens"
        : c["pair"] is not null ? "pairs"
        : "sentences";

    [Theory]
    [InlineData("sentences", 1000)]
    [InlineData("pairs", 300)]
    [InlineData("words", 300)]
    [InlineData("tricky", 300)]
    [InlineData("truncation", 200)]
    [InlineData("no-special-tokens", 50)]
    [InlineData("windows", 50)]
    public void MatchesHuggingFace(string kind, int atLeast)
    {
        var cases = Cases(kind).ToList();
        Assert.True(cases.Count >= atLeast, $"{cases.Count} {kind} cases, expected at least {atLeast}");
        AssertAllMatch(cases, c => s_variants.Value[c["v"]!.GetValue<string>()]);
    }

    [Fact]
    public void DecodeMatchesHuggingFace()
    {
        int n = 0;
        foreach (var c in s_golden.Value["cases"]!.AsArray().Select(c => c!.AsObject()).Where(c => c["decoded"] is not null))
        {
            var tokenizer = s_variants.Value[c["v"]!.GetValue<string>()];
            var ids = c["out"]![0]!["ids"]!.AsArray().Select(i => i!.GetValue<int>());
            Assert.True(c["decoded"]!.GetValue<string>() == tokenizer.Decode(ids), $"decode of {Describe(c)}: expected \"{c["decoded"]}\", got \"{tokenizer.Decode(ids)}\"");
            n++;
        }
        Assert.True(n >= 1000, $"only {n} decode cases");
    }

    /// <summary>Hugging Face's own tokenizer.json (vocabulary put back from the package) loads and gives the same results.</summary>
    [Fact]
    public void HuggingFaceTokenizerJsonLoadsAndMatches()
    {
        var json = s_golden.Value["tokenizerJson"]!.DeepClone().AsObject();
        var vocab = new JsonObject();
        var lines = TestVocabulary.Lines;
        for (int i = 0; i < lines.Length; i++) vocab[lines[i]] = i;
        json["model"]!["vocab"] = vocab;
        var path = Path.Combine(Path.GetTempPath(), $"finetune-hf-tokenizer-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json.ToJsonString());
        try
        {
            var tokenizer = WordPieceTokenizer.FromTokenizerJson(path);
            Assert.True(tokenizer.IsLowerCase);
            Assert.Equal(30522, tokenizer.VocabSize);
            var cases = s_golden.Value["cases"]!.AsArray().Select(c => c!.AsObject()).Where(c => c["v"]!.GetValue<string>() == "uncased").ToList();
            AssertAllMatch(cases, _ => tokenizer);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The tokenizer.json this tokenizer writes has the sections Hugging Face writes for the same tokenizer.</summary>
    [Fact]
    public void WrittenTokenizerJsonHasHuggingFaceSections()
    {
        var hf = s_golden.Value["tokenizerJson"]!.AsObject();
        var ours = TestVocabulary.Load(new WordPieceTokenizerOptions { StripAccents = true }).ToTokenizerJson();
        Assert.Equal(TestVocabulary.Lines.Length, ours["model"]!["vocab"]!.AsObject().Count);
        ours["model"]!["vocab"] = new JsonObject();
        foreach (var section in new[] { "version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder", "model" })
            Assert.True(JsonNode.DeepEquals(hf[section], ours[section]), $"{section}: Hugging Face {hf[section]?.ToJsonString()}, ours {ours[section]?.ToJsonString()}");
    }

    internal static void AssertAllMatch(List<JsonObject> cases, Func<JsonObject, ITokenizer> tokenizerOf)
    {
        string? first = null;
        int mismatches = 0;
        foreach (var c in cases)
        {
            var problem = Compare(c, tokenizerOf(c));
            if (problem is null) continue;
            mismatches++;
            first ??= problem;
        }
        Assert.True(mismatches == 0, $"{mismatches} of {cases.Count} cases differ from Hugging Face. First:\n{first}");
    }

    /// <summary>Null when the tokenizer gives what Hugging Face gave; otherwise a description of the first difference.</summary>
    internal static string? Compare(JsonObject c, ITokenizer tokenizer)
    {
        IReadOnlyList<Encoding> actual;
        try
        {
            actual = Run(c, tokenizer);
        }
        catch (ArgumentException e)
        {
            return c["error"] is not null ? null : $"{Describe(c)}\nthrew {e.GetType().Name}: {e.Message}";
        }
        if (c["error"] is not null) return $"{Describe(c)}\nHugging Face failed ({c["error"]}), but the tokenizer returned {string.Join(" | ", actual)}";
        var expected = c["out"]!.AsArray();
        if (expected.Count != actual.Count) return $"{Describe(c)}\n{expected.Count} windows expected, {actual.Count} produced";
        for (int w = 0; w < expected.Count; w++)
        {
            var e = expected[w]!;
            var a = actual[w];
            var ids = e["ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            var types = e["types"]!.GetValue<string>().Select(ch => ch - '0').ToArray();
            var seq = e["seq"]!.GetValue<string>().Select(ch => ch == '-' ? (int?)null : ch - '0').ToArray();
            var words = e["words"]!.AsArray().Select(x => x?.GetValue<int>()).ToArray();
            var flat = e["offsets"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            var offsets = Enumerable.Range(0, flat.Length / 2).Select(i => new TokenOffset(flat[2 * i], flat[2 * i + 1])).ToArray();
            var where = expected.Count > 1 ? $" (window {w})" : "";
            var problem =
                Diff("ids", ids, a.Ids, tokenizer) ?? Diff("type ids", types, a.TypeIds, tokenizer) ?? Diff("offsets", offsets, a.Offsets, tokenizer)
                ?? Diff("sequence ids", seq, a.SequenceIds, tokenizer) ?? Diff("word ids", words, a.WordIds, tokenizer);
            if (problem is not null)
                return $"{Describe(c)}{where}\n{problem}\nexpected tokens: {string.Join(" ", ids.Select(tokenizer.IdToToken))}\nactual tokens:   {a}";
        }
        return null;
    }

    private static string? Diff<T>(string what, T[] expected, T[] actual, ITokenizer tokenizer)
    {
        int n = Math.Min(expected.Length, actual.Length);
        for (int i = 0; i < n; i++)
            if (!EqualityComparer<T>.Default.Equals(expected[i], actual[i]))
                return $"{what} differ at token {i}: expected {Show(expected[i])}, got {Show(actual[i])}; expected [{string.Join(", ", expected.Select(Show))}], got [{string.Join(", ", actual.Select(Show))}]";
        return expected.Length == actual.Length ? null
            : $"{what}: expected {expected.Length} tokens, got {actual.Length}; expected [{string.Join(", ", expected.Select(Show))}], got [{string.Join(", ", actual.Select(Show))}]";

        static string Show(T value) => value?.ToString() ?? "null";
    }

    private static IReadOnlyList<Encoding> Run(JsonObject c, ITokenizer tokenizer)
    {
        bool special = c["special"]?.GetValue<bool>() ?? true;
        int? max = c["max"]?.GetValue<int>();
        var strategy = Enum.Parse<TruncationStrategy>(c["trunc"]?.GetValue<string>() ?? nameof(TruncationStrategy.LongestFirst));
        var options = new EncodeOptions { MaxLength = max, Truncation = strategy, AddSpecialTokens = special };
        if (c["words"] is JsonArray words)
            return [tokenizer.EncodeWords(words.Select(w => w!.GetValue<string>()).ToList(), options)];
        var text = Text(c, "text")!;
        var pair = Text(c, "pair");
        if (c["stride"] is JsonNode stride)
            return tokenizer.EncodeWindows(text, pair!, max!.Value, stride.GetValue<int>(), special);
        return [tokenizer.Encode(text, pair, options)];
    }

    /// <summary>A case's text; one with a lone surrogate (which System.Text.Json cannot read) is stored as UTF-16 code units in KEY16.</summary>
    internal static string? Text(JsonObject c, string key) =>
        c[key + "16"] is JsonArray units ? new string(units.Select(u => (char)u!.GetValue<int>()).ToArray()) : c[key]?.GetValue<string>();

    internal static string Describe(JsonObject c)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append($"[{c["v"]}] {c["src"]}");
        if (c["max"] is not null) sb.Append($" max {c["max"]} {c["trunc"] ?? "LongestFirst"}");
        if (c["stride"] is not null) sb.Append($" stride {c["stride"]}");
        if (c["special"] is not null) sb.Append(" no special tokens");
        sb.Append(": ");
        if (c["words"] is JsonArray words) sb.Append(words.ToJsonString());
        else sb.Append(JsonSerializer.Serialize(Clip(c["text"]!.GetValue<string>())));
        if (c["pair"] is JsonNode pair) sb.Append(" | ").Append(JsonSerializer.Serialize(Clip(pair.GetValue<string>())));
        return sb.ToString();

        static string Clip(string s) => s.Length > 300 ? s[..300] + "…" : s;
    }
}
