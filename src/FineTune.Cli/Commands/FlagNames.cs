namespace FineTune.Cli.Commands;

/// <summary>
/// The library names an option by its type and property (TrainingOptions.LearningRate); the tool by its flag
/// (--learning-rate). The commands register each flag with the property it sets, and errors are shown with flags.
/// </summary>
internal static class FlagNames
{
    private static readonly Dictionary<string, string> s_flags = new(StringComparer.Ordinal)
    {
        // Names the library uses in messages that no single command option sets.
        ["FineTuneRequest.TaskOptions"] = "the task's options",
        ["PredictorOptions.MaxLength"] = "--max-length",
        ["EntityPredictorOptions.MaxLength"] = "--max-length",
        ["AnswerPredictorOptions.MaxLength"] = "--max-length",
        ["PredictorOptions.BatchSize"] = "--batch-size",
        ["PredictorOptions.Precision"] = "--precision",
        ["PredictorOptions.Device"] = "--device",
        ["PredictorOptions.Threads"] = "--threads",
        ["TorchRuntime.Threads"] = "--threads",
        ["TorchRuntime.Device"] = "--device",
    };

    /// <summary>Records that <paramref name="flag"/> sets <paramref name="property"/> (Type.Property).</summary>
    public static void Register(string property, string flag)
    {
        lock (s_flags) s_flags[property] = flag;
    }

    /// <summary>Records several (property, flag) pairs.</summary>
    public static void Register(params (string Property, string Flag)[] pairs)
    {
        foreach (var (property, flag) in pairs) Register(property, flag);
    }

    /// <summary>A library message with every property name it holds replaced by its flag.</summary>
    public static string InFlags(string message)
    {
        KeyValuePair<string, string>[] pairs;
        lock (s_flags) pairs = s_flags.OrderByDescending(kv => kv.Key.Length).ToArray();
        foreach (var (property, flag) in pairs)
            message = ReplaceWhole(message, property, flag);
        return message;
    }

    // Replaces property names that are not part of a longer name (EntityPredictorOptions.MaxLength is not PredictorOptions.MaxLength).
    private static string ReplaceWhole(string text, string name, string replacement)
    {
        int from = 0;
        while ((from = text.IndexOf(name, from, StringComparison.Ordinal)) >= 0)
        {
            int end = from + name.Length;
            bool startsWord = from == 0 || !(char.IsLetterOrDigit(text[from - 1]) || text[from - 1] == '.');
            bool endsWord = end == text.Length || !char.IsLetterOrDigit(text[end]);
            if (startsWord && endsWord)
            {
                text = string.Concat(text.AsSpan(0, from), replacement, text.AsSpan(end));
                from += replacement.Length;
            }
            else
            {
                from = end;
            }
        }
        return text;
    }

    /// <summary>"LabelSmoothing" → "--label-smoothing", "NBest" → "--n-best".</summary>
    public static string FlagOf(string property)
    {
        var sb = new System.Text.StringBuilder("--");
        for (int i = 0; i < property.Length; i++)
        {
            char c = property[i];
            if (char.IsUpper(c) && i > 0) sb.Append('-');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }
}
