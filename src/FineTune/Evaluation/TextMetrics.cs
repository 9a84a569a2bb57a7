using System.Text;
using System.Text.RegularExpressions;

namespace FineTune.Evaluation;

// Metrics of generated text, computed as the reference implementations compute them: corpus BLEU and chrF as
// sacreBLEU 2.x does by default, ROUGE-N and ROUGE-Lsum as Google's rouge-score package does.

/// <summary>How BLEU treats an n-gram order without a single match (sacreBLEU's smooth_method).</summary>
internal enum BleuSmoothing
{
    /// <summary>No smoothing: a zero precision makes the score 0.</summary>
    None,
    /// <summary>A zero count of matches becomes <c>smoothValue</c> (Chen and Cherry's method 1).</summary>
    Floor,
    /// <summary>The k-th order without matches gets precision 1 / (2^k · total) (NIST's, mteval-v13a's; sacreBLEU's default).</summary>
    Exp,
}

/// <summary>
/// A corpus BLEU score with its sufficient statistics, on sacreBLEU's 0–100 scale: matched and total n-grams of each
/// order, the precisions, the brevity penalty and the hypothesis and reference lengths (in tokens).
/// </summary>
internal sealed record BleuScore(double Score, long[] Counts, long[] Totals, double[] Precisions, double BrevityPenalty, long HypothesisLength, long ReferenceLength);

/// <summary>
/// sacreBLEU's "13a" tokenizer (mteval-v13a.pl's): a few HTML entities unescaped, then punctuation and symbols split
/// off, periods and commas split unless between digits, a dash split after a digit, and runs of white space joined.
/// </summary>
internal static partial class Tokenizer13a
{
    [GeneratedRegex(@"([\{-\~\[-\` -\&\(-\+\:-\@\/])")] private static partial Regex Symbols();
    [GeneratedRegex(@"([^0-9])([\.,])")] private static partial Regex PeriodCommaAfter();
    [GeneratedRegex(@"([\.,])([^0-9])")] private static partial Regex PeriodCommaBefore();
    [GeneratedRegex(@"([0-9])(-)")] private static partial Regex DashAfterDigit();

    public static string Tokenize(string line)
    {
        line = line.Replace("<skipped>", "").Replace("-\n", "").Replace("\n", " ");
        if (line.Contains('&'))
            line = line.Replace("&quot;", "\"").Replace("&amp;", "&").Replace("&lt;", "<").Replace("&gt;", ">");
        line = " " + line + " ";
        line = Symbols().Replace(line, " $1 ");
        line = PeriodCommaAfter().Replace(line, "$1 $2 ");
        line = PeriodCommaBefore().Replace(line, " $1 $2");
        line = DashAfterDigit().Replace(line, "$1 $2 ");
        return string.Join(' ', PythonText.Split(line));
    }
}

/// <summary>What Python's str methods count as white space, for splitting and stripping as the reference implementations do.</summary>
internal static class PythonText
{
    /// <summary>Python's str.isspace: .NET's white space plus the information separators U+001C–U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    /// <summary>Python's str.split(): the pieces between runs of white space, none empty.</summary>
    public static List<string> Split(string text)
    {
        var pieces = new List<string>();
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool space = i == text.Length || IsSpace(text[i]);
            if (space && start >= 0)
            {
                pieces.Add(text[start..i]);
                start = -1;
            }
            else if (!space && start < 0) start = i;
        }
        return pieces;
    }

    /// <summary>Python's str.rstrip().</summary>
    public static string TrimEnd(string text)
    {
        int end = text.Length;
        while (end > 0 && IsSpace(text[end - 1])) end--;
        return text[..end];
    }
}

