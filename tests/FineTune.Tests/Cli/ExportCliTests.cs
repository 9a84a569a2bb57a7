using System.Text.Json.Nodes;
using FineTune.Checkpoints;
using FineTune.Tests.Export;

namespace FineTune.Tests.Cli;

/// <summary>`finetune export` on good and bad input: one clear error each, and nothing written when it fails.</summary>
[Collection("Console")]
public class ExportCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    /// <summary>A copy of the tiny encoder folder with a token-classification head, changed by <paramref name="change"/>.</summary>
    private static string Folder(TestSupport.TempDir dir, Action<string>? change = null)
    {
        var folder = dir.File("model");
        using var tiny = new TinyModelFolder();
        var tagger = tiny.ConstantTagger(["O", "B-PER", "I-PER"], "O");
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(tagger)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        change?.Invoke(folder);
        return folder;
    }

    /// <summary>The parent of <paramref name="output"/> holds no temporary or partial export.</summary>
    private static void NothingWritten(string output)
    {
        Assert.False(Directory.Exists(output), $"{output} was created");
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(output)!, "." + Path.GetFileName(output) + ".tmp-*"));
    }

    [Fact]
    public void ExportWritesOptimumsLayout()
    {
        using var dir = new TestSupport.TempDir();
        var folder = Folder(dir);
        var output = dir.File("export");
        var (code, stdout, error) = Run("export", "--model", folder, "--output", output, "--quantize", "int8");
        Assert.True(code == 0, error);
        Assert.Contains("Exported a token-classification model", stdout);
        foreach (var file in new[] { "onnx/model.onnx", "onnx/model_quantized.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!;
        Assert.Equal("BertForTokenClassification", (string)config["architectures"]![0]!);
        Assert.Equal("B-PER", (string)config["id2label"]!["1"]!);
        Assert.Equal(1, (int)config["label2id"]!["B-PER"]!);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], config["finetune"]!["inputs"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(["logits"], config["finetune"]!["outputs"]!.AsArray().Select(n => (string)n!));
    }

    [Fact]
    public void AnOutputThatIsNotEmptyNeedsOverwrite()
    {
        using var dir = new TestSupport.TempDir();
        var folder = Folder(dir);
        var output = dir.File("export");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "mine");
        var (code, _, error) = Run("export", "--model", folder, "--output", output);
        Assert.Equal(2, code);
        Assert.Contains("exists and is not empty (--overwrite replaces it)", error);
        Assert.True(File.Exists(Path.Combine(output, "keep.txt")));
        (code, _, error) = Run("export", "--model", folder, "--output", output, "--overwrite");
        Assert.True(code == 0, error);
        Assert.False(File.Exists(Path.Combine(output, "keep.txt")));
        Assert.True(File.Exists(Path.Combine(output, "onnx", "model.onnx")));
    }

    [Fact]
    public void AFolderWithoutWeightsIsOneError()
    {
        using var dir = new TestSupport.TempDir();
        var folder = Folder(dir, f => File.Delete(Path.Combine(f, WeightFiles.SafeTensorsName)));
        var output = dir.File("export");
        var (code, _, error) = Run("export", "--model", folder, "--output", output);
        Assert.NotEqual(0, code);
        Assert.Contains(folder, error);
        Assert.Single(error.Trim().Split('\n'));
        NothingWritten(output);
    }

    [Fact]
    public void AnUnknownTaskIsOneError()
    {
        using var dir = new TestSupport.TempDir();
        var folder = Folder(dir, f => new FineTuneMetadata { Task = "speech-recognition", MaxLength = 64 }.Save(f));
        var output = dir.File("export");
        var (code, _, error) = Run("export", "--model", folder, "--output", output);
        Assert.NotEqual(0, code);
        Assert.Contains("finetune.json", error);
        Assert.Contains("unknown task 'speech-recognition'", error);
        NothingWritten(output);
    }

    [Fact]
    public void ASequenceToSequenceTaskOverAnEncoderFolderIsOneError()
    {
        using var dir = new TestSupport.TempDir();
        var folder = Folder(dir, f => new FineTuneMetadata { Task = "summarization", MaxLength = 64 }.Save(f));
        var output = dir.File("export");
        var (code, _, error) = Run("export", "--model", folder, "--output", output);
        Assert.Equal(2, code);
        Assert.Contains("finetune.json names a sequence-to-sequence task but config.json's model_type is not \"encoder-decoder\"", error);
        Assert.Single(error.Trim().Split('\n'));
        NothingWritten(output);
    }

    [Fact]
    public void AnUnknownFamilyIsOneError()
    {
        using var dir = new TestSupport.TempDir();
        var folder = Folder(dir, f =>
        {
            var path = Path.Combine(f, "config.json");
            var config = JsonNode.Parse(File.ReadAllText(path))!;
            config["model_type"] = "gpt2";
            File.WriteAllText(path, config.ToJsonString());
        });
        var output = dir.File("export");
        var (code, _, error) = Run("export", "--model", folder, "--output", output);
        Assert.NotEqual(0, code);
        Assert.Contains("unsupported model_type 'gpt2'", error);
        NothingWritten(output);
    }

    [Fact]
    public void AnOpsetWithoutLayerNormalizationIsOneError()
    {
        using var dir = new TestSupport.TempDir();
        var output = dir.File("export");
        var (code, _, error) = Run("export", "--model", Folder(dir), "--output", output, "--opset", "13");
        Assert.Equal(2, code);
        Assert.Contains("--opset: must be from 17", error);
        NothingWritten(output);
    }

    [Fact]
    public void AHeadThatDoesNotFitItsWeightsLeavesNothing()
    {
        using var dir = new TestSupport.TempDir();
        // Four labels in config.json for a head trained with three: refused when the model loads, before anything is written.
        var folder = Folder(dir, f =>
        {
            var path = Path.Combine(f, "config.json");
            var config = JsonNode.Parse(File.ReadAllText(path))!;
            config["id2label"]!.AsObject()["3"] = "B-LOC";
            config["label2id"]!.AsObject()["B-LOC"] = 3;
            File.WriteAllText(path, config.ToJsonString());
        });
        var output = dir.File("export");
        var (code, _, error) = Run("export", "--model", folder, "--output", output);
        Assert.NotEqual(0, code);
        Assert.Contains("classifier", error);
        NothingWritten(output);
    }
}
