using System.CommandLine;

namespace FineTune.Cli.Commands;

/// <summary>`finetune explain`: which words made a fine-tuned model predict what it predicts, for every row of a file.</summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var taskOptions = new TaskOptionFlags(prediction: true);
        var saved = new SavedModelOptions();
        var model = new Option<string>("--model", "-m") { Description = "The fine-tuned model folder (RUN/model).", Required = true };
        var input = new Option<string>("--input", "-i") { Description = "Texts to explain: CSV, TSV, JSONL, Parquet, or .txt with one text per line; QA: also SQuAD JSON.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "The folder to write explanations.jsonl and explanations.html to.", Required = true };
        var steps = new Option<int>("--steps") { Description = "Points on the path from the baseline to the input (more: closer to exact, slower).", DefaultValueFactory = _ => 50 };
        var target = new Option<string?>("--target-label") { Description = "Explain this label instead of the prediction: a class or label; NER: an entity type; QA: start or end." };
        var maxInputs = new Option<int?>("--max-inputs") { Description = "Explain only the first N inputs." };
        FlagNames.Register(("ExplainRequest.Steps", steps.Name), ("ExplainRequest.TargetLabel", target.Name), ("ExplainRequest.MaxInputs", maxInputs.Name),
            ("ExplainRequest.OutputDirectory", output.Name));
        var command = new Command("explain", """
            Explain a fine-tuned model's predictions: integrated gradients on the word embeddings, from a [PAD] baseline,
            summed into words. Writes explanations.jsonl (each word's attribution, the completeness gap) and explanations.html.
            Classification: the predicted class (or --target-label); multi-label: each predicted label; regression: the value;
            NER: each entity; QA: the answer's start and end.
              finetune explain --model runs/sst2/model --input dev.tsv --text-column sentence --output runs/sst2/explain
            """) { model, input, output, steps, target, maxInputs };
        foreach (var o in saved.All) command.Options.Add(o);
        foreach (var o in new Option[] { data.Format, data.Columns, data.Quoting, data.TextColumn, data.TextPairColumn }) command.Options.Add(o);
        foreach (var o in taskOptions.Options) command.Options.Add(o);
        command.SetAction(p =>
        {
            var folder = p.GetValue(model)!;
            var request = saved.Apply(p, new ExplainRequest
            {
                Model = folder,
                Input = p.GetValue(input)!,
                OutputDirectory = p.GetValue(output)!,
                Columns = data.Mapping(p) with { Label = null, LabelColumns = null },
                File = data.FileOptions(p),
                Steps = p.GetValue(steps),
                TargetLabel = p.GetValue(target),
                MaxInputs = p.GetValue(maxInputs),
                TaskOptions = taskOptions.Bind(p, FineTuner.DetectTask(folder)),
                Info = m => Console.WriteLine(FlagNames.InFlags(m)),
            });
            Console.WriteLine(FineTuner.Explain(request).Summary);
            return 0;
        });
        return command;
    }
}