/// <summary>
/// Corpus BLEU as sacreBLEU computes it (BLEU(): 13a tokenization, case-sensitive, exponential smoothing, n-grams up
/// to 4, the brevity penalty against the closest reference length, the shorter on a tie). Statistics accumulate
/// per sentence and the score is computed once over their sums.
/// </summary>
internal sealed class CorpusBleu(bool lowercase = false, bool tokenize = true, BleuSmoothing smoothing = BleuSmoothing.Exp, double smoothValue = 0.1,
    int maxOrder = 4, bool effectiveOrder = false)
{
    private readonly long[] _correct = new long[maxOrder];
    private readonly long[] _total = new long[maxOrder];
    private long _hypothesisLength, _referenceLength;

    /// <summary>The number of sentences added.</summary>
    public int Count { get; private set; }

    private string[] Tokens(string text)
    {
        text = PythonText.TrimEnd(text);
        if (lowercase) text = text.ToLowerInvariant();
        return PythonText.Split(tokenize ? Tokenizer13a.Tokenize(text) : text).ToArray();
    }

    /// <summary>Adds a hypothesis and its reference(s).</summary>
    public void Add(string hypothesis, IReadOnlyList<string> references)
    {
        if (references.Count == 0) throw new ArgumentException("a hypothesis needs at least one reference", nameof(references));
        var hyp = Tokens(hypothesis);
        // Each n-gram's count is clipped by its largest count in any one reference.
        var refCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        var refLengths = new List<int>();
        foreach (var reference in references)
        {
            var tokens = Tokens(reference);
            refLengths.Add(tokens.Length);
            foreach (var (ngram, count) in NGrams(tokens, maxOrder))
                if (!refCounts.TryGetValue(ngram, out var c) || count > c) refCounts[ngram] = count;
        }
        foreach (var (ngram, count) in NGrams(hyp, maxOrder))
        {
            int order = ngram.Count(ch => ch == '\u0001');
            _total[order] += count;
            if (refCounts.TryGetValue(ngram, out var inRef)) _correct[order] += Math.Min(count, inRef);
        }
        _hypothesisLength += hyp.Length;
        _referenceLength += ClosestLength(hyp.Length, refLengths);
        Count++;
    }

    /// <summary>The reference length closest to the hypothesis's, the shorter one on a tie.</summary>
    private static int ClosestLength(int hypothesis, IReadOnlyList<int> references)
    {
        int best = -1, bestDiff = -1;
        foreach (var length in references)
        {
            int diff = Math.Abs(hypothesis - length);
            if (bestDiff == -1 || diff < bestDiff || (diff == bestDiff && length < best)) (best, bestDiff) = (length, diff);
        }
        return best;
    }

    /// <summary>The counts of the n-grams of orders 1 to <paramref name="maxOrder"/>, keyed by their tokens joined with U+0001.</summary>
    private static Dictionary<string, int> NGrams(string[] tokens, int maxOrder)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int n = 1; n <= maxOrder; n++)
            for (int i = 0; i + n <= tokens.Length; i++)
            {
                var key = string.Join('\u0001', tokens, i, n);
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        return counts;
    }

    public BleuScore Compute() => FromStatistics(_correct, _total, _hypothesisLength, _referenceLength, smoothing, smoothValue, effectiveOrder);

    /// <summary>BLEU from its statistics (sacreBLEU's compute_bleu).</summary>
    public static BleuScore FromStatistics(IReadOnlyList<long> correct, IReadOnlyList<long> total, long hypothesisLength, long referenceLength,
        BleuSmoothing smoothing = BleuSmoothing.Exp, double smoothValue = 0.1, bool effectiveOrder = false)
    {
        int maxOrder = correct.Count;
        double bp = hypothesisLength < referenceLength
            ? hypothesisLength > 0 ? Math.Exp(1 - (double)referenceLength / hypothesisLength) : 0.0
            : 1.0;
        var precisions = new double[maxOrder];
        var counts = correct.ToArray();
        var totals = total.ToArray();
        if (counts.All(c => c == 0))
            return new BleuScore(0, counts, totals, precisions, bp, hypothesisLength, referenceLength);
        double smoothMteval = 1;
        int order = maxOrder;
        for (int n = 1; n <= maxOrder; n++)
        {
            if (totals[n - 1] == 0) break;
            if (effectiveOrder) order = n;
            if (counts[n - 1] == 0)
            {
                if (smoothing == BleuSmoothing.Exp)
                {
                    smoothMteval *= 2;
                    precisions[n - 1] = 100.0 / (smoothMteval * totals[n - 1]);
                }
                else if (smoothing == BleuSmoothing.Floor)
                    precisions[n - 1] = 100.0 * smoothValue / totals[n - 1];
            }
            else
                precisions[n - 1] = 100.0 * counts[n - 1] / totals[n - 1];
        }
        // sacreBLEU floors log(0) at -9999999999.
        double logSum = precisions.Take(order).Sum(p => p == 0 ? -9999999999.0 : Math.Log(p));
        return new BleuScore(bp * Math.Exp(logSum / order), counts, totals, precisions, bp, hypothesisLength, referenceLength);
    }
}

