using System.Globalization;
using Encoding = FineTune.Text.Encoding;
using StringBuilder = System.Text.StringBuilder;
using FineTune.Text;

namespace FineTune.Analysis;

/// <summary>What the data report looks for, and how hard.</summary>
/// <param name="MaxLength">Tokens per model input: longer examples would be truncated.</param>
/// <param name="NearDuplicateThreshold">The Jaccard similarity of character 5-grams from which two texts are near duplicates.</param>
/// <param name="MinTokenCount">A word must be in at least this many training examples to be a possible shortcut.</param>
/// <param name="ShortcutShare">The share of a word's examples that must carry one label for the word to be flagged.</param>
/// <param name="Samples">Examples shown per finding.</param>
/// <param name="MaxShortcuts">Possible shortcuts listed (the strongest first).</param>
internal sealed record AnalysisSettings(int MaxLength, double NearDuplicateThreshold = 0.8, int MinTokenCount = 20, double ShortcutShare = 0.9,
    int Samples = 5, int MaxShortcuts = 20);

/// <summary>
/// The data report of a dataset: label counts and imbalance, token lengths per label and truncation, exact and near
/// duplicates within and across splits (train/test leakage), identical texts with conflicting labels, and words that
/// predict a label almost alone (possible shortcuts).
/// </summary>
/// <remarks>
/// Texts are compared after normalising case and white space (lower-cased, runs of white space as one space,
/// trimmed); a pair is its two texts. Near duplicates are pairs of distinct normalised texts whose character
/// 5-grams have a Jaccard similarity of at least the threshold (<see cref="NearDuplicates"/>). Shortcuts are read in
/// the training split from the words the model's tokenizer splits a text into (lower-cased): a word in at least
/// <see cref="AnalysisSettings.MinTokenCount"/> examples, at least <see cref="AnalysisSettings.ShortcutShare"/> of
/// which carry one label, more than that label's share overall; ranked by that share, then by how many examples
/// hold the word, with the pointwise mutual information log2(P(label | word) / P(label)).
/// </remarks>
internal static class DataAnalyzer
{
    public static DataAnalysis Analyze(AnalysisData data, ITokenizer tokenizer, AnalysisSettings settings)
    {
        var splits = data.Splits.Where(s => s.Examples.Count > 0).ToList();
        var keys = splits.Select(s => s.Examples.Select(Key).ToArray()).ToList();
        var encodings = splits.Select(s => tokenizer.EncodeBatch(s.Examples.Select(e => (e.Text, e.TextPair)).ToList())).ToList();
        var profiles = splits.Select((s, i) => Profile(s.Name, s.Examples, encodings[i], settings.MaxLength)).ToList();
        bool labelled = data.LabelKind is not null;
        var train = splits.FindIndex(s => s.Name == "train");
        double? imbalance = null;
        if (labelled && train >= 0 && profiles[train].LabelCounts.Values.Where(c => c > 0).ToList() is { Count: > 0 } counts)
            imbalance = (double)counts.Max() / counts.Min();
        var shortcuts = labelled && train >= 0
            ? Shortcuts(splits[train].Examples, encodings[train], settings)
            : (Listed: new List<ShortcutToken>(), Flagged: 0);
        return new DataAnalysis
        {
            Task = data.Task,
            LabelKind = data.LabelKind,
            MaxLength = settings.MaxLength,
            Splits = profiles,
            ImbalanceRatio = imbalance,
            ExactDuplicates = ExactDuplicates(splits, keys, settings.Samples),
            NearDuplicates = NearDuplicateFindings(splits, keys, settings),
            NearDuplicateThreshold = settings.NearDuplicateThreshold,
            ConflictingLabels = labelled ? Conflicts(splits, keys, settings.Samples) : null,
            Shortcuts = shortcuts.Listed,
            ShortcutRule = labelled
                ? string.Create(CultureInfo.InvariantCulture,
                    $"{shortcuts.Flagged} words of the training texts are in at least {settings.MinTokenCount} examples, at least {settings.ShortcutShare * 100:0.##}% of which carry one label")
                : null,
        };
    }

