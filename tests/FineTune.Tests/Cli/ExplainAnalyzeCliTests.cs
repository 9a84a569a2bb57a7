using System.Text.Json.Nodes;

namespace FineTune.Tests.Cli;

/// <summary>`finetune explain`, `finetune analyze` and `--slice-column` through the tool: files written, errors as one line with flags.</summary>
[Collection("Console")]
public class ExplainAnalyzeCliTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    [Fact]
    public void ExplainWritesTheFilesAndSaysHowCompleteTheAttributionsAre()
    {
        var model = tiny.SequenceModel("classification", ["neg", "pos"]);
        var input = tiny.File("explain-in.csv");
        File.WriteAllLines(input, ["id,review", "1,a gorgeous and witty film", "2,\"dull, lifeless and far too long\""]);
        var (code, output, error) = Run("explain", "--model", model, "--input", input, "--text-column", "review", "--steps", "20", "--output", tiny.File("explained"));
        Assert.True(code == 0, error);
        Assert.Contains("Explained 2 outputs of 2 inputs (20 steps); completeness gap ≤ 5% for", output);
        Assert.Equal(2, File.ReadAllLines(tiny.File("explained/explanations.jsonl")).Length);
        Assert.True(File.Exists(tiny.File("explained/explanations.html")));

        (code, _, error) = Run("explain", "--model", model, "--input", input, "--text-column", "review", "--target-label", "neutral", "--output", tiny.File("x"));
        Assert.Equal(2, code);
        Assert.Equal("error: --target-label: unknown label 'neutral'; the model's labels are: neg, pos", error.Trim());
        (code, _, error) = Run("explain", "--model", model, "--input", input, "--text-column", "review", "--steps", "0", "--output", tiny.File("x"));
        Assert.Equal(2, code);
        Assert.Contains("--steps: must be at least 1, got 0", error);
        (code, _, error) = Run("explain", "--model", TinyModelFolder.Shared, "--input", input, "--text-column", "review", "--output", tiny.File("x"));
        Assert.Equal(2, code);
        Assert.Contains("encoder without a task head", error);
    }

    [Fact]
    public void AnalyzeReportsLeakageAndWritesItsFiles()
    {
        var train = tiny.File("a-train.csv");
        var test = tiny.File("a-test.csv");
        File.WriteAllLines(train, ["text,label", "a good movie,pos", "A  good movie,pos", "terrible,neg", "so so,pos", "so so,neg"]);
        File.WriteAllLines(test, ["text,label", "a GOOD movie,pos", "never seen before,neg"]);
        var (code, output, error) = Run("analyze", "--data", train, "--test", test, "--output", tiny.File("analysis"));
        Assert.True(code == 0, error);
        Assert.Contains("exact duplicates within train: 2 groups, 4 examples (80%)", output);
        Assert.Contains("exact duplicates across splits: 1 test examples (50% of test) also in train", output);
        Assert.Contains("identical texts with conflicting labels: 1 texts, 2 examples", output);
        var json = JsonNode.Parse(File.ReadAllText(tiny.File("analysis/analysis.json")))!;
        Assert.Equal(3.0 / 2.0, json["imbalance_ratio"]!.GetValue<double>());   // 3 pos, 2 neg in train
        Assert.Contains("Data report", File.ReadAllText(tiny.File("analysis/analysis.html")));

        (code, _, error) = Run("analyze", "--task", "qa", "--data", train);
        Assert.Equal(2, code);
        Assert.StartsWith("error: --task: the data report reads texts with labels", error.Trim());
        (code, _, error) = Run("analyze", "--data", train, "--near-duplicate-threshold", "1.5");
        Assert.Equal(2, code);
        Assert.Contains("--near-duplicate-threshold: must be in (0, 1], got 1.5", error);
    }

    [Fact]
    public void ASliceColumnThatDoesNotExistOrATaskWithoutColumnsIsOneClearLine()
    {
        var model = tiny.SequenceModel("classification", ["neg", "pos"]);
        var data = tiny.File("slices.csv");
        File.WriteAllLines(data, ["text,label", "a good movie,pos", "terrible,neg"]);
        var (code, _, error) = Run("evaluate", "--model", model, "--data", data, "--slice-column", "genre");
        Assert.Equal(2, code);
        Assert.Contains("column 'genre': no such column to slice by (--slice-column); the file's columns are: text, label", error);
        var conll = Path.Combine(TestSupport.SharedData, "conll2003", "eng.testa");
        (code, _, error) = Run("train", "--task", "ner", "--model", TinyModelFolder.Shared, "--data", conll, "--slice-column", "length", "--output", tiny.File("ner"));
        Assert.Equal(2, code);
        Assert.StartsWith("error: --slice-column: metrics per slice are reported for the tasks whose data are rows of columns (classification, multi-label, regression), not for token-classification", error.Trim());
    }
}