/// <summary>
/// Corpus chrF as sacreBLEU computes it (CHRF(): character n-grams up to 6, no word n-grams, β = 2, white space
/// removed, case-sensitive, precision and recall averaged over the orders that occur); per sentence the reference
/// with the best F-score counts; statistics are summed over the corpus. 0–100.
/// </summary>
internal sealed class CorpusChrf(int charOrder = 6, double beta = 2, bool lowercase = false, bool whitespace = false, bool epsSmoothing = false)
{
    private readonly long[] _statistics = new long[3 * charOrder];

    public int Count { get; private set; }

    public void Add(string hypothesis, IReadOnlyList<string> references)
    {
        if (references.Count == 0) throw new ArgumentException("a hypothesis needs at least one reference", nameof(references));
        var hyp = CharNGrams(hypothesis);
        long[]? best = null;
        double bestScore = -1;
        foreach (var reference in references)
        {
            var refGrams = CharNGrams(reference);
            var stats = new long[3 * charOrder];
            for (int n = 0; n < charOrder; n++)
            {
                stats[3 * n] = hyp[n].Values.Sum();
                stats[3 * n + 1] = refGrams[n].Values.Sum();
                long match = 0;
                foreach (var (gram, count) in hyp[n])
                    if (refGrams[n].TryGetValue(gram, out var c)) match += Math.Min(count, c);
                stats[3 * n + 2] = match;
            }
            double score = FScore(stats);
            if (score > bestScore) (best, bestScore) = (stats, score);
        }
        for (int i = 0; i < _statistics.Length; i++) _statistics[i] += best![i];
        Count++;
    }

    public double Compute() => FScore(_statistics);

    /// <summary>The character n-grams of orders 1 to the maximum, over code points.</summary>
    private Dictionary<string, int>[] CharNGrams(string text)
    {
        if (lowercase) text = text.ToLowerInvariant();
        if (!whitespace) text = string.Concat(PythonText.Split(text));
        var points = new List<string>();
        for (int i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1)
            points.Add(char.IsSurrogatePair(text, i) ? text.Substring(i, 2) : text[i].ToString());
        var grams = new Dictionary<string, int>[charOrder];
        for (int n = 1; n <= charOrder; n++)
        {
            var counts = grams[n - 1] = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i + n <= points.Count; i++)
            {
                var key = string.Concat(points.Skip(i).Take(n));
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }
        return grams;
    }

