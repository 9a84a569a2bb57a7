using System.CommandLine;
using System.Text;
using FineTune.Cli.Commands;
using FineTune.Runtime;

namespace FineTune.Cli;

/// <summary>
/// Runs the parsed command and turns every failure into one clear line on stderr and a documented exit code:
/// <see cref="Success"/> 0; <see cref="UserError"/> 2 for a bad option, input file or model (and any command-line
/// parse error); <see cref="EnvironmentError"/> 3 when the machine stopped the command (no space left, no permission,
/// a folder in use); <see cref="Interrupted"/> 130 after Ctrl+C or SIGTERM; <see cref="UnexpectedError"/> 1 for anything else,
/// whose stack trace goes to an error.log file (named on stderr), never to the terminal.
/// </summary>
public static class CliRunner
{
    public const int Success = 0;
    public const int UnexpectedError = 1;
    public const int UserError = 2;
    public const int EnvironmentError = 3;
    public const int Interrupted = 130;

    /// <summary>The longest message printed; the rest is cut (a message may quote a file's content).</summary>
    public const int MaxMessageLength = 600;

    public static int Invoke(RootCommand root, string[] args)
    {
        NativeEnvironment.ApplyDefaults();
        ParseResult result;
        try
        {
            result = root.Parse(args);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            Console.Error.WriteLine("error: " + Clean(e.Message));
            return UserError;
        }
        if (result.Errors.Count > 0)
        {
            var more = result.Errors.Count > 1 ? $" (and {result.Errors.Count - 1} more)" : "";
            Console.Error.WriteLine("error: " + Clean(result.Errors[0].Message) + more);
            Console.Error.WriteLine($"See '{CommandPath(result.CommandResult.Command)} --help'.");
            return UserError;
        }
        try
        {
            return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return Report(e, result);
        }
    }

    /// <summary>Prints the one line of a failure and returns its exit code.</summary>
    public static int Report(Exception e, ParseResult? parsed)
    {
        var (code, message) = Classify(e);
        if (code == UnexpectedError)
        {
            var log = WriteErrorLog(e, parsed);
            message = $"unexpected failure ({e.GetType().Name}: {Clean(e.Message)}); " +
                      (log is null ? "no error log could be written" : $"details in {log}");
        }
        Console.Error.WriteLine("error: " + Clean(message));
        return code;
    }

    /// <summary>The exit code of an exception and its message, with the library's option names shown as flags.</summary>
    public static (int Code, string Message) Classify(Exception e)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } aggregate) e = aggregate.InnerExceptions[0];
        if (e is System.Reflection.TargetInvocationException { InnerException: { } inner }) e = inner;
        return e switch
        {
            Training.TrainingInterruptedException => (Interrupted, FlagNames.InFlags(e.Message)),
            OperationCanceledException => (Interrupted, "interrupted"),
            EnvironmentException => (EnvironmentError, FlagNames.InFlags(e.Message)),
            FineTuneException => (UserError, FlagNames.InFlags(e.Message)),
            IOException or UnauthorizedAccessException => (EnvironmentError, e.Message),
            OutOfMemoryException => (EnvironmentError, "out of memory: use a smaller --batch-size or --max-length"),
            _ => (UnexpectedError, e.Message),
        };
    }

    /// <summary>
    /// One line a terminal shows safely: control characters (and other invisible ones) as '?', runs of white space as
    /// one space, at most <see cref="MaxMessageLength"/> characters.
    /// </summary>
    public static string Clean(string message)
    {
        var sb = new StringBuilder(Math.Min(message.Length, MaxMessageLength + 1));
        bool space = false;
        foreach (var c in message)
        {
            if (c is '\n' or '\r' or '\t' or ' ')
            {
                if (!space && sb.Length > 0) sb.Append(' ');
                space = true;
                continue;
            }
            space = false;
            sb.Append(char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format
                or System.Globalization.UnicodeCategory.Surrogate or System.Globalization.UnicodeCategory.PrivateUse
                or System.Globalization.UnicodeCategory.OtherNotAssigned ? '?' : c);
            if (sb.Length > MaxMessageLength) break;
        }
        var text = sb.ToString().TrimEnd();
        return text.Length > MaxMessageLength ? text[..MaxMessageLength] + " ..." : text;
    }

    private static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (var c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
            names.Insert(0, c is RootCommand ? "finetune" : c.Name);
        return string.Join(" ", names);
    }

    /// <summary>
    /// Writes the exception with its stack trace to error.log in the command's output folder (train, evaluate) or, for
    /// commands that write a file, in the temporary folder; returns the file, or null when none could be written.
    /// </summary>
    private static string? WriteErrorLog(Exception e, ParseResult? parsed)
    {
        var text = $"{DateTimeOffset.Now:O} finetune {string.Join(' ', parsed?.Tokens.Select(t => t.Value) ?? [])}{Environment.NewLine}{e}{Environment.NewLine}";
        foreach (var path in ErrorLogPaths(parsed))
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.AppendAllText(path, text);
                return path;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
            {
                // Try the next place.
            }
        }
        return null;
    }

    private static IEnumerable<string> ErrorLogPaths(ParseResult? parsed)
    {
        var command = parsed?.CommandResult.Command;
        var output = command?.Options.FirstOrDefault(o => o.Name == "--output");
        var value = output is null ? null : parsed!.GetResult(output)?.Tokens.FirstOrDefault()?.Value;
        if (value is { Length: > 0 } && (command!.Name is "train" or "evaluate" || Directory.Exists(value)))
            yield return Path.Combine(Path.GetFullPath(value), "error.log");
        yield return Path.Combine(Path.GetTempPath(), $"finetune-error-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.log");
    }
}
