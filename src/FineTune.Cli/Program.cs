using System.CommandLine;
using FineTune.Cli;
using FineTune.Cli.Commands;

var root = new RootCommand("finetune: fine-tune pretrained BERT-family models on your labelled text, offline, and use the result.");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(PredictCommand.Create());
root.Subcommands.Add(ModelsCommand.Create());
return CliRunner.Invoke(root, args);