    /// <summary>The F-score of [hyp, ref, match] statistics per order (sacreBLEU's _compute_f_score).</summary>
    private double FScore(long[] statistics)
    {
        const double eps = 1e-16;
        double factor = beta * beta, score = 0, precisionSum = 0, recallSum = 0;
        int effective = 0;
        for (int n = 0; n < charOrder; n++)
        {
            long hyp = statistics[3 * n], reference = statistics[3 * n + 1], match = statistics[3 * n + 2];
            double precision = hyp > 0 ? (double)match / hyp : eps;
            double recall = reference > 0 ? (double)match / reference : eps;
            double denominator = factor * precision + recall;
            score += denominator > 0 ? (1 + factor) * precision * recall / denominator : eps;
            if (hyp > 0 && reference > 0)
            {
                precisionSum += precision;
                recallSum += recall;
                effective++;
            }
        }
        if (epsSmoothing) return 100 * score / charOrder;
        if (effective == 0) return 0;
        double p = precisionSum / effective, r = recallSum / effective;
        return p + r > 0 ? 100 * (1 + factor) * p * r / (factor * p + r) : 0;
    }
}

/// <summary>Precision, recall and F-measure (0–1) of one ROUGE comparison.</summary>
internal readonly record struct RougeScore(double Precision, double Recall, double FMeasure)
{
    public static RougeScore Of(double precision, double recall) =>
        new(precision, recall, precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0);
}

/// <summary>
/// ROUGE as Google's rouge-score computes it: text lowercased, every run of characters other than a–z and 0–9
/// replaced by a space, optionally Porter-stemmed (words longer than 3 letters, NLTK's stemmer); ROUGE-N from clipped
/// n-gram counts; ROUGE-L from the longest common subsequence; ROUGE-Lsum from the union LCS of each reference
/// sentence (sentences are lines) against the summary's sentences.
/// </summary>
internal sealed partial class RougeScorer(bool useStemmer = false)
{
    [GeneratedRegex("[^a-z0-9]+")] private static partial Regex NonAlphanumeric();

    public bool UseStemmer { get; } = useStemmer;

