using System.Text.Json.Nodes;
using FineTune.Tests.Text;
using FineTune.Text;

namespace FineTune.Tests.Cli;

/// <summary>`finetune tokenize`: a folder with only config.json and tokenizer files, a file of texts (or pairs), JSON Lines out.</summary>
[Collection("Console")]
public class TokenizeCliTests
{
    private static string TokenizerFolder(TestSupport.TempDir dir, string model, string modelType)
    {
        var folder = dir.File(model);
        Directory.CreateDirectory(folder);
        File.Copy(PipelineGoldenTests.ModelPath(model), Path.Combine(folder, "tokenizer.json"));
        File.WriteAllText(Path.Combine(folder, "config.json"), $$"""{"model_type": "{{modelType}}"}""");
        return folder;
    }

    [Theory]
    [InlineData("xlmr-unigram", "xlm-roberta", "Unigram")]
    [InlineData("roberta-bpe", "roberta", "BPE")]
    public void WritesOneObjectPerInputAsTheLibraryEncodesIt(string model, string modelType, string kind)
    {
        using var dir = new TestSupport.TempDir();
        var folder = TokenizerFolder(dir, model, modelType);
        var input = dir.File("texts.txt");
        string[] texts = ["Zwei Männer stehen am Herd.", "A dog runs   through the grass 🐕.", "北京欢迎你 <mask>"];
        File.WriteAllLines(input, texts);
        var output = dir.File("out.jsonl");
        var (code, stdout, stderr) = CliTests.Run("tokenize", "--model", folder, "--input", input, "--output", output);
        Assert.True(code == 0, stderr);
        Assert.Contains($"Wrote 3 encodings", stdout);
        Assert.Contains($"{kind} tokenizer", stdout);
        var lines = File.ReadAllLines(output);
        Assert.Equal(3, lines.Length);
        var tokenizer = Tokenizers.FromFolder(folder);
        for (int i = 0; i < 3; i++)
        {
            var json = JsonNode.Parse(lines[i])!;
            var expected = tokenizer.Encode(texts[i]);
            Assert.Equal(i + 1, json["row"]!.GetValue<long>());
            Assert.Equal(expected.Ids, json["input_ids"]!.AsArray().Select(x => x!.GetValue<int>()));
            Assert.Equal(expected.Tokens, json["tokens"]!.AsArray().Select(x => x!.GetValue<string>()));
            Assert.Equal(expected.Offsets, json["offsets"]!.AsArray().Select(x => new TokenOffset(x![0]!.GetValue<int>(), x[1]!.GetValue<int>())));
            Assert.Equal(expected.WordIds, json["word_ids"]!.AsArray().Select(x => x?.GetValue<int>()));
        }
        Assert.False(File.Exists(output + ".tmp"));
    }

    [Fact]
    public void PairsFromColumnsAndABadColumnNamesTheFile()
    {
        using var dir = new TestSupport.TempDir();
        var folder = TokenizerFolder(dir, "xlmr-unigram", "xlm-roberta");
        var input = dir.File("pairs.csv");
        File.WriteAllText(input, "q,c\nWho won?,Denver won the game.\n");
        var output = dir.File("pairs.jsonl");
        var (code, _, stderr) = CliTests.Run("tokenize", "--model", folder, "--input", input, "--text-column", "q", "--text-pair-column", "c", "--output", output);
        Assert.True(code == 0, stderr);
        var json = JsonNode.Parse(File.ReadAllLines(output).Single())!;
        Assert.Equal(["<s>", "</s>", "</s>", "</s>"], json["tokens"]!.AsArray().Select(x => x!.GetValue<string>()).Where(t => t.StartsWith('<')));
        Assert.Contains(1, json["sequence_ids"]!.AsArray().Select(x => x?.GetValue<int>()));

        var (bad, _, error) = CliTests.Run("tokenize", "--model", folder, "--input", input, "--text-column", "text", "--output", dir.File("bad.jsonl"));
        Assert.NotEqual(0, bad);
        Assert.Contains(input, error);
        Assert.Contains("text", error);
        Assert.False(File.Exists(dir.File("bad.jsonl")));

        // A --max-length without room for the pair's 4 special tokens and a token of text: one line naming the flag, exit 2.
        (bad, _, error) = CliTests.Run("tokenize", "--model", folder, "--input", input, "--text-column", "q", "--text-pair-column", "c", "--max-length", "4", "--output", dir.File("short.jsonl"));
        Assert.Equal(2, bad);
        Assert.Equal("error: --max-length: must be at least 5 (4 special tokens and a token of text), got 4", error.Trim());
        Assert.False(File.Exists(dir.File("short.jsonl")));
        (code, _, stderr) = CliTests.Run("tokenize", "--model", folder, "--input", input, "--text-column", "q", "--text-pair-column", "c", "--max-length", "5", "--output", dir.File("five.jsonl"));
        Assert.True(code == 0, stderr);
        Assert.Equal(5, JsonNode.Parse(File.ReadAllLines(dir.File("five.jsonl")).Single())!["input_ids"]!.AsArray().Count);
    }
}
