using System.Diagnostics;
using System.Globalization;
using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Tests.Data;

namespace FineTune.Tests.Evaluation;

/// <summary>
/// BLEU and the Porter stemmer against an independent implementation, Debian's python3-nltk (.ci/run installs it):
/// NLTK's corpus_bleu on the same 13a-tokenized sentences (no smoothing is needed: every order has matches, and then
/// sacreBLEU's and NLTK's BLEU are the same formula), and NLTK's PorterStemmer on the words of AG News.
/// </summary>
public class NltkCrossCheckTests
{
    private const string Python = "/usr/bin/python3";

    /// <summary>Runs a Python script with NLTK, feeding <paramref name="input"/> on stdin; fails clearly when NLTK is missing.</summary>
    private static string RunNltk(string script, string input)
    {
        Assert.True(File.Exists(Python), $"{Python} is missing: install python3-nltk (apt-get install python3-nltk; .ci/run does)");
        using var dir = new TestSupport.TempDir();
        var path = dir.File("check.py");
        File.WriteAllText(path, script);
        var start = new ProcessStartInfo(Python, path) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["PYTHONIOENCODING"] = "utf-8";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        process.WaitForExit();
        Assert.False(stderr.Result.Contains("No module named 'nltk'", StringComparison.Ordinal),
            "python3-nltk is missing: apt-get install python3-nltk (.ci/run installs it)");
        Assert.True(process.ExitCode == 0, stderr.Result);
        return stdout.Result;
    }

    [Fact]
    public void CorpusBleuEqualsNltksOnTheSameTokens()
    {
        // 200 Multi30k English sentences as references; hypotheses made from them by dropping every fifth token and
        // swapping two neighbours, so that every n-gram order has matches and misses, and lengths differ.
        var references = ParallelText.ReadLines(SharedData.File("multi30k", "val.en.gz")).Take(200).ToList();
        var hypotheses = references.Select((r, i) =>
        {
            var words = r.Split(' ').Where((_, j) => (j + i) % 5 != 4).ToList();
            if (words.Count > 3) (words[1], words[2]) = (words[2], words[1]);
            return string.Join(' ', words);
        }).ToList();
        var bleu = new CorpusBleu();
        for (int i = 0; i < references.Count; i++) bleu.Add(hypotheses[i], [references[i]]);
        var ours = bleu.Compute();
        Assert.All(ours.Counts, c => Assert.True(c > 0));

        var lines = references.Select((r, i) => Tokenizer13a.Tokenize(hypotheses[i].TrimEnd()) + "\t" + Tokenizer13a.Tokenize(r.TrimEnd()));
        var output = RunNltk("""
            import sys
            from nltk.translate.bleu_score import corpus_bleu
            hyps, refs = [], []
            for line in sys.stdin.read().split("\n"):
                if not line: continue
                h, r = line.split("\t")
                hyps.append(h.split()); refs.append([r.split()])
            print(repr(corpus_bleu(refs, hyps)))
            """, string.Join("\n", lines) + "\n");
        double nltk = double.Parse(output.Trim(), CultureInfo.InvariantCulture);
        Assert.InRange(ours.Score, 20, 90);
        Assert.Equal(nltk * 100, ours.Score, 1e-9);
    }

    [Fact]
    public void PorterStemmerEqualsNltksOnAgNewsWords()
    {
        // The distinct words of AG News' descriptions longer than three letters (the ones ROUGE stems).
        var scorer = new RougeScorer();
        var words = File.ReadLines(SharedData.File("ag_news", "test.csv")).Take(1500)
            .SelectMany(scorer.Tokenize).Where(w => w.Length > 3).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.True(words.Count > 3000, $"{words.Count} words");
        var output = RunNltk("""
            import sys
            from nltk.stem.porter import PorterStemmer
            s = PorterStemmer()
            print("\n".join(s.stem(w) for w in sys.stdin.read().split()))
            """, string.Join("\n", words));
        var nltk = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(words.Count, nltk.Length);
        var differences = words.Select((w, i) => (Word: w, Ours: PorterStemmer.Stem(w), Nltk: nltk[i])).Where(x => x.Ours != x.Nltk).ToList();
        Assert.True(differences.Count == 0, $"{differences.Count} of {words.Count} differ, e.g. " +
            string.Join(", ", differences.Take(10).Select(d => $"{d.Word}: {d.Ours} vs {d.Nltk}")));
    }
}