    public List<string> Tokenize(string text)
    {
        var cleaned = NonAlphanumeric().Replace(text.ToLowerInvariant(), " ");
        var tokens = new List<string>();
        foreach (var piece in cleaned.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            tokens.Add(UseStemmer && piece.Length > 3 ? PorterStemmer.Stem(piece) : piece);
        return tokens.Where(t => t.Length > 0 && t.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9'))).ToList();
    }

    /// <summary>ROUGE-N of a prediction against a target.</summary>
    public RougeScore RougeN(string target, string prediction, int n) => RougeN(Tokenize(target), Tokenize(prediction), n);

    public static RougeScore RougeN(IReadOnlyList<string> target, IReadOnlyList<string> prediction, int n)
    {
        var targetGrams = Counts(target, n);
        var predictionGrams = Counts(prediction, n);
        long overlap = 0;
        foreach (var (gram, count) in targetGrams)
            overlap += Math.Min(count, predictionGrams.GetValueOrDefault(gram));
        return RougeScore.Of((double)overlap / Math.Max(predictionGrams.Values.Sum(), 1), (double)overlap / Math.Max(targetGrams.Values.Sum(), 1));
    }

    /// <summary>ROUGE-L: the longest common subsequence of the whole texts.</summary>
    public RougeScore RougeL(string target, string prediction)
    {
        var t = Tokenize(target);
        var p = Tokenize(prediction);
        if (t.Count == 0 || p.Count == 0) return default;
        int lcs = LcsTable(t, p)[t.Count, p.Count];
        return RougeScore.Of((double)lcs / p.Count, (double)lcs / t.Count);
    }

    /// <summary>ROUGE-Lsum: summary-level LCS over the texts' lines (newline-separated sentences).</summary>
    public RougeScore RougeLsum(string target, string prediction)
    {
        var targetSentences = Sentences(target).Select(Tokenize).ToList();
        var predictionSentences = Sentences(prediction).Select(Tokenize).ToList();
        if (targetSentences.Count == 0 || predictionSentences.Count == 0) return default;
        int m = targetSentences.Sum(s => s.Count), n = predictionSentences.Sum(s => s.Count);
        if (m == 0 || n == 0) return default;
        // Each token counts at most as often as it occurs in both texts.
        var targetLeft = targetSentences.SelectMany(s => s).GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        var predictionLeft = predictionSentences.SelectMany(s => s).GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        int hits = 0;
        foreach (var reference in targetSentences)
        {
            var union = new SortedSet<int>();
            foreach (var candidate in predictionSentences) union.UnionWith(LcsIndices(reference, candidate));
            foreach (var token in union.Select(i => reference[i]))
                if (predictionLeft.GetValueOrDefault(token) > 0 && targetLeft.GetValueOrDefault(token) > 0)
                {
                    hits++;
                    predictionLeft[token]--;
                    targetLeft[token]--;
                }
        }
        return RougeScore.Of((double)hits / n, (double)hits / m);
    }

    private static IEnumerable<string> Sentences(string text) => text.Split('\n').Where(s => s.Length > 0);

    private static Dictionary<string, int> Counts(IReadOnlyList<string> tokens, int n)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i + n <= tokens.Count; i++)
        {
            var key = string.Join(' ', tokens.Skip(i).Take(n));
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }

    internal static int[,] LcsTable(IReadOnlyList<string> reference, IReadOnlyList<string> candidate)
    {
        var table = new int[reference.Count + 1, candidate.Count + 1];
        for (int i = 1; i <= reference.Count; i++)
            for (int j = 1; j <= candidate.Count; j++)
                table[i, j] = reference[i - 1] == candidate[j - 1] ? table[i - 1, j - 1] + 1 : Math.Max(table[i - 1, j], table[i, j - 1]);
        return table;
    }

    /// <summary>The indices into <paramref name="reference"/> of one longest common subsequence (read back from the end, preferring to step back in the reference on ties, as rouge-score does).</summary>
    internal static List<int> LcsIndices(IReadOnlyList<string> reference, IReadOnlyList<string> candidate)
    {
        var table = LcsTable(reference, candidate);
        var indices = new List<int>();
        int i = reference.Count, j = candidate.Count;
        while (i > 0 && j > 0)
        {
            if (reference[i - 1] == candidate[j - 1])
            {
                indices.Insert(0, i - 1);
                i--;
                j--;
            }
            else if (table[i, j - 1] > table[i - 1, j]) j--;
            else i--;
        }
        return indices;
    }
}

/// <summary>The mean F-measures of ROUGE-1, ROUGE-2 and ROUGE-Lsum over a corpus (each pair scored on its own, as rouge-score does).</summary>
internal sealed class CorpusRouge(bool useStemmer = false)
{
    private readonly RougeScorer _scorer = new(useStemmer);
    private double _rouge1, _rouge2, _rougeLsum;

    public int Count { get; private set; }

    public void Add(string target, string prediction)
    {
        var t = _scorer.Tokenize(target);
        var p = _scorer.Tokenize(prediction);
        _rouge1 += RougeScorer.RougeN(t, p, 1).FMeasure;
        _rouge2 += RougeScorer.RougeN(t, p, 2).FMeasure;
        _rougeLsum += _scorer.RougeLsum(target, prediction).FMeasure;
        Count++;
    }

    public (double Rouge1, double Rouge2, double RougeLsum) Compute() =>
        Count == 0 ? (0, 0, 0) : (_rouge1 / Count, _rouge2 / Count, _rougeLsum / Count);
}

/// <summary>
/// NLTK's Porter stemmer in its default mode (NLTK_EXTENSIONS), which rouge-score uses: Porter's five steps with
/// NLTK's changes (a pool of irregular forms, -ies and -ied of four letters, y → i only after a consonant that is not
/// the whole stem, -alli and -fulli and -logi in step 2, a two-letter vowel–consonant stem counts as *o). Expects a
/// lowercase word.
/// </summary>
internal static class PorterStemmer
{
    private static readonly Dictionary<string, string> Pool = new(StringComparer.Ordinal)
    {
        ["sky"] = "sky", ["skies"] = "sky", ["dying"] = "die", ["lying"] = "lie", ["tying"] = "tie", ["news"] = "news",
        ["innings"] = "inning", ["inning"] = "inning", ["outings"] = "outing", ["outing"] = "outing",
        ["cannings"] = "canning", ["canning"] = "canning", ["howe"] = "howe", ["proceed"] = "proceed", ["exceed"] = "exceed",
        ["succeed"] = "succeed",
    };

