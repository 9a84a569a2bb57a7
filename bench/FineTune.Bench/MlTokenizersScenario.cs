using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FineTune.Text;
using Microsoft.ML.Tokenizers;

namespace FineTune.Bench;

/// <summary>
/// mltokenizers: Microsoft.ML.Tokenizers 3.0.0 measured against the golden files (Hugging Face's own results) and
/// against our tokenizers for speed, to decide where it could replace ours (it must be identical in ids and offsets
/// and at least as fast). BPE: BpeTokenizer over the golden byte-level BPE's vocabulary and merges with ByteLevel and
/// GPT-2's split; Unigram: SentencePieceTokenizer from the SentencePiece model of the spm-unigram goldens (its ids moved
/// to XLM-R's layout as the converted tokenizer.json has them), and from the XLM-R-layout tokenizer.json
/// (CreateFromTokenizerJson). Compared on the golden sentences' tokens without special tokens: ids, and ids with
/// offsets (UTF-16 ranges of the input).
/// </summary>
internal static class MlTokenizersScenario
{
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static void Run(BenchArgs args)
    {
        int reps = args.Int("reps", 3), count = args.Int("texts", 20_000);
        string data = args.String("data", TokenizeScenarioPaths.DataFolder());
        args.CheckAllUsed();
        var report = new Report("mltokenizers");
        report.Add("load_average_start", Machine.LoadAverage());
        var golden = Path.Combine(TokenizeScenarioPaths.RepositoryRoot(), "tests", "FineTune.Tests", "Text", "Golden");
        var texts = Lines(Path.Combine(data, "multi30k", "train.de.gz")).Take(count / 2)
            .Concat(Lines(Path.Combine(data, "multi30k", "train.en.gz")).Take(count - count / 2)).ToList();

        var rows = new List<IReadOnlyList<object?>>();

        // BPE with ByteLevel over the RoBERTa-layout model
        var bpeJson = JsonNode.Parse(File.ReadAllText(Path.Combine(golden, "roberta-bpe.tokenizer.json")))!;
        var vocab = bpeJson["model"]!["vocab"]!.AsObject().Select(p => new KeyValuePair<string, int>(p.Key, p.Value!.GetValue<int>())).ToList();
        var merges = bpeJson["model"]!["merges"]!.AsArray().Select(m => m is JsonArray a ? $"{a[0]} {a[1]}" : m!.GetValue<string>()).ToList();
        var bpe = BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(new Regex(Gpt2Pattern, RegexOptions.Compiled), null),
        });
        var ours = PipelineTokenizer.FromTokenizerJson(Path.Combine(golden, "roberta-bpe.tokenizer.json"));
        rows.Add(Measure("BPE byte-level", "BpeTokenizer (ByteLevel, GPT-2 split)", Path.Combine(golden, "bpe-bytelevel.json"), "roberta-bpe",
            text => bpe.EncodeToTokens(text, out _).Select(t => (t.Id, Range(t.Offset, text.Length))).ToList(), id => id, texts, ours, reps,
            text => bpe.EncodeToTokens(text, out _).Count));

        // Unigram from the SentencePiece model (spm ids: <unk> 0, <s> 1, </s> 2, pieces from 3; XLM-R layout: +1, <unk> 3)
        using (var model = File.OpenRead(Path.Combine(golden, "spm-unigram.model")))
        {
            var spm = SentencePieceTokenizer.Create(model, false, false);
            var oursSpm = PipelineTokenizer.FromTokenizerJson(Path.Combine(golden, "spm-unigram.tokenizer.json"));
            rows.Add(Measure("Unigram (spm model)", "SentencePieceTokenizer.Create(.model)", Path.Combine(golden, "spm-unigram.json"), "spm-unigram",
                text => spm.EncodeToTokens(text, out _, addBeginningOfSentence: false, addEndOfSentence: false).Select(t => (t.Id, Range(t.Offset, text.Length))).ToList(),
                id => id == 0 ? 3 : id + 1, texts, oursSpm, reps,
                text => spm.EncodeToTokens(text, out _, addBeginningOfSentence: false, addEndOfSentence: false).Count));
        }

        // Unigram from the XLM-R-layout tokenizer.json
        var xlmrPath = Path.Combine(golden, "xlmr-unigram.tokenizer.json");
        SentencePieceTokenizer? fromJson = null;
        string? failure = null;
        try
        {
            using var stream = File.OpenRead(xlmrPath);
            fromJson = SentencePieceTokenizer.CreateFromTokenizerJson(stream, false, false);
        }
        catch (Exception e)
        {
            failure = $"{e.GetType().Name}: {e.Message}";
        }
        if (fromJson is not null)
        {
            var oursX = PipelineTokenizer.FromTokenizerJson(xlmrPath);
            rows.Add(Measure("Unigram (XLM-R tokenizer.json)", "SentencePieceTokenizer.CreateFromTokenizerJson", Path.Combine(golden, "unigram.json"), "xlmr-unigram",
                text => fromJson.EncodeToTokens(text, out _, addBeginningOfSentence: false, addEndOfSentence: false).Select(t => (t.Id, Range(t.Offset, text.Length))).ToList(),
                id => id, texts, oursX, reps, text => fromJson.EncodeToTokens(text, out _, addBeginningOfSentence: false, addEndOfSentence: false).Count));
        }
        else rows.Add(["Unigram (XLM-R tokenizer.json)", "SentencePieceTokenizer.CreateFromTokenizerJson", "-", "-", "-", "-", "-", failure]);

        report.Table("Microsoft.ML.Tokenizers 3.0.0 against Hugging Face's results (golden sentences, tokens without special tokens) and our speed (single thread, M tokens/s, median)",
            ["type", "Microsoft.ML.Tokenizers", "golden texts", "ids identical", "ids + offsets identical", "ML M tok/s", "ours M tok/s", "note"], rows, "results");
        report.Finish();
    }

    private static string Show(List<(int Id, (int Start, int End) Offsets)> tokens, int k) =>
        k < tokens.Count ? $"{tokens[k].Id} ({tokens[k].Offsets.Start}, {tokens[k].Offsets.End})" : "(none)";

    private static (int Start, int End) Range(System.Range r, int length) => (r.Start.GetOffset(length), r.End.GetOffset(length));

    private static IReadOnlyList<object?> Measure(string type, string setup, string goldenFile, string variant,
        Func<string, List<(int Id, (int Start, int End) Offsets)>> encode, Func<int, int> mapId, List<string> texts, ITokenizer ours, int reps, Func<string, int> count)
    {
        var cases = JsonNode.Parse(File.ReadAllText(goldenFile))!["cases"]!.AsArray().Select(c => c!.AsObject())
            .Where(c => c["v"]!.GetValue<string>() == variant && c["pair"] is null && c["words"] is null && c["max"] is null && c["special"] is null
                && c["text16"] is null && c["out"] is not null)
            .ToList();
        int sameIds = 0, sameBoth = 0;
        string? firstDifference = null;
        foreach (var c in cases)
        {
            var text = c["text"]!.GetValue<string>();
            var o = c["out"]![0]!;
            var seq = o["seq"]!.GetValue<string>();
            var ids = o["ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            var offsets = o["offsets"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            var expected = Enumerable.Range(0, ids.Length).Where(i => seq[i] != '-').Select(i => (ids[i], (offsets[2 * i], offsets[2 * i + 1]))).ToList();
            List<(int, (int, int))> actual;
            try
            {
                actual = encode(text).Select(t => (mapId(t.Id), t.Offsets)).ToList();
            }
            catch (Exception)
            {
                continue;
            }
            bool idsEqual = expected.Select(e => e.Item1).SequenceEqual(actual.Select(a => a.Item1));
            if (idsEqual) sameIds++;
            if (idsEqual && expected.SequenceEqual(actual)) sameBoth++;
            else if (firstDifference is null)
            {
                int k = 0;
                while (k < Math.Min(expected.Count, actual.Count) && expected[k] == actual[k]) k++;
                firstDifference = $"first: \"{text[..Math.Min(30, text.Length)]}…\" token {k}: HF {Show(expected, k)}, ML {Show(actual, k)}";
            }
        }
        double Time(Action<string> run)
        {
            var seconds = new List<double>();
            for (int r = 0; r < reps + 1; r++)
            {
                var sw = Stopwatch.StartNew();
                foreach (var t in texts) run(t);
                if (r > 0) seconds.Add(sw.Elapsed.TotalSeconds);
            }
            return Stats.Median(seconds);
        }
        long tokens = texts.Sum(t => (long)count(t));
        long ourTokens = texts.Sum(t => (long)ours.Encode(t, null, new EncodeOptions { AddSpecialTokens = false }).Length);
        double ml = Time(t => count(t));
        double us = Time(t => ours.Encode(t, null, new EncodeOptions { AddSpecialTokens = false }));
        return [type, setup, cases.Count, sameIds, sameBoth, tokens / ml / 1e6, ourTokens / us / 1e6, firstDifference];
    }

    private static IEnumerable<string> Lines(string gz)
    {
        using var reader = new StreamReader(new GZipStream(File.OpenRead(gz), CompressionMode.Decompress));
        while (reader.ReadLine() is { } line)
            if (line.Length > 0) yield return line;
    }
}
