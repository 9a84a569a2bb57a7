using System.CommandLine;
using System.Diagnostics;
using System.Text;
using FineTune.Cli;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Tests.Cli;
using Parquet;
using Parquet.Schema;
using Xunit.Abstractions;

namespace FineTune.Tests.Robustness;

/// <summary>
/// Generated bad input for the tool, run in-process: random values for every option of every command, mutated data
/// files (CSV, TSV, JSONL, Parquet, CoNLL, SQuAD, text) and mutated model folders. Every case must end with a
/// documented exit code (0, 2 or 3), at most three lines on stderr, no stack trace, no control character, and (when
/// it fails) nothing in the output it was given. The cases come from a fixed seed: the same 1,000+ every run.
/// </summary>
[Collection("Console")]
public class CliFuzzTests : IClassFixture<CliFuzzTests.Fixture>
{
    private readonly ITestOutputHelper _output;
    private readonly Fixture _f;

    public CliFuzzTests(ITestOutputHelper output, Fixture fixture)
    {
        _output = output;
        _f = fixture;
    }

    /// <summary>Seed files and three tiny fine-tuned models (classification, NER, QA), made once.</summary>
    public sealed class Fixture : IDisposable
    {
        internal TestSupport.TempDir Dir { get; } = new();
        public string Csv => Dir.File("seed.csv");
        public string Tsv => Dir.File("seed.tsv");
        public string Jsonl => Dir.File("seed.jsonl");
        public string Parquet => Dir.File("seed.parquet");
        public string Text => Dir.File("seed.txt");
        public string Conll => Dir.File("seed.conll");
        public string Squad => Dir.File("seed.json");
        public string Classifier { get; }
        public string Tagger { get; }
        public string Reader { get; }

