using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FineTune.Bench;

/// <summary>Options of the form --name value and flags --name; unknown options are an error.</summary>
internal sealed class BenchArgs
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public BenchArgs(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{a}'");
            var eq = a.IndexOf('=');
            if (eq > 0) { _values[a[2..eq]] = a[(eq + 1)..]; continue; }
            bool hasValue = i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal);
            _values[a[2..]] = hasValue ? list[++i] : null;
        }
    }

    public bool Flag(string name) { _used.Add(name); return _values.ContainsKey(name); }

    public string? String(string name) { _used.Add(name); return _values.TryGetValue(name, out var v) ? v : null; }

    public string String(string name, string fallback) => String(name) ?? fallback;

    public int Int(string name, int fallback) =>
        String(name) is { } s ? Whole(name, s) : fallback;

    public int? OptionalInt(string name) =>
        String(name) is { } s ? Whole(name, s) : null;

    public IReadOnlyList<int> Ints(string name, params int[] fallback) =>
        String(name) is { } s ? s.Split(',').Select(x => Whole(name, x)).ToArray() : fallback;

    private static int Whole(string name, string text) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value
            : throw new ArgumentException($"--{name}: expected a whole number, got '{text}'");

    public IReadOnlyList<string> Strings(string name, params string[] fallback) =>
        String(name) is { } s ? s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : fallback;

    /// <summary>Fails on options no scenario asked for (typos).</summary>
    public void CheckAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new ArgumentException("unknown option(s): " + string.Join(", ", unknown.Select(u => "--" + u)));
    }
}

/// <summary>The tensor dtype a --precision value names, for the scenarios that time raw products.</summary>
internal static class Dtypes
{
    public static TorchSharp.torch.ScalarType Parse(string precision) => precision switch
    {
        "bf16" => TorchSharp.torch.ScalarType.BFloat16,
        "fp32" => TorchSharp.torch.ScalarType.Float32,
        _ => throw new ArgumentException($"--precision: fp32 or bf16, got '{precision}'"),
    };
}

internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    public static double Min(IEnumerable<double> values) => values.DefaultIfEmpty(double.NaN).Min();

    /// <summary>Runs <paramref name="action"/> <paramref name="warmup"/> times, then times <paramref name="reps"/> runs (seconds).</summary>
    public static List<double> Time(Action action, int warmup, int reps)
    {
        for (int i = 0; i < warmup; i++) action();
        var times = new List<double>(reps);
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        return times;
    }
}

/// <summary>What the operating system says about this process and the machine.</summary>
internal static class Machine
{
    /// <summary>Resident set size now (VmRSS), bytes.</summary>
    public static long RssBytes() => StatusField("VmRSS:");

    /// <summary>Peak resident set size since start or since <see cref="ResetPeakRss"/> (VmHWM), bytes.</summary>
    public static long PeakRssBytes() => StatusField("VmHWM:");

    /// <summary>Resets the kernel's peak-RSS mark (Linux 4.0+); false when not possible.</summary>
    public static bool ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception) { return false; }
    }

    private static long StatusField(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return -1;
    }

    /// <summary>Minor page faults of this process so far (/proc/self/stat, field 10); -1 when unknown.</summary>
    public static long MinorFaults()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            // The fields after the command name (which is in parentheses and may hold spaces).
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[7], CultureInfo.InvariantCulture);
        }
        catch (IOException) { return -1; }
    }

    /// <summary>The 1-, 5- and 15-minute load averages (/proc/loadavg).</summary>
    public static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
    }

    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException) { return "unknown"; }
    }

    public static double GiB(long bytes) => bytes / (1024.0 * 1024 * 1024);

    /// <summary>The command line that starts this program again (apphost, or dotnet + the dll).</summary>
    public static (string FileName, List<string> Prefix) SelfCommand()
    {
        var process = Environment.ProcessPath!;
        var dll = typeof(Machine).Assembly.Location;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? (process, [dll]) : (process, []);
    }
}