    public static string Stem(string word)
    {
        if (Pool.TryGetValue(word, out var irregular)) return irregular;
        if (word.Length <= 2) return word;
        var stem = Step1A(word);
        stem = Step1B(stem);
        stem = Step1C(stem);
        stem = Step2(stem);
        stem = Step3(stem);
        stem = Step4(stem);
        stem = Step5A(stem);
        return Step5B(stem);
    }

    private static bool IsConsonant(string word, int i) => word[i] switch
    {
        'a' or 'e' or 'i' or 'o' or 'u' => false,
        'y' => i == 0 || !IsConsonant(word, i - 1),
        _ => true,
    };

    /// <summary>m: the number of vowel-consonant sequences in [C](VC)^m[V].</summary>
    private static int Measure(string stem)
    {
        int m = 0;
        for (int i = 1; i < stem.Length; i++)
            if (IsConsonant(stem, i) && !IsConsonant(stem, i - 1)) m++;
        return m;
    }

    private static bool PositiveMeasure(string stem) => Measure(stem) > 0;

    private static bool ContainsVowel(string stem)
    {
        for (int i = 0; i < stem.Length; i++)
            if (!IsConsonant(stem, i)) return true;
        return false;
    }

    private static bool EndsDoubleConsonant(string word) =>
        word.Length >= 2 && word[^1] == word[^2] && IsConsonant(word, word.Length - 1);

    /// <summary>*o: ends consonant-vowel-consonant, the last not w, x or y; or (NLTK) is a vowel then a consonant.</summary>
    private static bool EndsCvc(string word) =>
        (word.Length >= 3 && IsConsonant(word, word.Length - 3) && !IsConsonant(word, word.Length - 2) && IsConsonant(word, word.Length - 1)
         && word[^1] is not ('w' or 'x' or 'y'))
        || (word.Length == 2 && !IsConsonant(word, 0) && IsConsonant(word, 1));

    /// <summary>A rule: a suffix ("*d" for a double consonant), its replacement, and a condition on the stem (null: none).</summary>
    private readonly record struct Rule(string Suffix, string Replacement, Func<string, bool>? Condition);

    /// <summary>The first rule whose suffix the word ends with decides: its replacement when its condition holds, else the word unchanged.</summary>
    private static string ApplyFirst(string word, IEnumerable<Rule> rules)
    {
        foreach (var (suffix, replacement, condition) in rules)
        {
            if (suffix == "*d" && EndsDoubleConsonant(word))
            {
                var stem = word[..^2];
                return condition is null || condition(stem) ? stem + replacement : word;
            }
            if (suffix != "*d" && word.EndsWith(suffix, StringComparison.Ordinal))
            {
                var stem = word[..^suffix.Length];
                return condition is null || condition(stem) ? stem + replacement : word;
            }
        }
        return word;
    }

    private static string Step1A(string word)
    {
        if (word.EndsWith("ies", StringComparison.Ordinal) && word.Length == 4) return word[..^3] + "ie";
        return ApplyFirst(word, [new("sses", "ss", null), new("ies", "i", null), new("ss", "ss", null), new("s", "", null)]);
    }

