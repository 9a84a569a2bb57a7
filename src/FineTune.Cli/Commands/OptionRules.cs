using System.CommandLine;
using System.Globalization;

namespace FineTune.Cli.Commands;

/// <summary>
/// Checks of option values that run when the command line is parsed, before anything is loaded: a bad value is a
/// parse error (exit code 2) that names the flag. The library checks the same values again for its own callers.
/// </summary>
internal static class OptionRules
{
    /// <summary>The value must be at least <paramref name="min"/> (and at most <paramref name="max"/>).</summary>
    public static Option<int> Range(this Option<int> option, int min, int max = int.MaxValue)
    {
        option.Validators.Add(r =>
        {
            if (!TryValue<int>(r, out var v)) return;
            if (v < min || v > max) r.AddError(RangeMessage(option.Name, v.ToString(CultureInfo.InvariantCulture), min, max));
        });
        return option;
    }

    public static Option<int?> Range(this Option<int?> option, int min, int max = int.MaxValue)
    {
        option.Validators.Add(r =>
        {
            if (TryValue<int?>(r, out var value) && value is int v && (v < min || v > max))
                r.AddError(RangeMessage(option.Name, v.ToString(CultureInfo.InvariantCulture), min, max));
        });
        return option;
    }

    /// <summary>A finite number in [<paramref name="min"/>, <paramref name="max"/>] (or [min, max) with <paramref name="maxExclusive"/>).</summary>
    public static Option<double> Range(this Option<double> option, double min, double max = double.MaxValue, bool maxExclusive = false, bool minExclusive = false)
    {
        option.Validators.Add(r =>
        {
            if (!TryValue<double>(r, out var v)) return;
            bool ok = double.IsFinite(v) && (minExclusive ? v > min : v >= min) && (maxExclusive ? v < max : v <= max);
            if (!ok)
                r.AddError($"{option.Name}: expected a number {(minExclusive ? "above" : "at least")} {Num(min)}"
                    + (max < double.MaxValue ? $" and {(maxExclusive ? "below" : "at most")} {Num(max)}" : "") + $", got {Num(v)}");
        });
        return option;
    }

    public static Option<double?> Range(this Option<double?> option, double min, double max = double.MaxValue, bool maxExclusive = false, bool minExclusive = false)
    {
        option.Validators.Add(r =>
        {
            if (!TryValue<double?>(r, out var value) || value is not double v) return;
            bool ok = double.IsFinite(v) && (minExclusive ? v > min : v >= min) && (maxExclusive ? v < max : v <= max);
            if (!ok)
                r.AddError($"{option.Name}: expected a number {(minExclusive ? "above" : "at least")} {Num(min)}"
                    + (max < double.MaxValue ? $" and {(maxExclusive ? "below" : "at most")} {Num(max)}" : "") + $", got {Num(v)}");
        });
        return option;
    }

    /// <summary>The value must not be empty or white space.</summary>
    public static Option<T> NotEmpty<T>(this Option<T> option)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && string.IsNullOrWhiteSpace(r.Tokens[0].Value))
                r.AddError($"{option.Name}: the value is empty");
        });
        return option;
    }

    /// <summary>The value must be one of <paramref name="choices"/> (any case; '-' and '_' ignored).</summary>
    public static Option<T> OneOf<T>(this Option<T> option, params string[] choices)
    {
        static string Key(string s) => s.Replace("-", "").Replace("_", "").ToLowerInvariant();
        var keys = choices.Select(Key).ToHashSet();
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && !keys.Contains(Key(r.Tokens[0].Value)))
                r.AddError($"{option.Name}: expected one of {string.Join(", ", choices)}, got '{r.Tokens[0].Value}'");
        });
        return option;
    }

    /// <summary>The option's value; false when it did not parse (the parser reports that error itself).</summary>
    private static bool TryValue<T>(System.CommandLine.Parsing.OptionResult result, out T value)
    {
        value = default!;
        try
        {
            value = result.GetValueOrDefault<T>();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static string RangeMessage(string name, string value, int min, int max) =>
        max == int.MaxValue
            ? $"{name}: expected a whole number of at least {min}, got {value}"
            : $"{name}: expected a whole number from {min} to {max}, got {value}";

    private static string Num(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
}
