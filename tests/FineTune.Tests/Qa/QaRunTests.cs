using System.Text.Json;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;
using FineTune.Tasks;
using FineTune.Tests.Ner;
using FineTune.Training;
using static TorchSharp.torch;

namespace FineTune.Tests.Qa;

/// <summary>Extractive QA end to end on XQuAD (split by article) with a tiny model: seconds, not minutes.</summary>
public class QaRunTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    private FineTuneRequest Request(string train, string output, double validationSplit = 0, double testSplit = 0, string? test = null) => new()
    {
        Model = tiny.Path,
        Data = new DatasetFiles(train, null, test),
        Task = "question-answering",
        Dataset = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "question" },
            ValidationFraction = validationSplit,
            TestFraction = testSplit,
            MaxTrainExamples = 200,
        },
        Training = new TrainingOptions { Epochs = 1, BatchSize = 16, EvalBatchSize = 32, LearningRate = 1e-3, SaveStrategy = IntervalKind.No, MaxLength = 192 },
        TaskOptions = new QuestionAnsweringOptions { DocStride = 64 },
        OutputDirectory = output,
        Threads = 2,
    };

    [Fact]
    public void TrainsOnSomeArticlesAndAnswersQuestionsOnOthers()
    {
        using var dir = new TestSupport.TempDir();
        var output = dir.File("run");
        var messages = new List<string>();
        var result = FineTuner.Train(Request(DataFiles.XquadEn, output, validationSplit: 0.1, testSplit: 0.2) with { Info = messages.Add });

        var all = SquadReader.Read(DataFiles.XquadEn).Examples;
        var split = QaSplitter.ByTitle(all, 0.2, 0.1);
        Assert.Equal(200, result.Summary["train"]!.Count);
        Assert.Equal(split.Test.Count, result.Summary["test"]!.Count);
        Assert.Contains(messages, m => m.StartsWith($"test: {split.Test.Count} questions on {split.TestTitles} titles -> ", StringComparison.Ordinal));

        foreach (var file in new[] { "model/config.json", "model/model.safetensors", "model/tokenizer.json", "metrics.json", "predictions-test.csv", "predictions-test.json", "log.jsonl", "run.json" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        foreach (var s in new[] { "validation", "test" })
        {
            var m = metrics.RootElement.GetProperty(s);
            Assert.InRange(m.GetProperty("exact_match").GetDouble(), 0, 100);
            Assert.InRange(m.GetProperty("f1").GetDouble(), 0, 100);
            Assert.True(m.GetProperty("loss").GetDouble() > 0);
        }
        Assert.Equal("f1", metrics.RootElement.GetProperty("metric_for_best").GetString());

        // One row per held-out question; the predicted text is cut from the context at its offsets; the SQuAD json agrees.
        var rows = ReadCsv(Path.Combine(output, "predictions-test.csv"));
        Assert.Equal(["id", "title", "question", "prediction", "score", "start", "end", "answers", "exact_match", "f1"], rows[0]);
        Assert.Equal(split.Test.Count, rows.Count - 1);
        var byId = split.Test.ToDictionary(e => e.Id);
        var json = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(output, "predictions-test.json")))!;
        Assert.Equal(split.Test.Count, json.Count);
        double f1Sum = 0;
        foreach (var row in rows.Skip(1))
        {
            var e = byId[row[0]];
            Assert.Equal(e.Question, row[2]);
            if (row[5].Length > 0) Assert.Equal(e.Context[int.Parse(row[5])..int.Parse(row[6])], row[3]);
            Assert.Equal(string.Join(" | ", e.Answers.Select(a => a.Text)), row[7]);
            Assert.Equal(json[row[0]], row[3]);
            f1Sum += double.Parse(row[9], System.Globalization.CultureInfo.InvariantCulture);
        }
        // Each row's F1 is written with 4 decimals, so their mean (in points) is within 100 × 0.00005 of the metric.
        Assert.InRange(100 * f1Sum / split.Test.Count - result.Test!["f1"], -0.005 - 1e-9, 0.005 + 1e-9);

        var config = ModelFamilies.LoadConfig(Path.Combine(result.ModelDirectory, "config.json"));
        Assert.Equal(["BertForQuestionAnswering"], config.Architectures);
        Assert.Equal("question-answering", FineTuner.DetectTask(result.ModelDirectory));
        Assert.Equal("question-answering", RunFiles.ReadRecord(output).Task);

        using var predictor = AnswerPredictor.Load(result.ModelDirectory, new AnswerPredictorOptions { MaxLength = 64, DocStride = 16 });
        var example = split.Test[0];
        var answer = predictor.Predict(example.Question, example.Context);
        Assert.False(answer.IsEmpty);
        Assert.Equal(example.Context[answer.Start..answer.End], answer.Text);
        Assert.InRange(answer.Score, 0, 1);
        var batch = predictor.Predict(split.Test.Take(5).Select(x => (x.Question, x.Context)).ToList());
        Assert.Equal(answer, batch[0]);
    }

    [Fact]
    public void EvaluationDecodesOverAllWindowsAndAccumulatesOverTheWholeSet()
    {
        var examples = SquadReader.Read(DataFiles.XquadEn).Examples.Take(40).ToList();
        var (features, multi) = QuestionAnsweringFeatures.Build(examples, tiny.Tokenizer, 96, 32);
        Assert.True(multi > 20);
        var (model, _) = TestSupport.Load(tiny.Path, "question-answering");
        using var _m = model;
        var decoder = new AnswerDecoder();
        var small = new QuestionAnsweringEvaluator(examples, decoder, 3, 0).Run(model, features, CPU, keepPredictions: true);
        var whole = new QuestionAnsweringEvaluator(examples, decoder, 64, 0).Run(model, features, CPU, keepPredictions: true);
        foreach (var (k, v) in whole.Metrics) Assert.Equal(v, small.Metrics[k], 4);
        Assert.Equal(examples.Count, small.Squad.Questions);
        Assert.Equal(Enumerable.Range(0, examples.Count), small.Predictions!.Select(p => p.ExampleIndex));
        Assert.All(small.Predictions!, p => Assert.Equal(examples[p.ExampleIndex].Context[p.Answer.StartChar..p.Answer.EndChar], p.Answer.Text));
        // Every question's answer comes from one of its own windows; some come from a later window than the first.
        Assert.Contains(small.Predictions!, p => p.Answer.Window > 0);
        Assert.Equal(100 * small.Predictions!.Average(p => p.F1), small.Metrics["f1"], 6);
    }

    [Fact]
    public void AnAnswerStartThatDoesNotMatchStopsTheRunNamingFileAndLine()
    {
        using var dir = new TestSupport.TempDir();
        var train = dir.File("qa.jsonl");
        File.WriteAllLines(train,
        [
            """{"id": "a", "question": "Who?", "context": "Ada Lovelace wrote it.", "answers": {"text": ["Ada Lovelace"], "answer_start": [0]}}""",
            """{"id": "b", "question": "What?", "context": "Ada Lovelace wrote it.", "answers": {"text": ["wrote"], "answer_start": [12]}}""",
        ]);
        var e = Assert.Throws<DataException>(() => FineTuner.Train(Request(train, dir.File("run"))));
        Assert.Equal($"{train}:2: column 'answers': question 'b': answer 1 'wrote' does not match the context at answer_start 12 (the context there reads ' wrot')", e.Message);

        var squad = dir.File("squad.json");
        File.WriteAllText(squad, """{"data": [{"title": "T", "paragraphs": [{"context": "Ada Lovelace wrote it.", "qas": [{"id": "q9", "question": "Who?", "answers": [{"text": "Ada", "answer_start": 4}]}]}]}]}""");
        e = Assert.Throws<DataException>(() => FineTuner.Train(Request(squad, dir.File("run"))));
        Assert.StartsWith($"{squad}: question 'q9': answer 1 'Ada' does not match the context at answer_start 4", e.Message);
    }

    [Fact]
    public void BadWindowSettingsAreClearErrors()
    {
        using var dir = new TestSupport.TempDir();
        var request = Request(DataFiles.XquadEn, dir.File("run"), testSplit: 0.2);
        var e = Assert.Throws<OptionException>(() => FineTuner.Train(request with { Training = request.Training with { MaxLength = 128 }, TaskOptions = new QuestionAnsweringOptions { DocStride = 128 } }));
        Assert.Equal("QuestionAnsweringOptions.DocStride: 128: must be less than TrainingOptions.MaxLength 128", e.Message);
        e = Assert.Throws<OptionException>(() => FineTuner.Train(request with { TaskOptions = new QuestionAnsweringOptions { NBest = 0 } }));
        Assert.Equal("QuestionAnsweringOptions.NBest: must be at least 1, got 0", e.Message);
        e = Assert.Throws<OptionException>(() => FineTuner.Train(request with { Data = new DatasetFiles(DataFiles.XquadEn, null, DataFiles.XquadEn) }));
        Assert.Equal("DatasetOptions.TestFraction: a test file and a test fraction were both given; use one", e.Message);
    }

    /// <summary>A small RFC 4180 reader for the predictions file.</summary>
    private static List<string[]> ReadCsv(string path)
    {
        var rows = new List<string[]>();
        var text = File.ReadAllText(path);
        var row = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { row.Add(field.ToString()); field.Clear(); }
            else if (c is '\n' or '\r')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                row.Add(field.ToString());
                field.Clear();
                rows.Add(row.ToArray());
                row.Clear();
            }
            else field.Append(c);
        }
        return rows;
    }
}