    private static string Step1B(string word)
    {
        if (word.EndsWith("ied", StringComparison.Ordinal)) return word[..^3] + (word.Length == 4 ? "ie" : "i");
        if (word.EndsWith("eed", StringComparison.Ordinal))
        {
            var stem = word[..^3];
            return Measure(stem) > 0 ? stem + "ee" : word;
        }
        string? intermediate = null;
        foreach (var suffix in new[] { "ed", "ing" })
            if (word.EndsWith(suffix, StringComparison.Ordinal) && ContainsVowel(word[..^suffix.Length]))
            {
                intermediate = word[..^suffix.Length];
                break;
            }
        if (intermediate is null) return word;
        char last = intermediate[^1];
        return ApplyFirst(intermediate,
        [
            new("at", "ate", null), new("bl", "ble", null), new("iz", "ize", null),
            new("*d", last.ToString(), _ => last is not ('l' or 's' or 'z')),
            new("", "e", stem => Measure(stem) == 1 && EndsCvc(stem)),
        ]);
    }

    private static string Step1C(string word) =>
        ApplyFirst(word, [new("y", "i", stem => stem.Length > 1 && IsConsonant(stem, stem.Length - 1))]);

    private static string Step2(string word)
    {
        if (word.EndsWith("alli", StringComparison.Ordinal) && PositiveMeasure(word[..^4])) return Step2(word[..^4] + "al");
        return ApplyFirst(word,
        [
            new("ational", "ate", PositiveMeasure), new("tional", "tion", PositiveMeasure), new("enci", "ence", PositiveMeasure),
            new("anci", "ance", PositiveMeasure), new("izer", "ize", PositiveMeasure), new("bli", "ble", PositiveMeasure),
            new("alli", "al", PositiveMeasure), new("entli", "ent", PositiveMeasure), new("eli", "e", PositiveMeasure),
            new("ousli", "ous", PositiveMeasure), new("ization", "ize", PositiveMeasure), new("ation", "ate", PositiveMeasure),
            new("ator", "ate", PositiveMeasure), new("alism", "al", PositiveMeasure), new("iveness", "ive", PositiveMeasure),
            new("fulness", "ful", PositiveMeasure), new("ousness", "ous", PositiveMeasure), new("aliti", "al", PositiveMeasure),
            new("iviti", "ive", PositiveMeasure), new("biliti", "ble", PositiveMeasure), new("fulli", "ful", PositiveMeasure),
            // NLTK measures the word without "ogi" here, not the stem without "logi".
            new("logi", "log", _ => PositiveMeasure(word[..^3])),
        ]);
    }

    private static string Step3(string word) => ApplyFirst(word,
    [
        new("icate", "ic", PositiveMeasure), new("ative", "", PositiveMeasure), new("alize", "al", PositiveMeasure),
        new("iciti", "ic", PositiveMeasure), new("ical", "ic", PositiveMeasure), new("ful", "", PositiveMeasure), new("ness", "", PositiveMeasure),
    ]);

    private static string Step4(string word)
    {
        static bool Above1(string stem) => Measure(stem) > 1;
        return ApplyFirst(word,
        [
            new("al", "", Above1), new("ance", "", Above1), new("ence", "", Above1), new("er", "", Above1), new("ic", "", Above1),
            new("able", "", Above1), new("ible", "", Above1), new("ant", "", Above1), new("ement", "", Above1), new("ment", "", Above1),
            new("ent", "", Above1), new("ion", "", stem => Measure(stem) > 1 && stem.Length > 0 && stem[^1] is 's' or 't'),
            new("ou", "", Above1), new("ism", "", Above1), new("ate", "", Above1), new("iti", "", Above1), new("ous", "", Above1),
            new("ive", "", Above1), new("ize", "", Above1),
        ]);
    }

    private static string Step5A(string word)
    {
        if (!word.EndsWith('e')) return word;
        var stem = word[..^1];
        int m = Measure(stem);
        return m > 1 || (m == 1 && !EndsCvc(stem)) ? stem : word;
    }

    private static string Step5B(string word) => ApplyFirst(word, [new("ll", "l", _ => Measure(word[..^1]) > 1)]);
}
