using System.CommandLine;
using FineTune.Data;

namespace FineTune.Cli.Commands;

/// <summary>`finetune analyze`: the data report of a dataset, before (or without) training on it.</summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var taskOptions = new TaskOptionFlags(prediction: false, analysis: true);
        var train = new Option<string>("--data", "--train") { Description = "The training file (CSV, TSV, JSONL or Parquet; NER: CoNLL columns or JSONL).", Required = true };
        var validation = new Option<string?>("--validation") { Description = "A validation file." };
        var test = new Option<string?>("--test") { Description = "A test file." };
        var task = new Option<string>("--task") { Description = "What the data is for (how it is read and what its labels are): classification, multi-label, regression or token-classification (ner).", DefaultValueFactory = _ => "classification" };
        var model = new Option<string>("--model", "-m") { Description = "The model whose tokenizer counts tokens.", DefaultValueFactory = _ => "all-MiniLM-L6-v2" };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per model input, to count what would be truncated (default: the task's)." };
        var validationSplit = new Option<double>("--validation-split") { Description = "Hold out this fraction of the training file for validation, as train would." };
        var testSplit = new Option<double>("--test-split") { Description = "Hold out this fraction of the training file for testing, as train would." };
        var seed = new Option<int>("--seed") { Description = "Seed of the held-out splits.", DefaultValueFactory = _ => 42 };
        var threshold = new Option<double>("--near-duplicate-threshold") { Description = "Jaccard similarity of character 5-grams from which two texts are near duplicates.", DefaultValueFactory = _ => 0.8 };
        var minCount = new Option<int>("--min-token-count") { Description = "A word must be in at least this many training examples to be a possible shortcut.", DefaultValueFactory = _ => 20 };
        var share = new Option<double>("--shortcut-share") { Description = "The share of a word's examples that must carry one label for it to be a possible shortcut.", DefaultValueFactory = _ => 0.9 };
        var output = new Option<string?>("--output", "-o") { Description = "A folder for analysis.json and analysis.html (optional)." };
        FlagNames.Register(("AnalyzeRequest.NearDuplicateThreshold", threshold.Name), ("AnalyzeRequest.MinTokenCount", minCount.Name),
            ("AnalyzeRequest.ShortcutShare", share.Name), ("AnalyzeRequest.Task", task.Name), ("FineTuneRequest.Task", task.Name),
            ("DatasetOptions.ValidationFraction", validationSplit.Name), ("DatasetOptions.TestFraction", testSplit.Name));
        var command = new Command("analyze", """
            Report on a dataset before training on it: label counts and imbalance, token lengths per label and truncation,
            exact and near duplicates within and across splits (train/test leakage), identical texts with conflicting labels,
            and words that predict a label almost alone (possible shortcuts).
              finetune analyze --data train.tsv --validation dev.tsv --text-column sentence --output runs/sst2-data
              finetune analyze --task ner --data eng.train --validation eng.testa --test eng.testb
            """) { train, validation, test, task, model, maxLength, validationSplit, testSplit, seed, threshold, minCount, share, output };
        foreach (var o in data.All.Where(o => o != data.SliceColumn)) command.Options.Add(o);
        foreach (var o in taskOptions.Options) command.Options.Add(o);
        command.SetAction(p =>
        {
            var taskName = TrainCommand.TaskName(p.GetValue(task)!);
            var outcome = FineTuner.Analyze(new AnalyzeRequest
            {
                Data = new DatasetFiles(p.GetValue(train)!, p.GetValue(validation), p.GetValue(test)),
                Task = taskName,
                Dataset = data.Dataset(p) with { ValidationFraction = p.GetValue(validationSplit), TestFraction = p.GetValue(testSplit), Seed = p.GetValue(seed) },
                TaskOptions = taskOptions.Bind(p, taskName),
                Model = p.GetValue(model)!,
                MaxLength = p.GetValue(maxLength),
                NearDuplicateThreshold = p.GetValue(threshold),
                MinTokenCount = p.GetValue(minCount),
                ShortcutShare = p.GetValue(share),
                OutputDirectory = p.GetValue(output),
                Info = m => Console.WriteLine(FlagNames.InFlags(m)),
            });
            Console.WriteLine(outcome.Summary);
            return 0;
        });
        return command;
    }
}
