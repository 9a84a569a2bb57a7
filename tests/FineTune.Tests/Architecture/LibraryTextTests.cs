using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace FineTune.Tests.Architecture;

/// <summary>
/// The library never speaks in CLI flags: its messages name options by property (TrainingOptions.LearningRate), and
/// the CLI maps those to flags. Checked on every string literal compiled into the library.
/// </summary>
public partial class LibraryTextTests
{
    /// <summary>Every string literal of an assembly (its #US heap: what ldstr loads, the literal parts of interpolated strings included).</summary>
    internal static List<string> StringLiterals(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var strings = new List<string>();
        var handle = MetadataTokens.UserStringHandle(1);
        while (!handle.IsNil)
        {
            strings.Add(reader.GetUserString(handle));
            handle = reader.GetNextHandle(handle);
        }
        return strings;
    }

    // A flag: "--" and a lower-case word, not inside another word; CSS custom properties (var(--line), --accent:) are not flags.
    [GeneratedRegex(@"(?<![\w-]|var\()--[a-z][a-z0-9]*(-[a-z0-9]+)*(?![\w:-])")]
    private static partial Regex Flag();

    [Fact]
    public void NoStringOfTheLibraryNamesACommandLineFlag()
    {
        var literals = StringLiterals(typeof(FineTuner).Assembly.Location);
        Assert.True(literals.Count > 500, $"only {literals.Count} literals read"); // the check reads the real heap
        var flags = literals.Where(s => Flag().IsMatch(s)).ToList();
        Assert.True(flags.Count == 0, "library strings that name flags:\n" + string.Join("\n", flags));
    }

    [Fact]
    public void TheCheckFindsAFlagInAnAssemblyThatHasOne()
    {
        // The CLI speaks in flags: the same check finds them there.
        var cli = StringLiterals(typeof(FineTune.Cli.CliApp).Assembly.Location);
        Assert.Contains(cli, s => Flag().IsMatch(s));
    }
}
