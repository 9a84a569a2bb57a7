using System.CommandLine;
using FineTune.Cli.Commands;

namespace FineTune.Cli;

/// <summary>The `finetune` command tree.</summary>
public static class CliApp
{
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("finetune: fine-tune pretrained BERT-family models on your labelled text, offline, and use the result.");
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        root.Subcommands.Add(ExplainCommand.Create());
        root.Subcommands.Add(AnalyzeCommand.Create());
        root.Subcommands.Add(EmbedCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        return root;
    }

    /// <summary>Runs the tool in-process (as the executable does) and returns its exit code.</summary>
    public static int Run(params string[] args) => CliRunner.Invoke(BuildRoot(), args);
}
