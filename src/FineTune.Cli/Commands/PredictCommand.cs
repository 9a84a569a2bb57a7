using System.CommandLine;

namespace FineTune.Cli.Commands;

/// <summary>`finetune predict`: the predictions of a fine-tuned model for every row of a file.</summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var taskOptions = new TaskOptionFlags(prediction: true);
        var saved = new SavedModelOptions();
        var model = new Option<string>("--model", "-m") { Description = "The fine-tuned model folder (RUN/model), or an export folder (finetune export; runs on ONNX Runtime).", Required = true }.NotEmpty();
        var input = new Option<string>("--input", "-i") { Description = "Texts to predict: CSV, TSV, JSONL, Parquet, or .txt with one text per line; QA: also SQuAD JSON.", Required = true }.NotEmpty();
        var output = new Option<string>("--output", "-o") { Description = "Where to write the predictions: .csv or .jsonl.", Required = true }.NotEmpty();
        FlagNames.Register("PredictRequest.Output", "--output");
        var command = new Command("predict", """
            Predict with a fine-tuned model, for every row of a file.
            Classification and regression: labels and probabilities, or values; similarity: the cosine of each pair.
              finetune predict --model runs/spam/model --input new-messages.csv --text-column text --output predictions.csv
            NER: each text's entities (type, text, start and end character offsets, score).
              finetune predict --model runs/conll/model --input texts.txt --output entities.jsonl
            QA: question and context columns in; answer text, offsets and score out.
              finetune predict --model runs/squad/model --input questions.jsonl --output answers.jsonl
            """) { model, input, output };
        foreach (var o in saved.All) command.Options.Add(o);
        foreach (var o in new Option[] { data.Format, data.Columns, data.Quoting, data.Encoding, data.ReplaceInvalidUtf8, data.TextColumn, data.TextPairColumn }) command.Options.Add(o);
        foreach (var o in taskOptions.Options) command.Options.Add(o);
        command.SetAction(p =>
        {
            var folder = p.GetValue(model)!;
            var request = saved.Apply(p, new PredictRequest
            {
                Model = folder,
                Input = p.GetValue(input)!,
                Output = p.GetValue(output)!,
                Columns = new Data.ColumnMapping { Text = p.GetValue(data.TextColumn)!, TextPair = p.GetValue(data.TextPairColumn) },
                File = data.FileOptions(p),
                TaskOptions = taskOptions.Bind(p, FineTuner.DetectTask(folder)),
                Info = m => Console.WriteLine(FlagNames.InFlags(m)),
            });
            Console.WriteLine(FineTuner.Predict(request).Summary);
            return 0;
        });
        return command;
    }
}
