using System.Text.Json.Nodes;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Tasks;
using FineTune.Training;

namespace FineTune.Tests.EndToEnd;

/// <summary>Temperature scaling fitted in a run and applied where the saved model predicts; metrics per slice.</summary>
[Collection(SeededTestsCollection.Name)]
public class CalibrationAndSlicesTests
{
    private static string SmsTrain => Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv");
    private static string SmsTest => Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "test.csv");

    private static FineTuneRequest Request(string output, DatasetFiles files, DatasetOptions? dataset = null, TaskOptions? options = null) => new()
    {
        Model = TinyModelFolder.Shared,
        Data = files,
        Dataset = dataset ?? new DatasetOptions { ValidationFraction = 0.2, MaxTrainExamples = 200 },
        Training = new TrainingOptions { Epochs = 1, BatchSize = 16, MaxLength = 32, LearningRate = 1e-3, SaveStrategy = IntervalKind.No },
        TaskOptions = options,
        OutputDirectory = output,
    };

    [Fact]
    public void CalibrateFitsATemperatureOnValidationThatEvaluateAndPredictApply()
    {
        using var dir = new TestSupport.TempDir();
        var messages = new List<string>();
        var result = FineTuner.Train(Request(dir.File("run"), new DatasetFiles(SmsTrain, null, SmsTest), options: new ClassificationOptions { Calibrate = true })
            with { Info = messages.Add });
        Assert.Contains(messages, m => m.StartsWith("Temperature scaling on 600 validation examples: T = ", StringComparison.Ordinal));
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(result.OutputDirectory, "metrics.json")))!;
        double t = metrics["temperature"]!.GetValue<double>();
        Assert.True(t > 0 && t != 1);
        var finetune = JsonNode.Parse(File.ReadAllText(Path.Combine(result.ModelDirectory, "finetune.json")))!;
        Assert.Equal(t, finetune["temperature"]!.GetValue<double>());
        foreach (var split in new[] { "validation", "test" })
        {
            Assert.NotNull(metrics[split]!["ece"]);
            Assert.NotNull(metrics[split]!["ece_uncalibrated"]);
        }
        // Fitted on validation to minimise its NLL, the temperature lowers the validation loss of the probabilities; the
        // ECE it reports is the one evaluate reproduces on the test file with the saved model.
        var evaluation = FineTuner.Evaluate(new EvaluateRequest { Model = result.ModelDirectory, Data = SmsTest, Dataset = new DatasetOptions() });
        Assert.Equal(metrics["test"]!["ece"]!.GetValue<double>(), evaluation.AllMetrics["ece"], 6);
        Assert.Equal(metrics["test"]!["ece_uncalibrated"]!.GetValue<double>(), evaluation.AllMetrics["ece_uncalibrated"], 6);

        // Prediction applies it: the same weights without the temperature give p; with it, softmax(log p / T).
        var plain = dir.File("plain");
        Directory.CreateDirectory(plain);
        foreach (var file in Directory.GetFiles(result.ModelDirectory)) File.Copy(file, Path.Combine(plain, Path.GetFileName(file)));
        finetune.AsObject().Remove("temperature");
        File.WriteAllText(Path.Combine(plain, "finetune.json"), finetune.ToJsonString());
        using var calibrated = TextClassifier.Load(result.ModelDirectory);
        using var uncalibrated = TextClassifier.Load(plain);
        Assert.Equal(t, calibrated.Temperature);
        Assert.Equal(1, uncalibrated.Temperature);
        string[] texts = ["WINNER! claim your free prize now", "are we still on for lunch?"];
        foreach (var text in texts)
        {
            var p = uncalibrated.Predict(text).Probabilities!;
            var q = calibrated.Predict(text).Probabilities!;
            var scaled = p.ToDictionary(kv => kv.Key, kv => Math.Exp(Math.Log(kv.Value) / t));
            double sum = scaled.Values.Sum();
            foreach (var (label, value) in scaled)
                Assert.True(Math.Abs(value / sum - q[label]) < 1e-5, $"{label}: {value / sum} vs {q[label]}");
        }
    }

    [Fact]
    public void CalibrateWithoutValidationDataIsAClearError()
    {
        using var dir = new TestSupport.TempDir();
        var error = Assert.Throws<OptionException>(() => FineTuner.Train(Request(dir.File("run"), new DatasetFiles(SmsTrain),
            new DatasetOptions { MaxTrainExamples = 50 }, new ClassificationOptions { Calibrate = true })));
        Assert.Equal("ClassificationOptions.Calibrate", error.Option);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void SlicesByAColumnAndByLengthNameTheWorstSlice()
    {
        using var dir = new TestSupport.TempDir();
        // The test messages with a source column: three made-up sources, one of them only spam-free short texts.
        var rows = File.ReadAllLines(SmsTest).Skip(1).Take(120).ToList();
        var test = dir.File("test.csv");
        File.WriteAllLines(test, rows.Select((r, i) => $"{(i % 3 == 0 ? "web" : i % 3 == 1 ? "app" : "sms")},{r}").Prepend("source,label,text"));
        var result = FineTuner.Train(Request(dir.File("run"), new DatasetFiles(SmsTrain, null, test),
            new DatasetOptions { MaxTrainExamples = 200, SliceColumn = "source" }));
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(result.OutputDirectory, "metrics.json")))!;
        var slices = metrics["slices"]!["test"]!;
        Assert.Equal("source", slices["column"]!.GetValue<string>());
        Assert.Equal("accuracy", slices["metric"]!.GetValue<string>());
        var list = slices["slices"]!.AsArray();
        Assert.Equal(["app", "sms", "web"], list.Select(s => s!["name"]!.GetValue<string>()));
        Assert.All(list, s => Assert.Equal(40, s!["count"]!.GetValue<long>()));
        // Each slice's accuracy is that of its rows in predictions-test.csv.
        var predictions = File.ReadAllLines(Path.Combine(result.OutputDirectory, "predictions-test.csv")).Skip(1)
            .Select(l => Csv.Parse(l)).ToList();
        foreach (var s in list)
        {
            var name = s!["name"]!.GetValue<string>();
            var mine = predictions.Where((_, i) => (i % 3 == 0 ? "web" : i % 3 == 1 ? "app" : "sms") == name).ToList();
            Assert.Equal(mine.Count(p => p[2] == p[3]) / 40.0, s["metrics"]!["accuracy"]!.GetValue<double>(), 12);
        }
        var worst = slices["worst"]!.GetValue<string>();
        Assert.Equal(list.MinBy(s => s!["metrics"]!["accuracy"]!.GetValue<double>())!["name"]!.GetValue<string>(), worst);
        var report = File.ReadAllText(Path.Combine(result.OutputDirectory, "report.html"));
        Assert.Contains("Slices of test by <code>source</code>", report);
        Assert.Contains("worst slice", report);
        Assert.True(File.Exists(Path.Combine(result.OutputDirectory, "plots", "reliability.png")));

        // Evaluate slices by token length; a column the file lacks is an error naming the file and the column.
        var evaluated = FineTuner.Evaluate(new EvaluateRequest
        {
            Model = result.ModelDirectory, Data = test, OutputDirectory = dir.File("eval"),
            Dataset = new DatasetOptions { SliceColumn = "length" },
        });
        var lengths = JsonNode.Parse(File.ReadAllText(dir.File("eval/metrics.json")))!["slices"]!["test"]!["slices"]!.AsArray();
        Assert.Equal(120, lengths.Sum(s => s!["count"]!.GetValue<long>()));
        Assert.All(lengths, s => Assert.EndsWith(" tokens", s!["name"]!.GetValue<string>()));
        var missing = Assert.Throws<DataException>(() => FineTuner.Evaluate(new EvaluateRequest
        {
            Model = result.ModelDirectory, Data = test, Dataset = new DatasetOptions { SliceColumn = "channel" },
        }));
        Assert.Equal(test, missing.FilePath);
        Assert.Equal("channel", missing.Column);
        Assert.Contains("the file's columns are: source, label, text", missing.Message);
    }
}

/// <summary>A minimal CSV line splitter for the tests' own predictions files (quotes doubled inside quoted fields).</summary>
internal static class Csv
{
    public static List<string> Parse(string line)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cell.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { cells.Add(cell.ToString()); cell.Clear(); }
            else cell.Append(c);
        }
        cells.Add(cell.ToString());
        return cells;
    }
}
