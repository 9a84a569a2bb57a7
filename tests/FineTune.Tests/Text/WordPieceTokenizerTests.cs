using System.Text.Json.Nodes;
using FineTune.Text;

namespace FineTune.Tests.Text;

public class WordPieceTokenizerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "finetune-text-" + Guid.NewGuid().ToString("N"));

    public WordPieceTokenizerTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static WordPieceTokenizer Tok => TestVocabulary.Uncased;

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void PackagedVocabularyHasCrlfLineEndsAndLoads()
    {
        Assert.Contains((byte)'\r', TestVocabulary.Bytes);
        Assert.Equal(30522, Tok.VocabSize);
        Assert.Equal(("[PAD]", "[UNK]", "[CLS]", "[SEP]"), (Tok.IdToToken(0), Tok.IdToToken(100), Tok.IdToToken(101), Tok.IdToToken(102)));
        Assert.Equal((0, 100, 101, 102, 103), (Tok.PaddingTokenId, Tok.UnknownTokenId, Tok.ClassifierTokenId, Tok.SeparatorTokenId, Tok.MaskTokenId!.Value));
        Assert.True(Tok.IsLowerCase);
        Assert.Equal(2023, Tok.TokenToId("this"));
        Assert.Null(Tok.TokenToId("this\r"));
    }

    [Fact]
    public void CrlfAndLfVocabulariesGiveTheSameTokens()
    {
        var tokens = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "##s", "!" };
        var crlf = FineTune.Text.WordPieceTokenizer.FromVocabFile(Write("crlf.txt", string.Join("\r\n", tokens) + "\r\n"));
        var lf = FineTune.Text.WordPieceTokenizer.FromVocabFile(Write("lf.txt", string.Join("\n", tokens)));
        var a = crlf.Encode("Hello worlds!");
        var b = lf.Encode("Hello worlds!");
        Assert.Equal([2, 4, 5, 6, 7, 3], a.Ids);
        Assert.Equal(a.Ids, b.Ids);
        Assert.Equal(8, crlf.VocabSize);
    }

    [Theory]
    [InlineData("[CLS]", "cls_token")]
    [InlineData("[SEP]", "sep_token")]
    [InlineData("[UNK]", "unk_token")]
    [InlineData("[PAD]", "pad_token")]
    public void VocabularyWithoutARequiredSpecialTokenFailsNamingFileAndToken(string missing, string key)
    {
        var tokens = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello" }.Where(t => t != missing);
        var path = Write("vocab.txt", string.Join("\n", tokens) + "\n");
        var e = Assert.Throws<ModelLoadException>(() => FineTune.Text.WordPieceTokenizer.FromVocabFile(path));
        Assert.Equal(path, e.FilePath);
        Assert.Equal(key, e.Key);
        Assert.Contains(missing, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void MissingOrEmptyFilesFailClearly()
    {
        Assert.Throws<ModelLoadException>(() => FineTune.Text.WordPieceTokenizer.FromVocabFile(Path.Combine(_dir, "none.txt")));
        var empty = Write("empty.txt", "");
        Assert.Contains("empty", Assert.Throws<ModelLoadException>(() => FineTune.Text.WordPieceTokenizer.FromVocabFile(empty)).Message);
        var e = Assert.Throws<ModelLoadException>(() => FineTune.Text.WordPieceTokenizer.FromFolder(_dir));
        Assert.Contains("tokenizer.json", e.Message);
    }

    private JsonObject SmallTokenizerJson()
    {
        var saved = Path.Combine(_dir, "saved");
        FineTune.Text.WordPieceTokenizer.FromVocab(new StringReader("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n")).Save(saved);
        return JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "tokenizer.json")))!.AsObject();
    }

    [Theory]
    [InlineData("model.type", "BPE", "model.type")]
    [InlineData("model.type", "Unigram", "model.type")]
    [InlineData("normalizer.type", "NFKC", "normalizer.type")]
    [InlineData("pre_tokenizer.type", "ByteLevel", "pre_tokenizer.type")]
    [InlineData("post_processor.type", "RobertaProcessing", "post_processor.type")]
    public void TokenizerJsonThatIsNotBertWordPieceFailsNamingFileAndKey(string path, string value, string key)
    {
        var json = SmallTokenizerJson();
        var parts = path.Split('.');
        json[parts[0]]![parts[1]] = value;
        var file = Write("tokenizer.json", json.ToJsonString());
        var e = Assert.Throws<ModelLoadException>(() => FineTune.Text.WordPieceTokenizer.FromTokenizerJson(file));
        Assert.Equal(file, e.FilePath);
        Assert.Equal(key, e.Key);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void BrokenTokenizerJsonFailsNamingTheFile()
    {
        var file = Write("tokenizer.json", "{ \"model\": ");
        var e = Assert.Throws<ModelLoadException>(() => FineTune.Text.WordPieceTokenizer.FromTokenizerJson(file));
        Assert.Equal(file, e.FilePath);
        var noVocab = SmallTokenizerJson();
        noVocab["model"]!.AsObject().Remove("vocab");
        file = Write("tokenizer2.json", noVocab.ToJsonString());
        Assert.Equal("model.vocab", Assert.Throws<ModelLoadException>(() => FineTune.Text.WordPieceTokenizer.FromTokenizerJson(file)).Key);
        var noCls = SmallTokenizerJson();
        ((JsonObject)noCls["model"]!["vocab"]!).Remove("[CLS]");
        file = Write("tokenizer3.json", noCls.ToJsonString());
        Assert.Equal("cls_token", Assert.Throws<ModelLoadException>(() => FineTune.Text.WordPieceTokenizer.FromTokenizerJson(file)).Key);
    }

    [Fact]
    public void SaveThenLoadRoundTripsInHuggingFaceLayout()
    {
        var options = new WordPieceTokenizerOptions { Lowercase = false, StripAccents = true, ModelMaxLength = 256 };
        var original = TestVocabulary.Load(options);
        var folder = Path.Combine(_dir, "model");
        original.Save(folder);
        foreach (var f in new[] { "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json" })
            Assert.True(File.Exists(Path.Combine(folder, f)), f);
        var vocabBytes = File.ReadAllBytes(Path.Combine(folder, "vocab.txt"));
        Assert.DoesNotContain((byte)'\r', vocabBytes);
        Assert.Equal(TestVocabulary.Lines, File.ReadAllText(Path.Combine(folder, "vocab.txt")).TrimEnd('\n').Split('\n'));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")))!;
        Assert.False(config["do_lower_case"]!.GetValue<bool>());
        Assert.True(config["strip_accents"]!.GetValue<bool>());
        Assert.Equal(256, config["model_max_length"]!.GetValue<int>());
        Assert.Equal("[CLS]", JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "special_tokens_map.json")))!["cls_token"]!.GetValue<string>());

        var fromFolder = FineTune.Text.WordPieceTokenizer.FromFolder(folder); // tokenizer.json
        File.Delete(Path.Combine(folder, "tokenizer.json"));
        var fromVocab = FineTune.Text.WordPieceTokenizer.FromFolder(folder); // vocab.txt + tokenizer_config.json
        foreach (var loaded in new[] { fromFolder, fromVocab })
        {
            Assert.False(loaded.IsLowerCase);
            Assert.True(loaded.Options.EffectiveStripAccents);
            Assert.Equal(256, loaded.ModelMaxLength);
            Assert.Equal(original.VocabSize, loaded.VocabSize);
            foreach (var text in new[] { "Café Crème BRÛLÉE [MASK] 😀 北京", "The Quick brown fox", "" })
            {
                var a = original.Encode(text, "Second PART");
                var b = loaded.Encode(text, "Second PART");
                Assert.Equal(a.Ids, b.Ids);
                Assert.Equal(a.Offsets, b.Offsets);
            }
        }
    }

    [Fact]
    public void OffsetsAreUtf16IndicesIntoTheOriginalText()
    {
        var text = "Ünïcode 😀 café\tİstanbul";
        var e = Tok.Encode(text);
        Assert.Equal(["[CLS]", "unicode", "[UNK]", "cafe", "istanbul", "[SEP]"], e.Tokens);
        Assert.Equal(["Ünïcode", "😀", "café", "İstanbul"], e.Offsets[1..^1].Select(o => text[o.Start..o.End]));
        Assert.Equal([null, 0, 0, 0, 0, null], e.SequenceIds);
        Assert.Equal([null, 0, 1, 2, 3, null], e.WordIds);
        Assert.Equal(new TokenOffset(0, 0), e.Offsets[0]);
        Assert.Equal(1, e.CharToToken(3));
        Assert.Null(e.CharToToken(7));
    }

    [Fact]
    public void TruncationReportsHowManyTokensWereCut()
    {
        var full = Tok.Encode("one two three four five six seven eight");
        Assert.Equal(10, full.Length);
        Assert.Equal(0, full.TruncatedTokens);
        Assert.False(full.WasTruncated);

        var cut = Tok.Encode("one two three four five six seven eight", options: EncodeOptions.Truncate(6));
        Assert.Equal(6, cut.Length);
        Assert.Equal(4, cut.TruncatedTokens);
        Assert.Equal(Tok.SeparatorTokenId, cut.Ids[^1]);

        var pair = Tok.Encode("a b c d e f g h", "x y", EncodeOptions.Truncate(9));
        Assert.Equal(9, pair.Length);
        Assert.Equal(4, pair.TruncatedTokens);
        Assert.Equal(["[CLS]", "a", "b", "c", "d", "[SEP]", "x", "y", "[SEP]"], pair.Tokens);

        var second = Tok.Encode("a b", "w x y z", EncodeOptions.Truncate(7, TruncationStrategy.OnlySecond));
        Assert.Equal(["[CLS]", "a", "b", "[SEP]", "w", "x", "[SEP]"], second.Tokens);
        Assert.Equal(2, second.TruncatedTokens);

        var none = Tok.Encode("a b c d e f", options: new EncodeOptions { MaxLength = 3, Truncation = TruncationStrategy.DoNotTruncate });
        Assert.Equal(8, none.Length);
        Assert.Equal(0, none.TruncatedTokens);

        Assert.Throws<ArgumentException>(() => Tok.Encode("a b c", options: EncodeOptions.Truncate(4, TruncationStrategy.OnlySecond)));
        Assert.Throws<ArgumentException>(() => Tok.Encode("a", "b c d e f", EncodeOptions.Truncate(5, TruncationStrategy.OnlyFirst)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Encode("a", "b", EncodeOptions.Truncate(2)));

        var batch = Tok.EncodeBatch(["short", "a much longer text that will not fit in six tokens", "also short"], EncodeOptions.Truncate(6));
        Assert.Equal(1, batch.Count(e => e.WasTruncated));
    }

    [Fact]
    public void PreSplitWordsKeepTheirIndex()
    {
        var e = Tok.EncodeWords(["EU", "rejects", "unaffable", "New York", "lamb", "."]);
        Assert.Equal(["[CLS]", "eu", "rejects", "una", "##ffa", "##ble", "new", "york", "lamb", ".", "[SEP]"], e.Tokens);
        Assert.Equal([null, 0, 1, 2, 2, 2, 3, 3, 4, 5, null], e.WordIds);
        Assert.Equal(new TokenOffset(3, 6), e.Offsets[4]); // relative to "unaffable", as in Hugging Face
        Assert.Equal(new TokenOffset(4, 8), e.Offsets[7]); // "York" in "New York"
    }

    [Fact]
    public void QuestionAnsweringWindowsCoverTheContextWithStride()
    {
        var context = string.Join(" ", Enumerable.Range(0, 40).Select(i => $"w{i}"));
        var windows = Tok.EncodeWindows("where is it?", context, maxLength: 24, stride: 4);
        Assert.True(windows.Count > 1);
        var seen = new HashSet<int>();
        int? previousLast = null;
        foreach (var w in windows)
        {
            Assert.True(w.Length <= 24);
            Assert.Equal(Tok.ClassifierTokenId, w.Ids[0]);
            var contextTokens = Enumerable.Range(0, w.Length).Where(i => w.SequenceIds[i] == 1).ToList();
            Assert.All(contextTokens, i => Assert.Equal(1, w.TypeIds[i]));
            var words = contextTokens.Select(i => w.WordIds[i]!.Value).ToList();
            if (previousLast is int last) Assert.True(words[0] <= last, "windows overlap");
            previousLast = words[^1];
            seen.UnionWith(words);
        }
        Assert.Equal(Enumerable.Range(0, 40), seen.Order());
        Assert.Single(Tok.EncodeWindows("q", "short context", 64, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.EncodeWindows("question", context, 12, 10));
        Assert.Throws<ArgumentException>(() => Tok.EncodeWindows(string.Join(" ", Enumerable.Repeat("long", 30)), context, 24, 4));
    }

    [Fact]
    public void PaddingUsesThePadIdAndMasksIt()
    {
        var batch = Tok.EncodeBatch(["short", "a somewhat longer text here"]);
        var padded = Tok.PadBatch(batch);
        Assert.All(padded, e => Assert.Equal(batch[1].Length, e.Length));
        Assert.Equal([1, 1, 1, 0, 0, 0, 0], padded[0].AttentionMask);
        Assert.Equal(Tok.PaddingTokenId, padded[0].Ids[^1]);
        Assert.Null(padded[0].SequenceIds[^1]);
        Assert.Null(padded[0].WordIds[^1]);
        Assert.Equal(new TokenOffset(0, 0), padded[0].Offsets[^1]);

        var toLength = Tok.PadBatch(batch, length: 10);
        Assert.All(toLength, e => Assert.Equal(10, e.Length));
        Assert.Equal(8, Tok.PadBatch(batch, multipleOf: 8)[0].Length);
        Assert.Same(batch[1], Tok.Pad(batch[1], 3));

        var tensor = Tok.ToBatch(batch, multipleOf: 4);
        Assert.Equal([2L, 8L], tensor.Shape);
        Assert.Equal(16, tensor.InputIds.Length);
        Assert.Equal(batch[0].Ids.Select(i => (long)i).Concat(Enumerable.Repeat(0L, 5)), tensor.InputIds.Take(8));
        Assert.Equal([1L, 1, 1, 0, 0, 0, 0, 0], tensor.AttentionMask.Take(8));
        Assert.Throws<ArgumentException>(() => Tok.ToBatch(batch, length: 3));
    }

    [Fact]
    public void BatchEncodingInParallelEqualsOneByOne()
    {
        var texts = Enumerable.Range(0, 500).Select(i => $"Sentence number {i}, with Ünïcode and emoji 😀 #{i * 7}").ToList();
        var pairs = texts.Select(t => (t, (string?)"and a pair")).ToList();
        var parallel = Tok.EncodeBatch(texts);
        var parallelPairs = Tok.EncodeBatch(pairs, EncodeOptions.Truncate(12));
        for (int i = 0; i < texts.Count; i++)
        {
            Assert.Equal(Tok.Encode(texts[i]).Ids, parallel[i].Ids);
            Assert.Equal(Tok.Encode(texts[i], "and a pair", EncodeOptions.Truncate(12)).Offsets, parallelPairs[i].Offsets);
        }
    }

    [Fact]
    public void WithoutSpecialTokensThePairKeepsTypeIdOne()
    {
        var e = Tok.Encode("hello", "world", new EncodeOptions { AddSpecialTokens = false });
        Assert.Equal(["hello", "world"], e.Tokens);
        Assert.Equal([0, 1], e.TypeIds);
        Assert.Equal([0, 1], e.SequenceIds.Select(s => s!.Value));
    }

    [Fact]
    public void DecodeJoinsWordPiecesAndSkipsSpecialTokens()
    {
        var e = Tok.Encode("Hello, world! I like unaffable tokenizers.");
        Assert.Equal("hello, world! i like unaffable tokenizers.", Tok.Decode(e.Ids));
        Assert.StartsWith("[CLS] hello", Tok.Decode(e.Ids, skipSpecialTokens: false));
    }

    [Fact]
    public void SpecialTokensInTheTextAreMatchedWhole()
    {
        var e = Tok.Encode("a[MASK]b [mask]");
        Assert.Equal(["[CLS]", "a", "[MASK]", "b", "[", "mask", "]", "[SEP]"], e.Tokens);
        Assert.Equal(new TokenOffset(1, 7), e.Offsets[2]);
        Assert.Equal(1, e.WordIds[2]);
    }

    [Fact]
    public void LoneSurrogatesAndLongWordsDoNotBreakTheTokenizer()
    {
        var e = Tok.Encode("a\uD800b \uDC00 c");
        Assert.Equal(["[CLS]", "ab", "c", "[SEP]"], e.Tokens);
        var longWord = new string('x', 101);
        Assert.Equal(["[CLS]", "[UNK]", "[SEP]"], Tok.Encode(longWord).Tokens);
        Assert.Equal(new TokenOffset(0, 101), Tok.Encode(longWord).Offsets[1]);
        var huge = string.Concat(Enumerable.Repeat("word ", 20000));
        Assert.Equal(20002, Tok.Encode(huge).Length);
    }
}
