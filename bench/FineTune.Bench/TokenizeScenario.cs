using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using FineTune.Checkpoints;
using FineTune.Text;

namespace FineTune.Bench;

/// <summary>
/// tokenize: single-thread throughput of the tokenizers on the same 20,000 sentences (Multi30k training German and
/// English, 10,000 each), against Hugging Face's tokenizers (Rust, npm package, bench/peer/tokenizers_peer.js) with
/// the same tokenizer.json in the same run: WordPiece (the packaged all-MiniLM-L6-v2), byte-level BPE (RoBERTa layout)
/// and Unigram (XLM-R layout), both trained for the goldens (tests/FineTune.Tests/Text/Golden). Ours is timed for
/// Encode of each text (ids, type ids, offsets, word ids); theirs for encodeBatch of all texts (the same fields).
/// Token counts and id sums of the two must agree.
/// </summary>
internal static class TokenizeScenario
{
    public static void Run(BenchArgs args)
    {
        int reps = args.Int("reps", 5), warmup = args.Int("warmup", 1), count = args.Int("texts", 20_000);
        string node = args.String("node", "node");
        string data = args.String("data", TokenizeScenarioPaths.DataFolder());
        var types = args.Strings("types", "wordpiece", "bpe", "unigram");
        args.CheckAllUsed();
        var report = new Report("tokenize");
        report.Add("load_average_start", Machine.LoadAverage());
        var texts = Lines(Path.Combine(data, "multi30k", "train.de.gz")).Take(count / 2)
            .Concat(Lines(Path.Combine(data, "multi30k", "train.en.gz")).Take(count - count / 2)).ToList();
        report.Add("texts", texts.Count);
        using var work = new TempFolder();
        var textsFile = Path.Combine(work.Path, "texts.json");
        File.WriteAllText(textsFile, JsonSerializer.Serialize(texts));
        var root = TokenizeScenarioPaths.RepositoryRoot();
        var rows = new List<IReadOnlyList<object?>>();
        foreach (var type in types)
        {
            var (folder, tokenizerJson) = Prepare(type, root, work.Path);
            var tokenizer = Tokenizers.FromFolder(folder);
            var seconds = new List<double>();
            long tokens = 0, idSum = 0;
            for (int r = 0; r < warmup + reps; r++)
            {
                var sw = Stopwatch.StartNew();
                long t = 0, s = 0;
                foreach (var text in texts)
                {
                    var e = tokenizer.Encode(text);
                    t += e.Length;
                    foreach (var id in e.Ids) s += id;
                }
                if (r >= warmup) seconds.Add(sw.Elapsed.TotalSeconds);
                (tokens, idSum) = (t, s);
            }
            var ours = Stats.Median(seconds);
            var peer = RunPeer(node, root, tokenizerJson, textsFile, reps, warmup);
            double? theirs = peer is { } p ? Stats.Median(p.GetProperty("seconds").EnumerateArray().Select(x => x.GetDouble())) : null;
            bool? same = peer is { } q ? q.GetProperty("tokens").GetInt64() == tokens && q.GetProperty("idSum").GetInt64() == idSum : null;
            rows.Add([type, tokenizer.GetType().Name, tokens, tokens / ours / 1e6, theirs is double h ? tokens / h / 1e6 : null,
                theirs is double h2 ? h2 / ours : null, same]);
        }
        report.Table("single thread, median of " + reps + " passes over the texts (M tokens/s, special tokens included)",
            ["type", "ours", "tokens", "ours M tok/s", "HF M tok/s", "ours / HF", "same ids"], rows, "results");
        report.Finish();
    }

    /// <summary>A model folder for our tokenizer and the tokenizer.json the peer loads (for WordPiece, the one our tokenizer writes).</summary>
    private static (string Folder, string TokenizerJson) Prepare(string type, string root, string work)
    {
        var folder = Path.Combine(work, type);
        Directory.CreateDirectory(folder);
        switch (type)
        {
            case "wordpiece":
                Tokenizers.FromFolder(ModelCatalog.Resolve("all-MiniLM-L6-v2")).Save(folder);
                break;
            case "bpe":
                File.Copy(Path.Combine(root, "tests", "FineTune.Tests", "Text", "Golden", "roberta-bpe.tokenizer.json"), Path.Combine(folder, "tokenizer.json"));
                break;
            case "unigram":
                File.Copy(Path.Combine(root, "tests", "FineTune.Tests", "Text", "Golden", "xlmr-unigram.tokenizer.json"), Path.Combine(folder, "tokenizer.json"));
                break;
            default:
                throw new ArgumentException($"--types: wordpiece, bpe or unigram, got '{type}'");
        }
        return (folder, Path.Combine(folder, "tokenizer.json"));
    }

    private static JsonElement? RunPeer(string node, string root, string tokenizerJson, string textsFile, int reps, int warmup)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "peer", "tokenizers_peer.js");
        var modules = Path.Combine(root, "tools", "golden", "node_modules");
        if (!Directory.Exists(Path.Combine(modules, "tokenizers")))
        {
            Console.WriteLine($"peer skipped: {modules} has no tokenizers (cd tools/golden && npm install)");
            return null;
        }
        var psi = new ProcessStartInfo(node, [script, tokenizerJson, textsFile, reps.ToString(), warmup.ToString()])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.Environment["NODE_PATH"] = modules;
        psi.Environment["TOKENIZERS_PARALLELISM"] = "false";
        psi.Environment["RAYON_NUM_THREADS"] = "1";
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{node} {script} exited with {process.ExitCode}");
        return JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement.Clone();
    }

    private static IEnumerable<string> Lines(string gz)
    {
        using var reader = new StreamReader(new GZipStream(File.OpenRead(gz), CompressionMode.Decompress));
        while (reader.ReadLine() is { } line)
            if (line.Length > 0) yield return line;
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("finetune-tokenize-").FullName;
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}

/// <summary>Where the tokenizer scenarios find the repository and the shared data.</summary>
internal static class TokenizeScenarioPaths
{
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FineTune.slnx"))) return dir.FullName;
        throw new InvalidOperationException("the repository (FineTune.slnx) is not above the program");
    }

    public static string DataFolder()
    {
        var root = TokenizeScenarioPaths.RepositoryRoot();
        var shared = Path.Combine(root, "..", "shared", "data");
        return Directory.Exists(shared) ? Path.GetFullPath(shared) : "/work/shared/data";
    }
}
