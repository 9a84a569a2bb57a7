using System.Text.Json.Nodes;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Inference;
using FineTune.Tasks;
using FineTune.Tests.Ner;
using FineTune.Training;
using static TorchSharp.torch;

namespace FineTune.Tests.Qa;

/// <summary>Small SQuAD files cut from XQuAD, written as SQuAD JSON so that answer_start stays as published.</summary>
internal static class XquadSlices
{
    /// <summary>Article <paramref name="article"/> of XQuAD-en (its first <paramref name="paragraphs"/> paragraphs) as a new SQuAD JSON file.</summary>
    public static string Article(int article, int paragraphs, string destination)
    {
        var root = JsonNode.Parse(File.ReadAllText(DataFiles.XquadEn))!;
        var chosen = root["data"]![article]!.DeepClone();
        var kept = new JsonArray(chosen["paragraphs"]!.AsArray().Take(paragraphs).Select(p => p!.DeepClone()).ToArray());
        chosen["paragraphs"] = kept;
        File.WriteAllText(destination, new JsonObject { ["version"] = "1.1", ["data"] = new JsonArray(chosen) }.ToJsonString());
        return destination;
    }
}

/// <summary>Evaluating an extractive-QA model on a file of questions with reference answers, through the library.</summary>
public class AnswerEvaluationTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    [Fact]
    public void ScoresXquadQuestionsAsTheRunsEvaluatorDoesWithTheTrainedWindowLength()
    {
        using var dir = new TestSupport.TempDir();
        var file = XquadSlices.Article(1, 5, dir.File("warsaw.json"));
        var folder = tiny.AnswerModel(trainedMaxLength: 96);
        using var predictor = AnswerPredictor.Load(folder, new AnswerPredictorOptions { DocStride = 32, BatchSize = 7 });
        Assert.Equal(96, predictor.MaxLength);
        var result = predictor.Evaluate(file);

        var questions = SquadReader.Read(file).Examples;
        Assert.Equal(23, questions.Count);
        Assert.Equal(questions.Select(q => q.Id), result.Examples.Select(q => q.Id));
        Assert.Equal(Enumerable.Range(0, 23), result.Predictions.Select(p => p.ExampleIndex));
        Assert.Equal((96, 32), (result.MaxLength, result.DocStride));
        Assert.True(result.MultiWindow > 10, $"{result.MultiWindow} questions with several windows");
        Assert.All(result.Predictions, p => Assert.Equal(questions[p.ExampleIndex].Context[p.Answer.StartChar..p.Answer.EndChar], p.Answer.Text));
        Assert.Equal(100 * result.Predictions.Average(p => p.F1), result.Metrics["f1"], 9);
        Assert.Equal(100 * result.Predictions.Average(p => p.ExactMatch), result.Metrics["exact_match"], 9);
        Assert.Equal(23, result.Squad.Questions);
        Assert.Equal(0, result.Skipped.Count);

        // The same numbers as the evaluator of a training run over the same windows.
        var (features, multi) = QuestionAnsweringFeatures.Build(questions, tiny.Tokenizer, 96, 32);
        Assert.Equal((features.Count, multi), (result.Windows, result.MultiWindow));
        var (model, _) = TestSupport.Load(folder, "question-answering");
        using var _m = model;
        var run = new QuestionAnsweringEvaluator(questions, new AnswerDecoder(), 64, tiny.Tokenizer.PaddingTokenId).Run(model, features, CPU, keepPredictions: true);
        foreach (var (k, v) in run.Metrics) Assert.Equal(v, result.Metrics[k], 5);
        Assert.Equal(run.Predictions!.Select(p => p.Answer.Text), result.Predictions.Select(p => p.Answer.Text));

        // Without finetune.json the window is 384 tokens; --max-length overrides either.
        using var plain = AnswerPredictor.Load(tiny.AnswerModel());
        Assert.Equal(384, plain.MaxLength);
        using var given = AnswerPredictor.Load(folder, new AnswerPredictorOptions { MaxLength = 160, DocStride = 64 });
        Assert.Equal(160, given.Evaluate(file).MaxLength);
    }

    [Fact]
    public void AMismatchedAnswerIsAnErrorOrSkippedAndCounted()
    {
        using var dir = new TestSupport.TempDir();
        var file = dir.File("qa.jsonl");
        File.WriteAllLines(file,
        [
            """{"id": "a", "question": "Who wrote it?", "context": "Ada Lovelace wrote it in 1843.", "answers": {"text": ["Ada Lovelace"], "answer_start": [0]}}""",
            """{"id": "b", "question": "When?", "context": "Ada Lovelace wrote it in 1843.", "answers": {"text": ["1843"], "answer_start": [3]}}""",
            """{"id": "c", "question": "What did she do?", "context": "Ada Lovelace wrote it in 1843.", "answers": {"text": ["wrote"], "answer_start": [13]}}""",
        ]);
        using var predictor = AnswerPredictor.Load(tiny.AnswerModel(trainedMaxLength: 96), new AnswerPredictorOptions { DocStride = 32 });
        var e = Assert.Throws<DataException>(() => predictor.Evaluate(file));
        Assert.StartsWith($"{file}:2: column 'answers': question 'b': answer 1 '1843' does not match the context at answer_start 3", e.Message);

        var result = predictor.Evaluate(file, skipInvalidRows: true);
        Assert.Equal(1, result.Skipped.Count);
        Assert.Contains("question 'b'", Assert.Single(result.Skipped.FirstReasons));
        Assert.Equal(["a", "c"], result.Examples.Select(x => x.Id));
        Assert.Equal(2, result.Squad.Questions);
    }

    [Fact]
    public void AStrideThatDoesNotFitTheWindowIsAClearError()
    {
        var e = Assert.Throws<OptionException>(() => AnswerPredictor.Load(tiny.AnswerModel(trainedMaxLength: 96)));
        Assert.Equal("QuestionAnsweringOptions.DocStride: 128: must be at least 0 and less than the 96 tokens of a window (AnswerPredictorOptions.MaxLength)", e.Message);
    }
}
