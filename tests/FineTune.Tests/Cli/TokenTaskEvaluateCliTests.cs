using System.Text.Json;
using FineTune.Tests.Ner;
using FineTune.Tests.Qa;

namespace FineTune.Tests.Cli;

/// <summary>`finetune evaluate` on NER and QA models: the task comes from the model, and a run's test file scores as in the run.</summary>
[Collection("Console")]
public class TokenTaskEvaluateCliTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    private static Dictionary<string, double> TestMetrics(string metricsJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(metricsJson));
        return doc.RootElement.GetProperty("test").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
    }

    [Fact]
    public void NerEvaluateScoresARunsTestFileAsTheRunDid()
    {
        using var dir = new TestSupport.TempDir();
        var train = Slices.Conll(DataFiles.ConllTrain, 120, dir.File("train.conll"));
        var test = Slices.Conll(DataFiles.ConllTestB, 40, dir.File("testb.conll"));
        var run = dir.File("run");
        var (code, _, error) = CliTests.Run("train", "--task", "ner", "--model", tiny.Path, "--data", train, "--test", test, "--epochs", "1",
            "--learning-rate", "1e-3", "--max-length", "24", "--save-strategy", "no", "--threads", "2", "--output", run);
        Assert.True(code == 0, error);

        (code, var output, error) = CliTests.Run("evaluate", "--model", Path.Combine(run, "model"), "--data", test, "--threads", "2", "--output", dir.File("eval"));
        Assert.True(code == 0, error);
        Assert.Contains($"40 sentences (", output);
        Assert.Contains("tags read as IOB1 (detected), scored as IOB2", output);
        Assert.Contains("are longer than 24 tokens and were truncated", output);
        Assert.Contains("per entity type:", output);
        Assert.Contains("  PER ", output);
        Assert.DoesNotContain("PER_f1", output);
        var expected = TestMetrics(Path.Combine(run, "metrics.json"));
        var actual = TestMetrics(dir.File("eval/metrics.json"));
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (k, v) in expected) Assert.Equal(v, actual[k], 9);
        Assert.Equal(File.ReadAllText(Path.Combine(run, "predictions-test.csv")), File.ReadAllText(dir.File("eval/predictions.csv")));
    }

    [Fact]
    public void QaEvaluateScoresARunsTestFileAsTheRunDid()
    {
        using var dir = new TestSupport.TempDir();
        var train = XquadSlices.Article(0, 2, dir.File("train.json"));
        var test = XquadSlices.Article(1, 3, dir.File("test.json"));
        var run = dir.File("run");
        var (code, _, error) = CliTests.Run("train", "--task", "qa", "--model", tiny.Path, "--data", train, "--test", test, "--epochs", "1",
            "--learning-rate", "1e-3", "--max-length", "128", "--doc-stride", "48", "--save-strategy", "no", "--threads", "2", "--output", run);
        Assert.True(code == 0, error);

        (code, var output, error) = CliTests.Run("evaluate", "--model", Path.Combine(run, "model"), "--data", test, "--doc-stride", "48", "--threads", "2", "--output", dir.File("eval"));
        Assert.True(code == 0, error);
        Assert.Contains("15 questions from", output);
        Assert.Contains("windows of up to 128 tokens", output);
        Assert.Contains("exact_match", output);
        var expected = TestMetrics(Path.Combine(run, "metrics.json"));
        var actual = TestMetrics(dir.File("eval/metrics.json"));
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (k, v) in expected) Assert.Equal(v, actual[k], 9);
        Assert.Equal(File.ReadAllText(Path.Combine(run, "predictions-test.csv")), File.ReadAllText(dir.File("eval/predictions.csv")));
        Assert.Equal(File.ReadAllText(Path.Combine(run, "predictions-test.json")), File.ReadAllText(dir.File("eval/predictions.json")));
    }

    [Fact]
    public void AnUnknownTagIsOneLineNamingFileAndLineAndSkipInvalidRowsReportsTheSkippedSentences()
    {
        using var dir = new TestSupport.TempDir();
        var model = tiny.ConstantTagger(["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], "B-PER");
        var file = dir.File("test.conll");
        File.WriteAllText(file, "Peter B-PER\nvisits O\n\nthe O\nEU B-ORG\n\nParis B-LOC\nnow O x\n\nBob B-PER\n");
        var (code, _, error) = CliTests.Run("evaluate", "--model", model, "--data", file);
        Assert.Equal(2, code);
        Assert.Equal($"error: {file}:8: the line has 3 columns, but the file's first word line has 2", error.Trim());

        (code, var output, error) = CliTests.Run("evaluate", "--model", model, "--data", file, "--skip-invalid-rows", "--output", dir.File("eval"));
        Assert.True(code == 0, error);
        Assert.Contains("2 sentences (3 words)", output);
        Assert.Contains("2 invalid sentences skipped (--skip-invalid-rows), for example:", output);
        Assert.Contains($"  {file}:5: word 2 ('EU') has tag 'B-ORG', which the model's labels don't include", output);
        Assert.Contains($"  {file}:8: the line has 3 columns", output);
        // Peter and Bob are right among three one-word predictions; gold has two entities.
        var metrics = TestMetrics(dir.File("eval/metrics.json"));
        Assert.Equal((2.0 / 3, 1.0), (metrics["precision"], metrics["recall"]));
        Assert.Equal(4, File.ReadAllLines(dir.File("eval/predictions.csv")).Length);

        File.WriteAllText(file, "Peter B-PER\n\nthe O\nEU B-ORG\n");
        (code, _, error) = CliTests.Run("evaluate", "--model", model, "--data", file);
        Assert.Equal(2, code);
        Assert.Equal($"error: {file}:4: word 2 ('EU') has tag 'B-ORG', which the model's labels don't include (O, B-LOC, I-LOC, B-PER, I-PER)", error.Trim());
        (code, _, error) = CliTests.Run("evaluate", "--model", model, "--data", file, "--tag-scheme", "bilou");
        Assert.Equal(2, code);
        Assert.StartsWith("error: --tag-scheme: Unknown tag scheme 'bilou'", error.Trim());
    }
}
