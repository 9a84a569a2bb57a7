using System.CommandLine;
using FineTune.Inference;
using FineTune.Training;

namespace FineTune.Cli.Commands;

/// <summary>`finetune predict`: run a fine-tuned model over a file and write its predictions.</summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var tokenTasks = new TokenTaskOptions();
        var model = new Option<string>("--model", "-m") { Description = "The model folder of a run (DIR/model).", Required = true };
        var input = new Option<string>("--input", "-i") { Description = "The file to predict on: CSV, TSV, JSONL or Parquet; for NER also .txt (one text per line); for QA also SQuAD JSON.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the predictions: JSONL, or CSV when the name ends in .csv.", Required = true };
        var questionColumn = new Option<string>("--question-column") { Description = "QA: the column with the question.", DefaultValueFactory = _ => "question" };
        var contextColumn = new Option<string>("--context-column") { Description = "QA: the column with the context the answer is taken from.", DefaultValueFactory = _ => "context" };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per model input (NER default: what the model takes, longer texts are cut at word boundaries; QA default: 384 per window)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Model inputs per forward pass.", DefaultValueFactory = _ => 32 };
        var precision = new Option<string>("--precision") { Description = "fp32, or bf16 (faster on CPUs with AMX).", DefaultValueFactory = _ => "fp32" };
        var device = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N with a CUDA build of libtorch.", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch (default: one per processor)." };

        var command = new Command("predict", """
            Predict with a fine-tuned model.
            NER: finetune predict --model runs/conll/model --input texts.txt --output entities.jsonl
                 (each text's entities: type, text, start and end character offsets, score)
            QA:  finetune predict --model runs/squad/model --input questions.jsonl --output answers.jsonl
                 (question and context columns in; answer text, offsets and score out)
            """);
        foreach (var o in new Option[] { model, input, output, data.TextColumn, questionColumn, contextColumn, data.Format, data.Columns, data.Quoting,
                     maxLength, batchSize, precision, device, threads })
            command.Options.Add(o);
        foreach (var o in tokenTasks.Answering) command.Options.Add(o);

        command.SetAction(p =>
        {
            var folder = p.GetValue(model)!;
            var task = File.Exists(Path.Combine(folder, "config.json")) ? ModelTask.Detect(folder) : null;
            if (!PredictTokenTasks.Handles(task))
                throw new FineTuneException($"--model {folder}: predict handles token-classification and question-answering models (a run's model/ folder); this one is {(task is null ? "not a fine-tuned model" : "a " + task + " model")}");
            var io = new TokenTaskPredictInput(p.GetValue(input)!, p.GetValue(output)!, data.FileOptions(p), p.GetValue(data.TextColumn)!,
                p.GetValue(questionColumn)!, p.GetValue(contextColumn)!);
            var run = (Device: p.GetValue(device)!, Threads: p.GetValue(threads), Batch: p.GetValue(batchSize),
                Precision: TrainCommand.ParseEnum<Precision>(p.GetValue(precision)!, "--precision"));
            if (task == Configuration.TaskKind.TokenClassification)
                return PredictTokenTasks.PredictEntities(folder, io, new EntityPredictorOptions
                {
                    Device = run.Device, Threads = run.Threads, BatchSize = run.Batch, Precision = run.Precision, MaxLength = p.GetValue(maxLength),
                });
            var qa = tokenTasks.QuestionAnswering(p, p.GetValue(maxLength));
            return PredictTokenTasks.PredictAnswers(folder, io, new AnswerPredictorOptions
            {
                Device = run.Device, Threads = run.Threads, BatchSize = run.Batch, Precision = run.Precision,
                MaxLength = qa.MaxLength, DocStride = qa.DocStride, NBest = qa.NBest, MaxAnswerLength = qa.MaxAnswerLength,
            });
        });
        return command;
    }
}
