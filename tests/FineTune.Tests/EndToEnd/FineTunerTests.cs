using System.Text.Json.Nodes;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Tasks;
using FineTune.Training;
using nietras.SeparatedValues;

namespace FineTune.Tests.EndToEnd;

[Collection(SeededTestsCollection.Name)] // same seed, same model: nothing else may draw from torch's generator meanwhile
public class FineTunerTests
{
    private static string SmsTrain => Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv");
    private static string SmsTest => Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "test.csv");

    private static FineTuneRequest SmsRequest(string output, string model) => new()
    {
        Model = model,
        Data = new DatasetFiles(SmsTrain, null, SmsTest),
        Task = "classification",
        Dataset = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "text", Label = "label" },
            ValidationFraction = 0.1,
            MaxTrainExamples = 300,
        },
        Training = new TrainingOptions { Epochs = 1, BatchSize = 16, MaxLength = 48, LearningRate = 1e-3, SaveStrategy = IntervalKind.Epoch },
        OutputDirectory = output,
    };

    [Fact]
    public void ClassificationRunWritesACompleteRunFolderAndTheSavedModelPredictsTheSame()
    {
        using var dir = new TestSupport.TempDir();
        var messages = new List<string>();
        var result = FineTuner.Train(SmsRequest(dir.File("run"), TinyModelFolder.Shared) with { Info = messages.Add });

        foreach (var f in new[] { "model/config.json", "model/model.safetensors", "model/vocab.txt", "model/tokenizer_config.json", "model/finetune.json",
                     "metrics.json", "predictions-test.csv", "log.jsonl", "run.json" })
            Assert.True(File.Exists(Path.Combine(result.OutputDirectory, f)), f);
        Assert.Single(Directory.GetDirectories(Path.Combine(result.OutputDirectory, "checkpoints"), "checkpoint-*"));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(result.OutputDirectory, "tensorboard"), "*", SearchOption.AllDirectories));

        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(result.OutputDirectory, "metrics.json")))!;
        foreach (var split in new[] { "validation", "test" })
            foreach (var key in new[] { "accuracy", "f1_macro", "f1_micro", "f1_weighted", "mcc", "loss", "precision_macro", "recall_macro" })
                Assert.NotNull(metrics[split]![key]);
        Assert.Equal(300, result.Summary["validation"]!.Count); // 10% of the file
        Assert.Equal(300, result.Summary["train"]!.Count);      // the first 300 of the remaining rows
        Assert.Contains(messages, m => m.Contains("Newly initialised"));

        // predictions-test.csv: a header and one line per test message, with probabilities.
        var lines = File.ReadAllLines(Path.Combine(result.OutputDirectory, "predictions-test.csv"));
        Assert.Equal("row,text,label,predicted,p_ham,p_spam", lines[0]);
        var csvRows = Sep.Reader(o => o with { Unescape = true }).FromFile(Path.Combine(result.OutputDirectory, "predictions-test.csv")).Enumerate(r => (Text: r["text"].ToString(), Predicted: r["predicted"].ToString(), PHam: r["p_ham"].Parse<double>())).ToList();
        Assert.Equal(1000, csvRows.Count);

        // The saved model, loaded on its own, predicts what the run wrote.
        using var classifier = TextClassifier.Load(result.ModelDirectory);
        Assert.Equal(48, classifier.MaxLength);
        var predictions = classifier.Predict(csvRows.Take(50).Select(r => (r.Text, (string?)null)).ToList());
        for (int i = 0; i < predictions.Count; i++)
        {
            Assert.Equal(csvRows[i].Predicted, predictions[i].Label);
            Assert.True(Math.Abs(csvRows[i].PHam - predictions[i].Probabilities!["ham"]) < 1e-5, $"row {i}: {csvRows[i].PHam} vs {predictions[i].Probabilities!["ham"]}");
        }
    }

    [Fact]
    public void UnknownLabelInTheTestFileNamesFileAndRowBeforeAnyTraining()
    {
        using var dir = new TestSupport.TempDir();
        var test = dir.File("test.csv");
        File.WriteAllText(test, "label,text\nham,hello there\nmaybe,what is this\n");
        var request = SmsRequest(dir.File("run"), TinyModelFolder.Shared) with { Data = new DatasetFiles(SmsTrain, null, test) };
        var e = Assert.Throws<DataException>(() => FineTuner.Train(request));
        Assert.Contains($"{test}:3: column 'label': unknown label 'maybe'", e.Message);
        Assert.False(Directory.Exists(dir.File("run")), "nothing is written when the data is bad");
    }

    [Fact]
    public void RegressionRunOnStsbPairsReportsRegressionMetrics()
    {
        using var dir = new TestSupport.TempDir();
        var request = new FineTuneRequest
        {
            Model = TinyModelFolder.Shared,
            Data = new DatasetFiles(Path.Combine(TestSupport.SharedData, "stsb", "train.tsv"), Path.Combine(TestSupport.SharedData, "stsb", "dev.tsv")),
            Task = "regression",
            Dataset = new DatasetOptions
            {
                Columns = new ColumnMapping { Text = "sentence1", TextPair = "sentence2", Label = "score" },
                MaxTrainExamples = 128,
            },
            Training = new TrainingOptions { Epochs = 1, BatchSize = 32, MaxLength = 64, SaveStrategy = IntervalKind.No },
            OutputDirectory = dir.File("run"),
        };
        var result = FineTuner.Train(request);
        foreach (var key in new[] { "mse", "mae", "rmse", "r2", "pearson", "spearman", "loss" })
            Assert.True(result.Validation!.ContainsKey(key), key);
        Assert.Equal(1500, result.Summary["validation"]!.Count);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(result.ModelDirectory, "config.json")))!;
        Assert.Equal("regression", config["problem_type"]!.GetValue<string>());
        Assert.Equal("BertForSequenceClassification", config["architectures"]![0]!.GetValue<string>());
    }

    [Fact]
    public void MultiLabelRunOnGoEmotionsReportsMultiLabelMetrics()
    {
        using var dir = new TestSupport.TempDir();
        var request = new FineTuneRequest
        {
            Model = TinyModelFolder.Shared,
            Data = new DatasetFiles(Path.Combine(TestSupport.SharedData, "goemotions", "train.tsv"), null),
            Task = "multi-label",
            Dataset = new DatasetOptions
            {
                Columns = new ColumnMapping { Text = "text", Label = "labels" },
                DataFile = new DataFileOptions { HasHeader = false, ColumnNames = ["text", "labels", "id"], Quoting = true },
                ValidationFraction = 0.2,
                MaxTrainExamples = 200,
            },
            Training = new TrainingOptions { Epochs = 1, BatchSize = 32, MaxLength = 48, SaveStrategy = IntervalKind.No },
            OutputDirectory = dir.File("run"),
        };
        var result = FineTuner.Train(request);
        foreach (var key in new[] { "f1_micro", "f1_macro", "subset_accuracy", "hamming_loss", "loss" })
            Assert.True(result.Validation!.ContainsKey(key), key);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(result.ModelDirectory, "config.json")))!;
        Assert.Equal("multi_label_classification", config["problem_type"]!.GetValue<string>());
    }

    [Fact]
    public void ResumeContinuesFromACheckpoint()
    {
        using var dir = new TestSupport.TempDir();
        var request = SmsRequest(dir.File("run"), TinyModelFolder.Shared) with
        {
            Training = new TrainingOptions { Epochs = 2, BatchSize = 16, MaxLength = 32, SaveStrategy = IntervalKind.Epoch, SaveTotalLimit = 0 },
            Data = new DatasetFiles(SmsTrain),
        };
        var full = FineTuner.Train(request);
        // 300 examples in batches of 16: 19 steps per epoch; the first epoch's checkpoint.
        var checkpoint = Path.Combine(full.OutputDirectory, "checkpoints", "checkpoint-000019");
        Assert.True(Directory.Exists(checkpoint));
        Assert.Equal(38, full.State.GlobalStep);
        var resumed = FineTuner.Train(request with { OutputDirectory = dir.File("resumed"), ResumeFrom = checkpoint });
        Assert.Equal(full.State.GlobalStep, resumed.State.GlobalStep);
        Assert.Equal(full.Validation!["accuracy"], resumed.Validation!["accuracy"]);
        Assert.Equal(full.Validation!["loss"], resumed.Validation!["loss"], 6);
    }

    [Fact]
    public void TheSameSeedGivesTheSameModelAndAnotherSeedAnotherOne()
    {
        using var dir = new TestSupport.TempDir();
        var request = SmsRequest(dir.File("a"), TinyModelFolder.Shared) with
        {
            Training = new TrainingOptions { MaxSteps = 3, BatchSize = 16, MaxLength = 32, SaveStrategy = IntervalKind.No, EvalStrategy = IntervalKind.No },
            Data = new DatasetFiles(SmsTrain),
        };
        byte[] Weights(FineTuneResult r) => File.ReadAllBytes(Path.Combine(r.ModelDirectory, "model.safetensors"));
        var first = Weights(FineTuner.Train(request));
        var again = Weights(FineTuner.Train(request with { OutputDirectory = dir.File("b") }));
        var otherSeed = Weights(FineTuner.Train(request with
        {
            OutputDirectory = dir.File("c"),
            Training = request.Training with { Seed = request.Training.Seed + 1 },
        }));
        Assert.Equal(first, again);
        Assert.NotEqual(first, otherSeed);
    }
}