        public Fixture()
        {
            var rows = File.ReadLines(Path.Combine(TestSupport.RepoRoot, "samples", "sms_spam", "train.csv")).Skip(1).Take(40)
                .Select(l => (Label: l[..l.IndexOf(',')], Text: l[(l.IndexOf(',') + 1)..].Trim('"'))).ToList();
            File.WriteAllLines(Csv, ["label,text", .. rows.Select(r => $"{r.Label},\"{r.Text.Replace("\"", "\"\"")}\"")]);
            File.WriteAllLines(Tsv, ["label\ttext", .. rows.Select(r => $"{r.Label}\t{r.Text.Replace('\t', ' ')}")]);
            File.WriteAllLines(Jsonl, rows.Select(r => System.Text.Json.JsonSerializer.Serialize(new { text = r.Text, label = r.Label })));
            WriteParquet(Parquet, rows);
            File.WriteAllLines(Text, rows.Take(5).Select(r => r.Text));
            File.WriteAllText(Conll, string.Join("\n\n", Enumerable.Range(0, 8).Select(i =>
                $"-DOCSTART- -X- -X- O\n\nAnna NNP B-NP B-PER\nvisited VBD B-VP O\nParis NNP B-NP B-LOC\nin IN B-PP O\nMay{i} NNP B-NP O")) + "\n");
            File.WriteAllText(Squad, """
                {"version": "1.1", "data": [{"title": "T", "paragraphs": [
                  {"context": "Ada Lovelace wrote the first program in 1843.", "qas": [
                    {"id": "q1", "question": "Who wrote the first program?", "answers": [{"text": "Ada Lovelace", "answer_start": 0}]},
                    {"id": "q2", "question": "When was it written?", "answers": [{"text": "1843", "answer_start": 40}]}]},
                  {"context": "The Rhine flows through Basel and Cologne.", "qas": [
                    {"id": "q3", "question": "Which river flows through Basel?", "answers": [{"text": "The Rhine", "answer_start": 0}]}]}]}]}
                """);
            Classifier = Train("classification", Csv, "cls");
            Tagger = Train("ner", Conll, "ner");
            Reader = Train("qa", Squad, "qa");
        }

        private string Train(string task, string data, string name)
        {
            var result = FineTuner.Train(new FineTuneRequest
            {
                Model = TinyModelFolder.Shared,
                Task = task,
                Data = new DatasetFiles(data),
                Training = new TrainingOptions { MaxSteps = 1, BatchSize = 8, MaxLength = 32, EvalStrategy = IntervalKind.No, SaveStrategy = IntervalKind.No },
                OutputDirectory = Dir.File("run-" + name),
                TaskOptions = task == "qa" ? new FineTune.Tasks.QuestionAnsweringOptions { DocStride = 8 } : null,
            });
            return result.ModelDirectory;
        }

        private static void WriteParquet(string path, IReadOnlyList<(string Label, string Text)> rows)
        {
            var label = new DataField<string>("label");
            var text = new DataField<string>("text");
            using var stream = File.Create(path);
            var writer = ParquetWriter.CreateAsync(new ParquetSchema(label, text), stream).GetAwaiter().GetResult();
            using (var group = writer.CreateRowGroup())
            {
                group.WriteAsync(label, rows.Select(r => r.Label).ToArray()).GetAwaiter().GetResult();
                group.WriteAsync(text, rows.Select(r => r.Text).ToArray()).GetAwaiter().GetResult();
            }
            writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        public void Dispose() => Dir.Dispose();
    }

    /// <summary>Values that break options: empty, negative, huge, not numbers, control characters, paths that are not what they should be.</summary>
    private static readonly string[] NastyValues =
    [
        "", " ", "-1", "0", "-0.5", "1e400", "NaN", "Infinity", "abc", "1.5", "2147483648", "\u001b[31mred\u001b[0m", "tab\there", "line\nbreak",
        new string('x', 5000), "/proc/finetune-nope", "/dev/null", "no/such/file.csv", "../..", "ünïcödé", "--", "\"quoted\"", "%s%n", "1,2,3",
    ];

    private sealed record Case(string Description, string[] Args, string? Output, bool OutputIsFuzzed);

    private sealed record Outcome(Case Case, int Code, string Error, string? Problem);

    [Fact]
    public void AThousandGeneratedBadInputsEachFailCleanly()
    {
        var random = new Random(20261206);
        var cases = new List<Case>();
        cases.AddRange(OptionCases(random, 520));
        cases.AddRange(DataFileCases(random, 400));
        cases.AddRange(ModelFolderCases(random, 100));

        var clock = Stopwatch.StartNew();
        var outcomes = cases.Select(Run).ToList();
        clock.Stop();

        var problems = outcomes.Where(o => o.Problem is not null).ToList();
        _output.WriteLine($"{outcomes.Count} cases in {clock.Elapsed.TotalSeconds:0.0} s; exit codes: "
                         + string.Join(", ", outcomes.GroupBy(o => o.Code).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        foreach (var p in problems.Take(15))
            _output.WriteLine($"{p.Case.Description}\n  finetune {string.Join(' ', p.Case.Args.Select(Show))}\n  exit {p.Code}: {p.Problem}\n  {p.Error.Replace("\n", "\n  ")}");
        Assert.True(outcomes.Count >= 1000, $"only {outcomes.Count} cases");
        Assert.True(problems.Count == 0, $"{problems.Count} of {outcomes.Count} cases failed badly; the first: "
            + string.Join(" | ", problems.Take(3).Select(p => $"{p.Case.Description}: exit {p.Code}, {p.Problem}: {p.Error}")));
        // Not every case fails: the generator also produces valid values, and those must work.
        Assert.Contains(outcomes, o => o.Code == 0);
        Assert.Contains(outcomes, o => o.Code == CliRunner.UserError);
    }

    private static string Show(string arg) => arg.Length > 40 ? arg[..37] + "..." : CliRunner.Clean(arg);

    private Outcome Run(Case c)
    {
        var before = c.Output is not null && Path.Exists(c.Output) ? Snapshot(c.Output) : null;
        var (code, _, error) = CliTests.Run(c.Args);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string? problem = null;
        if (code is not (0 or CliRunner.UserError or CliRunner.EnvironmentError)) problem = "undocumented exit code";
        else if (code != 0 && lines.Length > 3) problem = $"{lines.Length} lines on stderr";
        else if (lines.Any(l => l.StartsWith("at ", StringComparison.Ordinal) || l.Contains("Unhandled exception", StringComparison.Ordinal) || l.StartsWith("--- End of", StringComparison.Ordinal)))
            problem = "a stack trace";
        else if (error.Any(ch => char.IsControl(ch) && ch is not '\n' and not '\r')) problem = "a control character";
        else if (code != 0 && c.Output is not null && !c.OutputIsFuzzed && !Same(before, c.Output)) problem = $"the failed run changed {c.Output}";
        return new Outcome(c, code, error, problem);
    }

    private static string? Snapshot(string path) =>
        File.Exists(path) ? new FileInfo(path).Length + ":" + File.GetLastWriteTimeUtc(path).Ticks
        : Directory.Exists(path) ? string.Join("|", Directory.GetFileSystemEntries(path, "*", SearchOption.AllDirectories).Order()
            .Select(e => e + ":" + (File.Exists(e) ? new FileInfo(e).Length : -1)))
        : null;

    private static bool Same(string? before, string path) => before == Snapshot(path);

    // ---- option values -----------------------------------------------------------------------------------------

    /// <summary>Arguments that make each command succeed quickly, with OUT where its output goes.</summary>
    private Dictionary<string, string[]> Bases() => new()
    {
        ["train"] = ["train", "--model", TinyModelFolder.Shared, "--data", _f.Csv, "--max-steps", "1", "--batch-size", "8", "--max-length", "16",
            "--save-strategy", "no", "--eval-strategy", "no", "--output", "OUT"],
        ["evaluate"] = ["evaluate", "--model", _f.Classifier, "--data", _f.Csv, "--max-length", "16", "--output", "OUT"],
        ["predict"] = ["predict", "--model", _f.Classifier, "--input", _f.Text, "--output", "OUT.csv"],
        ["embed"] = ["embed", "--model", TinyModelFolder.Shared, "--input", _f.Text, "--output", "OUT.jsonl"],
        ["models import"] = ["models", "import", "all-MiniLM-L6-v2-nope", "--output", "OUT"],
        ["report"] = ["report", "OUT"],
        ["export"] = ["export", "--model", _f.Classifier, "--output", "OUT"],
        ["tokenize"] = ["tokenize", "--model", TinyModelFolder.Shared, "--input", _f.Text, "--output", "OUT.jsonl"],
        ["explain"] = ["explain", "--model", _f.Classifier, "--input", _f.Text, "--steps", "2", "--max-inputs", "2", "--max-length", "16", "--output", "OUT"],
        ["analyze"] = ["analyze", "--model", TinyModelFolder.Shared, "--data", _f.Csv, "--max-length", "16", "--output", "OUT"],
    };

    private IEnumerable<Case> OptionCases(Random random, int count)
    {
        var root = CliApp.BuildRoot();
        var bases = Bases();
        var commands = bases.Keys.Select(k => (Name: k, Command: Find(root, k))).ToList();
        for (int i = 0; i < count; i++)
        {
            var (name, command) = commands[random.Next(commands.Count)];
            var options = command.Options.Where(o => o.Name is not ("--help" or "-h" or "-?") && !o.Name.StartsWith("--version", StringComparison.Ordinal)).ToList();
            var args = bases[name].ToList();
            var output = Fresh($"opt{i}");
            string description;
            bool fuzzedOutput = false;
            switch (options.Count == 0 ? 0 : random.Next(10))
            {
                case 0: // an unknown option, or a stray argument
                    args.Add(random.Next(2) == 0 ? "--no-such-option" : NastyValues[random.Next(NastyValues.Length)]);
                    description = $"{name}: an unknown option or stray argument";
                    break;
                case 1: // a required option left out
                    var required = options.Where(o => o.Required).ToList();
                    if (required.Count == 0) goto default;
                    var drop = required[random.Next(required.Count)];
                    int at = args.IndexOf(drop.Name);
                    if (at >= 0) args.RemoveRange(at, 2);
                    description = $"{name}: without {drop.Name}";
                    break;
                default:
                    var option = options[random.Next(options.Count)];
                    var value = NastyValues[random.Next(NastyValues.Length)];
                    int existing = args.IndexOf(option.Name);
                    bool flag = option.ValueType == typeof(bool);
                    if (existing >= 0 && !flag) args[existing + 1] = value;
                    else if (flag) args.AddRange(random.Next(2) == 0 ? [option.Name] : [option.Name, value]);
                    else args.AddRange([option.Name, value]);
                    fuzzedOutput = option.Name == "--output";
                    description = $"{name}: {option.Name} '{Show(value)}'";
                    break;
            }
            var outputPath = name switch { "predict" => output + ".csv", "embed" or "tokenize" => output + ".jsonl", _ => output };
            var resolved = args.Select(a => a switch { "OUT" => output, "OUT.csv" => output + ".csv", "OUT.jsonl" => output + ".jsonl", _ => a }).ToArray();
            yield return new Case(description, resolved, name == "report" ? null : outputPath, fuzzedOutput);
        }
    }

    private static Command Find(Command root, string path)
    {
        var command = root;
        foreach (var part in path.Split(' ')) command = command.Subcommands.Single(c => c.Name == part);
        return command;
    }

    private string Fresh(string name) => _f.Dir.File("out-" + name);

    // ---- data files --------------------------------------------------------------------------------------------

    private static readonly byte[] Inserts = [0x00, 0xFF, 0xC3, 0xE2, (byte)'"', (byte)',', (byte)'\t', (byte)'\n', (byte)'\r', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)':', (byte)' ', 0x1B];

    private static byte[] Mutate(byte[] data, Random random, out string what)
    {
        var bytes = data.ToList();
        switch (random.Next(11))
        {
            case 0:
                int cut = random.Next(bytes.Count + 1);
                what = $"truncated at byte {cut}";
                return [.. bytes.Take(cut)];
            case 1:
                int flips = 1 + random.Next(8);
                for (int i = 0; i < flips && bytes.Count > 0; i++) bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                what = $"{flips} random bytes";
                return [.. bytes];
            case 2:
                int inserts = 1 + random.Next(6);
                for (int i = 0; i < inserts; i++) bytes.Insert(random.Next(bytes.Count + 1), Inserts[random.Next(Inserts.Length)]);
                what = $"{inserts} inserted special bytes";
                return [.. bytes];
            case 3:
                what = "empty";
                return [];
            case 4:
                what = "only a byte order mark";
                return [0xEF, 0xBB, 0xBF];
            case 5:
            {
                var lines = Encoding.UTF8.GetString(data).Split('\n').ToList();
                int line = random.Next(lines.Count);
                lines.RemoveAt(line);
                what = $"line {line + 1} removed";
                return Encoding.UTF8.GetBytes(string.Join('\n', lines));
            }
            case 6:
            {
                var lines = Encoding.UTF8.GetString(data).Split('\n').ToList();
                int line = random.Next(lines.Count);
                lines.Insert(line, new string('w', 20_000 + random.Next(80_000)));
                what = $"a very long line at {line + 1}";
                return Encoding.UTF8.GetBytes(string.Join('\n', lines));
            }
            case 7:
            {
                var lines = Encoding.UTF8.GetString(data).Split('\n').ToList();
                int a = random.Next(lines.Count), b = random.Next(lines.Count);
                (lines[a], lines[b]) = (lines[b], lines[a]);
                what = $"lines {a + 1} and {b + 1} swapped";
                return Encoding.UTF8.GetBytes(string.Join('\n', lines));
            }
            case 8:
                what = "garbage appended";
                return [.. bytes, .. Enumerable.Range(0, 1 + random.Next(64)).Select(_ => (byte)random.Next(256))];
            case 9:
                what = "Latin-1 bytes";
                return [.. bytes.Take(bytes.Count / 2), 0xE9, 0x20, 0xFC, .. bytes.Skip(bytes.Count / 2)];
            default:
                int start = random.Next(Math.Max(1, bytes.Count - 64));
                what = $"64 bytes zeroed at {start}";
                for (int i = start; i < Math.Min(bytes.Count, start + 64); i++) bytes[i] = 0;
                return [.. bytes];
        }
    }

    private IEnumerable<Case> DataFileCases(Random random, int count)
    {
        var seeds = new (string File, string Ext, Func<string, string, string[]> Command)[]
        {
            (_f.Csv, ".csv", (file, o) => ["evaluate", "--model", _f.Classifier, "--data", file, "--output", o]),
            (_f.Tsv, ".tsv", (file, o) => ["predict", "--model", _f.Classifier, "--input", file, "--output", o + ".csv"]),
            (_f.Jsonl, ".jsonl", (file, o) => ["evaluate", "--model", _f.Classifier, "--data", file, "--output", o]),
            (_f.Parquet, ".parquet", (file, o) => ["predict", "--model", _f.Classifier, "--input", file, "--output", o + ".jsonl"]),
            (_f.Text, ".txt", (file, o) => ["embed", "--model", TinyModelFolder.Shared, "--input", file, "--output", o + ".npy"]),
            (_f.Conll, ".conll", (file, o) => ["evaluate", "--model", _f.Tagger, "--data", file, "--output", o]),
            (_f.Squad, ".json", (file, o) => ["evaluate", "--model", _f.Reader, "--data", file, "--output", o]),
            (_f.Csv, ".csv", (file, o) => ["train", "--model", TinyModelFolder.Shared, "--data", file, "--max-steps", "1", "--batch-size", "8",
                "--max-length", "16", "--save-strategy", "no", "--eval-strategy", "no", "--output", o]),
        };
        for (int i = 0; i < count; i++)
        {
            // Training runs whole when the mutation leaves the file valid: one case in ten is a training run.
            var (seed, ext, command) = seeds[i % 10 == 9 ? 7 : random.Next(7)];
            var mutated = Mutate(File.ReadAllBytes(seed), random, out var what);
            var file = _f.Dir.File($"data{i}{ext}");
            File.WriteAllBytes(file, mutated);
            var output = Fresh($"data{i}");
            var args = command(file, output);
            var outputArg = args[Array.IndexOf(args, "--output") + 1];
            yield return new Case($"{args[0]} {Path.GetFileName(seed)}: {what}", args, outputArg, OutputIsFuzzed: false);
        }
    }

    // ---- model folders -----------------------------------------------------------------------------------------

    private IEnumerable<Case> ModelFolderCases(Random random, int count)
    {
        for (int i = 0; i < count; i++)
        {
            var folder = _f.Dir.File($"model{i}");
            Directory.CreateDirectory(folder);
            foreach (var f in Directory.GetFiles(_f.Classifier)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
            var files = Directory.GetFiles(folder).Order().ToArray();
            var target = files[random.Next(files.Length)];
            string what;
            if (random.Next(4) == 0)
            {
                File.Delete(target);
                what = "deleted";
            }
            else if (target.EndsWith(".safetensors", StringComparison.Ordinal) && random.Next(2) == 0)
            {
                // The header (its first bytes) rather than the tensors, which any bytes fill validly.
                var bytes = File.ReadAllBytes(target);
                int n = 1 + random.Next(4);
                for (int k = 0; k < n; k++) bytes[random.Next(Math.Min(bytes.Length, 200))] = (byte)random.Next(256);
                File.WriteAllBytes(target, bytes);
                what = $"{n} header bytes changed";
            }
            else
            {
                File.WriteAllBytes(target, Mutate(File.ReadAllBytes(target), random, out what));
            }
            var output = Fresh($"model{i}") + ".csv";
            yield return new Case($"predict with {Path.GetFileName(target)} {what}",
                ["predict", "--model", folder, "--input", _f.Text, "--output", output], output, OutputIsFuzzed: false);
        }
    }
}
