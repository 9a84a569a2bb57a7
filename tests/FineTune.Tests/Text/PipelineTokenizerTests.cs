using System.Text.Json.Nodes;
using FineTune.Text;

namespace FineTune.Tests.Text;

/// <summary>Loading, saving and refusing tokenizer folders of the general pipeline (its results are in <see cref="PipelineGoldenTests"/>).</summary>
public class PipelineTokenizerTests
{
    private static readonly string[] s_texts =
    [
        "A man in an orange hat starring at something.", "Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.",
        "Emoji 😀 and <mask> here", "  spaces   around  ", "", "北京欢迎你", "don't stop", "x² ﬁ Ⅻ",
    ];

    private static void AssertSameEncodings(ITokenizer expected, ITokenizer actual)
    {
        foreach (var text in s_texts)
        {
            foreach (var pair in new[] { null, "a second text" })
            {
                var e = expected.Encode(text, pair);
                var a = actual.Encode(text, pair);
                Assert.Equal(e.Ids, a.Ids);
                Assert.Equal(e.TypeIds, a.TypeIds);
                Assert.Equal(e.Offsets, a.Offsets);
                Assert.Equal(e.WordIds, a.WordIds);
            }
        }
    }

    [Fact]
    public void RobertaVocabJsonAndMergesLoadAsItsTokenizerJson()
    {
        using var dir = new TestSupport.TempDir();
        var json = JsonNode.Parse(File.ReadAllText(PipelineGoldenTests.ModelPath("roberta-bpe")))!;
        var folder = dir.File("roberta");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "vocab.json"), json["model"]!["vocab"]!.ToJsonString());
        File.WriteAllLines(Path.Combine(folder, "merges.txt"),
            ["#version: 0.2", .. json["model"]!["merges"]!.AsArray().Select(m => $"{m![0]} {m[1]}")]);
        var fromFiles = Tokenizers.FromFolder(folder);
        Assert.Equal("BPE", fromFiles.Model);
        AssertSameEncodings(PipelineTokenizer.FromTokenizerJson(PipelineGoldenTests.ModelPath("roberta-bpe")), fromFiles);
        Assert.Equal([0, 42, 2], fromFiles.WithSpecialTokens([42]));
        Assert.Equal(4, fromFiles.SpecialTokenCount(pair: true));
    }

    [Fact]
    public void SavedTokenizerLoadsBackTheSame()
    {
        using var dir = new TestSupport.TempDir();
        foreach (var model in new[] { "roberta-bpe", "xlmr-unigram", "spm-unigram" })
        {
            var source = dir.File(model);
            Directory.CreateDirectory(source);
            File.Copy(PipelineGoldenTests.ModelPath(model), Path.Combine(source, "tokenizer.json"));
            File.WriteAllText(Path.Combine(source, "tokenizer_config.json"), """{"model_max_length": 512, "pad_token": "<pad>"}""");
            var original = Tokenizers.FromFolder(source);
            original.Save(dir.File(model + "-saved"));
            var saved = Tokenizers.FromFolder(dir.File(model + "-saved"));
            AssertSameEncodings(original, saved);
            Assert.Equal(512, saved.ModelMaxLength);
            Assert.Equal(original.VocabSize, saved.VocabSize);
        }
    }

    [Fact]
    public void SentencePieceModelWithoutTokenizerJsonAsksForIt()
    {
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("xlmr");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Text", "Golden", "spm-unigram.model"), Path.Combine(folder, "sentencepiece.bpe.model"));
        var e = Assert.Throws<ModelLoadException>(() => Tokenizers.FromFolder(folder));
        Assert.Contains("sentencepiece.bpe.model", e.Message);
        Assert.Contains("save_pretrained", e.Message);
        Assert.Contains("tokenizer.json", e.Message);
    }

    [Theory]
    [InlineData("model", """{"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}""", "model.type")]
    [InlineData("pre_tokenizer", """{"type": "UnicodeScripts"}""", "pre_tokenizer.type")]
    [InlineData("normalizer", """{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Nmt"}]}""", "normalizer.normalizers[1].type")]
    [InlineData("post_processor", """{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}], "pair": [], "special_tokens": {}}""", "<x>")]
    [InlineData("decoder", """{"type": "CTC"}""", "decoder.type")]
    public void UnsupportedPartsAreRefusedNamingTheirKey(string section, string value, string named)
    {
        using var dir = new TestSupport.TempDir();
        var json = JsonNode.Parse(File.ReadAllText(PipelineGoldenTests.ModelPath("xlmr-unigram")))!.AsObject();
        json[section] = JsonNode.Parse(value);
        var path = dir.File("tokenizer.json");
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<ModelLoadException>(() => PipelineTokenizer.FromTokenizerJson(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void RobertaSpecialTokensAndTruncation()
    {
        var tokenizer = PipelineTokenizer.FromTokenizerJson(PipelineGoldenTests.ModelPath("roberta-bpe"));
        var e = tokenizer.Encode("Hello world, this is a longer text.", "And a pair.", EncodeOptions.Truncate(10));
        Assert.Equal(10, e.Length);
        Assert.Equal("<s>", e.Tokens[0]);
        Assert.Equal(["</s>", "</s>"], e.Tokens.Where((_, i) => e.SequenceIds[i] is null && i > 0).Take(2));
        Assert.True(e.WasTruncated);
        Assert.All(e.TypeIds, t => Assert.Equal(0, t));
        Assert.Equal("Hello world, this is a longer text.", tokenizer.Decode(tokenizer.Encode("Hello world, this is a longer text.").Ids));
    }
}