    /// <summary>A text as duplicates are compared: lower-cased, each run of white space one space, trimmed.</summary>
    public static string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        bool space = false;
        foreach (var c in text.Trim())
        {
            if (char.IsWhiteSpace(c)) { space = true; continue; }
            if (space) sb.Append(' ');
            space = false;
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    private static string Key(AnalysisExample e) => e.TextPair is null ? Normalize(e.Text) : Normalize(e.Text) + " || " + Normalize(e.TextPair);

    // ---- lengths and labels ------------------------------------------------------------------------------------------

    private static SplitProfile Profile(string name, IReadOnlyList<AnalysisExample> examples, Encoding[] encodings, int maxLength)
    {
        var labelCounts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var perLabel = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < examples.Count; i++)
        {
            foreach (var label in examples[i].Labels) labelCounts[label] = labelCounts.GetValueOrDefault(label) + 1;
            foreach (var label in examples[i].Labels.Distinct())
            {
                if (!perLabel.TryGetValue(label, out var list)) perLabel[label] = list = [];
                list.Add(encodings[i].Length);
            }
        }
        var lengths = encodings.Select(e => e.Length).ToList();
        return new SplitProfile(name, examples.Count, labelCounts, Stats(lengths),
            perLabel.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => Stats(kv.Value)),
            lengths.Count(l => l > maxLength));
    }

    /// <summary>Count, mean, median, 95th percentile (nearest rank) and maximum.</summary>
    internal static LengthStats Stats(IReadOnlyList<int> values)
    {
        if (values.Count == 0) return new LengthStats(0, 0, 0, 0, 0);
        var sorted = values.Order().ToArray();
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2.0;
        int p95 = sorted[Math.Max(0, (int)Math.Ceiling(0.95 * sorted.Length) - 1)];
        return new LengthStats(sorted.Length, sorted.Average(), median, p95, sorted[^1]);
    }

    // ---- exact duplicates and conflicting labels -----------------------------------------------------------------------

    private static List<DuplicateFinding> ExactDuplicates(List<(string Name, IReadOnlyList<AnalysisExample> Examples)> splits, List<string[]> keys, int samples)
    {
        var findings = new List<DuplicateFinding>();
        for (int s = 0; s < splits.Count; s++)
        {
            var groups = Enumerable.Range(0, keys[s].Length).GroupBy(i => keys[s][i], StringComparer.Ordinal).Where(g => g.Count() > 1)
                .OrderByDescending(g => g.Count()).ThenBy(g => g.First()).ToList();
            int involved = groups.Sum(g => g.Count());
            findings.Add(new DuplicateFinding([splits[s].Name], groups.Count, involved, Share(involved, keys[s].Length),
                groups.Take(samples).Select(g => Sample(g.Take(3).Select(i => splits[s].Examples[i]), 1)).ToList()));
        }
        foreach (var (first, second) in SplitPairs(splits.Count))
        {
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < keys[first].Length; i++) index.TryAdd(keys[first][i], i);
            var leaked = Enumerable.Range(0, keys[second].Length).Where(i => index.ContainsKey(keys[second][i])).ToList();
            findings.Add(new DuplicateFinding([splits[first].Name, splits[second].Name], leaked.Select(i => keys[second][i]).Distinct().Count(), leaked.Count,
                Share(leaked.Count, keys[second].Length),
                leaked.Take(samples).Select(i => Sample([splits[first].Examples[index[keys[second][i]]], splits[second].Examples[i]], 1)).ToList()));
        }
        return findings;
    }

    private static ConflictFinding Conflicts(List<(string Name, IReadOnlyList<AnalysisExample> Examples)> splits, List<string[]> keys, int samples)
    {
        var all = splits.SelectMany((s, si) => s.Examples.Select((e, i) => (Key: keys[si][i], Example: e)));
        var conflicting = all.GroupBy(x => x.Key, StringComparer.Ordinal)
            .Select(g => (Group: g.ToList(), Labels: g.GroupBy(x => LabelSet(x.Example)).ToDictionary(l => l.Key, l => l.Count())))
            .Where(g => g.Labels.Count > 1)
            .OrderByDescending(g => g.Group.Count).ThenBy(g => g.Group[0].Key, StringComparer.Ordinal)
            .ToList();
        return new ConflictFinding(conflicting.Count, conflicting.Sum(g => g.Group.Count),
            conflicting.Take(samples).Select(g => new ConflictSample(g.Group[0].Example.Text, g.Labels, g.Group.Take(6).Select(x => x.Example.Location).ToList())).ToList());
    }

    private static string LabelSet(AnalysisExample e) => e.Labels.Count == 0 ? "(none)" : string.Join(", ", e.Labels.Order(StringComparer.Ordinal));

    // ---- near duplicates -----------------------------------------------------------------------------------------------

    private static List<DuplicateFinding> NearDuplicateFindings(List<(string Name, IReadOnlyList<AnalysisExample> Examples)> splits, List<string[]> keys,
        AnalysisSettings settings)
    {
        // One entry per distinct normalised text, with where it occurs.
        var distinct = new Dictionary<string, int>(StringComparer.Ordinal);
        var occurrences = new List<List<(int Split, int Index)>>();
        for (int s = 0; s < splits.Count; s++)
            for (int i = 0; i < keys[s].Length; i++)
            {
                if (!distinct.TryGetValue(keys[s][i], out var id))
                {
                    distinct[keys[s][i]] = id = occurrences.Count;
                    occurrences.Add([]);
                }
                occurrences[id].Add((s, i));
            }
        var texts = distinct.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray();
        var shingles = new ulong[texts.Length][];
        Parallel.For(0, texts.Length, i => shingles[i] = NearDuplicates.Shingles(texts[i]));
        var pairs = new NearDuplicates().Pairs(shingles, settings.NearDuplicateThreshold);

        var findings = new List<DuplicateFinding>();
        for (int s = 0; s < splits.Count; s++)
        {
            var within = pairs.Where(p => occurrences[p.A].Any(o => o.Split == s) && occurrences[p.B].Any(o => o.Split == s)).ToList();
            var involved = within.SelectMany(p => new[] { p.A, p.B }).Distinct().Sum(t => occurrences[t].Count(o => o.Split == s));
            findings.Add(new DuplicateFinding([splits[s].Name], within.Count, involved, Share(involved, keys[s].Length),
                within.OrderByDescending(p => p.Jaccard).ThenBy(p => p.A).Take(settings.Samples)
                    .Select(p => Sample([First(p.A, s), First(p.B, s)], p.Jaccard)).ToList()));
        }
        foreach (var (first, second) in SplitPairs(splits.Count))
        {
            var across = pairs.Where(p => (In(p.A, first) && In(p.B, second)) || (In(p.B, first) && In(p.A, second))).ToList();
            // The texts of the second split whose partner is in the first.
            var inSecond = new HashSet<int>();
            foreach (var p in across)
            {
                if (In(p.A, first) && In(p.B, second)) inSecond.Add(p.B);
                if (In(p.B, first) && In(p.A, second)) inSecond.Add(p.A);
            }
            int involved = inSecond.Sum(t => occurrences[t].Count(o => o.Split == second));
            findings.Add(new DuplicateFinding([splits[first].Name, splits[second].Name], across.Count, involved, Share(involved, keys[second].Length),
                across.OrderByDescending(p => p.Jaccard).ThenBy(p => p.A).Take(settings.Samples)
                    .Select(p => In(p.A, first) && In(p.B, second)
                        ? Sample([First(p.A, first), First(p.B, second)], p.Jaccard)
                        : Sample([First(p.B, first), First(p.A, second)], p.Jaccard)).ToList()));
        }
        return findings;

        bool In(int text, int split) => occurrences[text].Any(o => o.Split == split);
        AnalysisExample First(int text, int split) => splits[split].Examples[occurrences[text].First(o => o.Split == split).Index];
    }

    // ---- shortcuts -------------------------------------------------------------------------------------------------------

    private static (List<ShortcutToken> Listed, int Flagged) Shortcuts(IReadOnlyList<AnalysisExample> examples, Encoding[] encodings, AnalysisSettings settings)
    {
        int n = examples.Count;
        var labelCount = new Dictionary<string, int>(StringComparer.Ordinal);
        var wordCount = new Dictionary<string, int>(StringComparer.Ordinal);
        var both = new Dictionary<(string Word, string Label), int>();
        for (int i = 0; i < n; i++)
        {
            var labels = examples[i].Labels.Distinct().ToList();
            foreach (var l in labels) labelCount[l] = labelCount.GetValueOrDefault(l) + 1;
            foreach (var w in Words(examples[i], encodings[i]))
            {
                wordCount[w] = wordCount.GetValueOrDefault(w) + 1;
                foreach (var l in labels) both[(w, l)] = both.GetValueOrDefault((w, l)) + 1;
            }
        }
        var flagged = new List<ShortcutToken>();
        foreach (var ((word, label), count) in both)
        {
            int total = wordCount[word];
            if (total < settings.MinTokenCount) continue;
            double share = (double)count / total, prior = (double)labelCount[label] / n;
            if (share >= settings.ShortcutShare && share > prior)
                flagged.Add(new ShortcutToken(word, label, total, share, Math.Log2(share / prior)));
        }
        var listed = flagged.OrderByDescending(t => t.LabelShare).ThenByDescending(t => t.Count).ThenBy(t => t.Token, StringComparer.Ordinal)
            .ThenBy(t => t.Label, StringComparer.Ordinal).Take(settings.MaxShortcuts).ToList();
        return (listed, flagged.Select(t => t.Token).Distinct().Count());
    }

    /// <summary>The distinct lower-cased words of an example, as its tokenizer splits them (tokens of one word id).</summary>
    private static HashSet<string> Words(AnalysisExample example, Encoding encoding)
    {
        var words = new HashSet<string>(StringComparer.Ordinal);
        int t = 0;
        while (t < encoding.Length)
        {
            if (encoding.SequenceIds[t] is not int s || encoding.WordIds[t] is not int w) { t++; continue; }
            int start = encoding.Offsets[t].Start, end = encoding.Offsets[t].End;
            while (t + 1 < encoding.Length && encoding.SequenceIds[t + 1] == s && encoding.WordIds[t + 1] == w) end = encoding.Offsets[++t].End;
            var text = s == 0 ? example.Text : example.TextPair!;
            words.Add(text[start..end].ToLowerInvariant());
            t++;
        }
        return words;
    }

    // ---- helpers ---------------------------------------------------------------------------------------------------------

    /// <summary>(train, validation), (train, test), (validation, test): each pair of splits, the earlier first.</summary>
    private static IEnumerable<(int First, int Second)> SplitPairs(int count)
    {
        for (int a = 0; a < count; a++)
            for (int b = a + 1; b < count; b++)
                yield return (a, b);
    }

    private static DuplicateSample Sample(IEnumerable<AnalysisExample> examples, double jaccard)
    {
        var list = examples.ToList();
        return new DuplicateSample(list.Select(e => e.TextPair is null ? e.Text : $"{e.Text} || {e.TextPair}").ToList(), list.Select(e => e.Location).ToList(), jaccard);
    }

    private static double Share(int part, int total) => total == 0 ? 0 : (double)part / total;
}