/// <summary>
/// The output of a scenario: a readable table, then one JSON object as the last line; the same object is written to
/// bench/results/&lt;scenario&gt;-&lt;time&gt;.json.
/// </summary>
internal sealed class Report(string scenario)
{
    private readonly List<(string Name, string Value)> _rows = [];
    private readonly Dictionary<string, object?> _json = new() { ["scenario"] = scenario };

    public string Scenario { get; } = scenario;

    public static string? ResultsFolder { get; set; }

    /// <summary>False for child processes (--results none): only the parent writes a results file.</summary>
    public static bool WriteResults { get; set; } = true;

    /// <summary>Adds a row to the table and a field to the JSON object.</summary>
    public void Add(string key, object? value, string? display = null)
    {
        _json[key] = value is double d ? Math.Round(d, 6) : value;
        _rows.Add((key, display ?? Format(value)));
    }

    /// <summary>Adds a field to the JSON object only.</summary>
    public void Json(string key, object? value) => _json[key] = value;

    /// <summary>A separate table (printed before the summary rows), e.g. one line per configuration.</summary>
    public void Table(string title, IReadOnlyList<string> columns, IEnumerable<IReadOnlyList<object?>> rows, string? jsonKey = null)
    {
        var materialized = rows.Select(r => r.Select(Format).ToArray()).ToList();
        var widths = columns.Select((c, i) => Math.Max(c.Length, materialized.Count == 0 ? 0 : materialized.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        sb.AppendLine(title);
        sb.AppendLine(string.Join("  ", columns.Select((c, i) => c.PadLeft(widths[i]))));
        foreach (var r in materialized)
            sb.AppendLine(string.Join("  ", r.Select((c, i) => c.PadLeft(widths[i]))));
        Console.Write(sb.ToString());
        Console.WriteLine();
        if (jsonKey is not null)
            _json[jsonKey] = materialized.Select(r => columns.Zip(r).ToDictionary(p => p.First, p => (object)p.Second)).ToList();
    }

    private static string Format(object? value) => value switch
    {
        null => "-",
        double d when double.IsNaN(d) => "-",
        double d when Math.Abs(d) >= 1000 => d.ToString("0", CultureInfo.InvariantCulture),
        double d when Math.Abs(d) >= 10 => d.ToString("0.0", CultureInfo.InvariantCulture),
        double d when d != 0 && Math.Abs(d) < 0.01 => d.ToString("G3", CultureInfo.InvariantCulture),
        double d => d.ToString("0.000", CultureInfo.InvariantCulture),
        bool b => b ? "yes" : "no",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>Prints the table and the JSON line and writes the results file.</summary>
    public void Finish()
    {
        _json["load_average_end"] = Machine.LoadAverage();
        _json["time_utc"] = DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture);
        _json["machine"] = new Dictionary<string, object>
        {
            ["cpu"] = Machine.CpuModel(),
            ["processors"] = Environment.ProcessorCount,
            ["amx_bf16"] = FineTune.Runtime.CpuFeatures.HasAmxBf16,
        };
        int width = _rows.Count == 0 ? 0 : _rows.Max(r => r.Name.Length);
        Console.WriteLine(Scenario);
        foreach (var (name, value) in _rows)
            Console.WriteLine($"  {name.PadRight(width)}  {value}");
        var json = JsonSerializer.Serialize(_json);
        var folder = ResultsFolder ?? DefaultResultsFolder();
        if (folder is not null && WriteResults)
        {
            Directory.CreateDirectory(folder);
            var file = Path.Combine(folder, $"{Scenario}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.json");
            File.WriteAllText(file, json + "\n");
            Console.WriteLine($"  (written to {Path.GetRelativePath(Environment.CurrentDirectory, file)})");
        }
        Console.WriteLine(json);
    }

    /// <summary>bench/results of the repository this program was built from (found upwards from the program), or none.</summary>
    private static string? DefaultResultsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FineTune.slnx")))
                return Path.Combine(dir.FullName, "bench", "results");
        return null;
    }
}
