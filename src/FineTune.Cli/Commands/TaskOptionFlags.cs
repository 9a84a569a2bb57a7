using System.CommandLine;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using FineTune.Configuration;

namespace FineTune.Cli.Commands;

/// <summary>
/// The flags of the tasks' own options, made from the tasks' options records (one flag per property with a
/// description, named after it: LabelSmoothing → --label-smoothing), so that a new task's options need no code here.
/// A flag shared by several tasks (the same property name) is one flag. Values are read into the chosen task's
/// record; a flag given for a task whose record does not have it is an error.
/// </summary>
internal sealed class TaskOptionFlags
{
    private readonly List<Flag> _flags = [];

    private sealed record Flag(string Name, Option Option, Type Type, List<(TaskInfo Task, PropertyInfo Property)> Uses);

    /// <param name="prediction">Only the options that also apply when a saved model evaluates or predicts.</param>
    /// <param name="analysis">Only the options that change how the data is read (finetune analyze).</param>
    public TaskOptionFlags(bool prediction, bool analysis = false)
    {
        foreach (var task in FineTuner.Tasks)
            foreach (var property in task.DefaultOptions.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (property.GetCustomAttribute<DescriptionAttribute>() is not { } description || property.SetMethod is null) continue;
                if (prediction && property.GetCustomAttribute<UsedByPredictionAttribute>() is null) continue;
                if (analysis && property.GetCustomAttribute<ReadsDataAttribute>() is null) continue;
                var name = FlagNames.FlagOf(property.Name);
                FlagNames.Register($"{property.DeclaringType!.Name}.{property.Name}", name);
                var flag = _flags.FirstOrDefault(f => f.Name == name);
                if (flag is null)
                {
                    var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                    Option option = type == typeof(bool)
                        ? new Option<bool>(name) { Description = description.Description }
                        : new Option<string?>(name) { Description = description.Description + Choices(type) };
                    flag = new Flag(name, option, type, []);
                    _flags.Add(flag);
                }
                flag.Uses.Add((task, property));
            }
        foreach (var flag in _flags)
        {
            var tasks = flag.Uses.Select(u => u.Task.Name).Distinct().ToList();
            var defaults = flag.Uses.Select(u => u.Property.GetValue(u.Task.DefaultOptions)).Distinct().ToList();
            var suffix = defaults is [{ } value] && !prediction && !analysis && value is not false ? $" Default {Show(value)}." : "";
            flag.Option.Description = $"{string.Join(", ", tasks)}: {flag.Option.Description}{suffix}";
        }
    }

    public IEnumerable<Option> Options => _flags.Select(f => f.Option);

    /// <summary>
    /// The options record of <paramref name="taskName"/> with the values of the flags given (its defaults for the rest),
    /// or null when no flag of any task was given. A flag given that the task does not take is an error.
    /// </summary>
    public TaskOptions? Bind(ParseResult parse, string taskName)
    {
        var task = FineTuner.Tasks.Single(t => t.Name == taskName);
        TaskOptions? options = null;
        foreach (var flag in _flags)
        {
            if (parse.GetResult(flag.Option) is not { Implicit: false }) continue;
            var use = flag.Uses.FirstOrDefault(u => u.Task.Name == taskName);
            if (use.Property is null)
                throw new FineTuneException($"{flag.Name}: applies to {string.Join(", ", flag.Uses.Select(u => u.Task.Name).Distinct())}, not to {taskName}");
            options ??= task.DefaultOptions with { };
            object? value = flag.Option is Option<bool> b ? parse.GetValue(b) : Parse(parse.GetValue((Option<string?>)flag.Option), flag, use.Property);
            use.Property.SetValue(options, value);
        }
        return options;
    }

    private static object? Parse(string? text, Flag flag, PropertyInfo property)
    {
        if (text is null) return null;
        var type = flag.Type;
        try
        {
            if (type == typeof(string)) return text;
            if (type == typeof(int)) return int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);
            if (type == typeof(double)) return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (type.IsEnum)
                return Enum.GetNames(type).FirstOrDefault(n => string.Equals(n, text.Replace("-", ""), StringComparison.OrdinalIgnoreCase)) is { } n
                    ? Enum.Parse(type, n)
                    : throw new FormatException($"expected one of {string.Join(", ", Enum.GetNames(type).Select(x => x.ToLowerInvariant()))}, got '{text}'");
            var parseMethod = type.GetMethod("Parse", BindingFlags.Public | BindingFlags.Static, [typeof(string)])
                ?? throw new InvalidOperationException($"{property.DeclaringType!.Name}.{property.Name}: no way to read a {type.Name} from text");
            return parseMethod.Invoke(null, [text]);
        }
        catch (Exception e) when (e is FormatException or OverflowException || e.InnerException is FormatException)
        {
            var reason = e.InnerException is FormatException inner ? inner.Message : e is FormatException f && type.IsEnum ? f.Message : $"'{text}' is not a valid {Kind(type)}";
            throw new FineTuneException($"{flag.Name}: {reason}");
        }
    }

    private static string Kind(Type type) => type == typeof(int) ? "whole number" : type == typeof(double) ? "number" : "value";

    private static string Choices(Type type) =>
        type.IsEnum ? $" ({string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()))})" : "";

    private static string Show(object value) => value switch
    {
        Enum e => e.ToString().ToLowerInvariant(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
