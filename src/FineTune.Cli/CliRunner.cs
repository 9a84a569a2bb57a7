using System.CommandLine;
using FineTune.Cli.Commands;
using FineTune.Runtime;

namespace FineTune.Cli;

/// <summary>Runs the parsed command and turns the library's errors into one clear line and an exit code.</summary>
public static class CliRunner
{
    public const int UserError = 2;

    public static int Invoke(RootCommand root, string[] args)
    {
        NativeEnvironment.ApplyDefaults();
        var result = root.Parse(args);
        try
        {
            return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (FineTuneException e)
        {
            Console.Error.WriteLine("error: " + FlagNames.InFlags(e.Message));
            return UserError;
        }
    }
}
