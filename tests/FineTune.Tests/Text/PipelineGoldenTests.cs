using System.Text.Json.Nodes;
using FineTune.Text;

namespace FineTune.Tests.Text;

/// <summary>
/// Identity of the general tokenizer.json pipeline with Hugging Face's tokenizers on golden files made by
/// tools/golden/generate-bpe-unigram.js: a byte-level BPE with RoBERTa's layout and template and a Unigram with XLM-R's
/// (both trained by the npm package's own trainers on the shared corpora), a SentencePiece Unigram converted as
/// transformers converts XLM-R, a BPE with byte fallback, and variants of them with other normalizers, pre-tokenizers
/// and templates. Every field of every case must be identical: ids, type ids, offsets, sequence ids, word ids.
/// </summary>
public class PipelineGoldenTests
{
    private static readonly Dictionary<string, Lazy<JsonObject>> s_files = new[] { "bpe-bytelevel", "unigram", "spm-unigram", "bpe-fallback" }
        .ToDictionary(f => f, f => new Lazy<JsonObject>(() => Read($"{f}.json")));

    private static readonly Dictionary<string, PipelineTokenizer> s_tokenizers = new();

    internal static JsonObject Read(string file) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Text", "Golden", file)))!.AsObject();

    /// <summary>The folder-less tokenizer.json of a trained model (tests/FineTune.Tests/Text/Golden/NAME.tokenizer.json).</summary>
    internal static string ModelPath(string model) => Path.Combine(AppContext.BaseDirectory, "Text", "Golden", $"{model}.tokenizer.json");

    /// <summary>The tokenizer of a variant: its model file, with the variant's normalizer, pre-tokenizer, template and added tokens when it has its own.</summary>
    internal static PipelineTokenizer Variant(string file, string variant)
    {
        lock (s_tokenizers)
        {
            if (s_tokenizers.TryGetValue(variant, out var cached)) return cached;
            var spec = s_files[file].Value["variants"]![variant]!.AsObject();
            var root = Read($"{spec["model"]!.GetValue<string>()}.tokenizer.json");
            if (spec["json"] is JsonObject json)
                foreach (var (key, value) in json)
                    root[key] = value?.DeepClone();
            var tokenizer = PipelineTokenizer.FromTokenizerJson(root, new Dictionary<string, JsonObject>(), $"golden variant {variant}");
            s_tokenizers[variant] = tokenizer;
            return tokenizer;
        }
    }

    private static List<JsonObject> Cases(string file, Func<JsonObject, bool> where) =>
        s_files[file].Value["cases"]!.AsArray().Select(c => c!.AsObject()).Where(where).ToList();

    private static string MainVariant(string file) => file switch
    {
        "bpe-bytelevel" => "roberta-bpe",
        "unigram" => "xlmr-unigram",
        "spm-unigram" => "spm-unigram",
        _ => "bpe-fallback",
    };

    [Theory]
    [InlineData("bpe-bytelevel", "sentences", 1000)]
    [InlineData("bpe-bytelevel", "pairs", 300)]
    [InlineData("bpe-bytelevel", "tricky", 300)]
    [InlineData("bpe-bytelevel", "words", 100)]
    [InlineData("bpe-bytelevel", "truncation", 150)]
    [InlineData("bpe-bytelevel", "no-special-tokens", 50)]
    [InlineData("bpe-bytelevel", "windows", 10)]
    [InlineData("unigram", "sentences", 1000)]
    [InlineData("unigram", "pairs", 300)]
    [InlineData("unigram", "tricky", 300)]
    [InlineData("unigram", "words", 100)]
    [InlineData("unigram", "truncation", 150)]
    [InlineData("unigram", "no-special-tokens", 50)]
    [InlineData("unigram", "windows", 10)]
    [InlineData("spm-unigram", "sentences", 1000)]
    [InlineData("spm-unigram", "pairs", 300)]
    [InlineData("spm-unigram", "tricky", 300)]
    [InlineData("spm-unigram", "words", 100)]
    [InlineData("spm-unigram", "truncation", 150)]
    [InlineData("spm-unigram", "no-special-tokens", 50)]
    [InlineData("spm-unigram", "windows", 10)]
    public void MainModelsMatchHuggingFace(string file, string kind, int atLeast)
    {
        var main = MainVariant(file);
        var cases = Cases(file, c => c["v"]!.GetValue<string>() == main && GoldenTests.Kind(c) == kind);
        Assert.True(cases.Count >= atLeast, $"{cases.Count} {kind} cases of {main}, expected at least {atLeast}");
        GoldenTests.AssertAllMatch(cases, c => Variant(file, c["v"]!.GetValue<string>()));
    }

    /// <summary>The same models with other normalizers (NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Replace, Prepend, BertNormalizer), pre-tokenizers and templates.</summary>
    [Theory]
    [InlineData("bpe-bytelevel")]
    [InlineData("unigram")]
    [InlineData("bpe-fallback")]
    public void VariantsMatchHuggingFace(string file)
    {
        var main = MainVariant(file);
        var cases = Cases(file, c => c["v"]!.GetValue<string>() != main || file == "bpe-fallback");
        var variants = cases.Select(c => c["v"]!.GetValue<string>()).Distinct().ToList();
        Assert.True(cases.Count >= 100 * variants.Count, $"{cases.Count} cases for {variants.Count} variants");
        GoldenTests.AssertAllMatch(cases, c => Variant(file, c["v"]!.GetValue<string>()));
    }

    [Theory]
    [InlineData("bpe-bytelevel")]
    [InlineData("unigram")]
    [InlineData("spm-unigram")]
    [InlineData("bpe-fallback")]
    public void DecodeMatchesHuggingFace(string file)
    {
        var cases = Cases(file, c => c["decoded"] is not null);
        Assert.True(cases.Count >= 80, $"only {cases.Count} decode cases");
        var wrong = new List<string>();
        foreach (var c in cases)
        {
            var tokenizer = Variant(file, c["v"]!.GetValue<string>());
            var ids = c["out"]![0]!["ids"]!.AsArray().Select(i => i!.GetValue<int>());
            var actual = tokenizer.Decode(ids);
            if (actual != c["decoded"]!.GetValue<string>()) wrong.Add($"{GoldenTests.Describe(c)}: expected \"{c["decoded"]}\", got \"{actual}\"");
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases.Count} decodes differ. First: {wrong.FirstOrDefault()}");
    }
}
