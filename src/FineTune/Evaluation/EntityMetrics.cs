using System.Globalization;
using FineTune.Data;

namespace FineTune.Evaluation;

/// <summary>Counts and scores of one entity type. <see cref="Support"/> is the number of gold entities of the type.</summary>
public sealed record EntityTypeScore(string Type, long TruePositives, long Gold, long Predicted)
{
    public long Support => Gold;
    public double Precision => EntityMetrics.Ratio(TruePositives, Predicted);
    public double Recall => EntityMetrics.Ratio(TruePositives, Gold);
    public double F1 => EntityMetrics.HarmonicMean(Precision, Recall);
}

/// <summary>
/// Entity-level precision, recall and F1 as conlleval and seqeval (default mode) compute them, plus token accuracy,
/// accumulated over any number of sentences and batches.
/// </summary>
/// <remarks>
/// <para>
/// Entities are read from the gold and the predicted tags of each sentence by <see cref="EntityChunker"/>; a predicted
/// entity counts as correct when a gold entity has the same type, start and end. Precision = correct / predicted,
/// recall = correct / gold, F1 their harmonic mean, micro-averaged over all entities; a ratio with a zero denominator
/// is 0. Per type the same, over entities of that type (types seen in gold or predictions). Accuracy is the fraction
/// of tokens whose predicted tag equals the gold tag, <c>O</c> included. Entities never cross sentences.
/// </para>
/// <para>All values are fractions in [0, 1], as seqeval reports them (SQuAD's metrics are 0–100, as its script reports them).</para>
/// </remarks>
public sealed class EntityMetrics
{
    private readonly SortedDictionary<string, long[]> _perType = new(StringComparer.Ordinal);

    public long TruePositives { get; private set; }
    public long GoldEntities { get; private set; }
    public long PredictedEntities { get; private set; }
    public long CorrectTokens { get; private set; }
    public long Tokens { get; private set; }
    public long Sentences { get; private set; }

    public double Precision => Ratio(TruePositives, PredictedEntities);
    public double Recall => Ratio(TruePositives, GoldEntities);
    public double F1 => HarmonicMean(Precision, Recall);
    public double Accuracy => Ratio(CorrectTokens, Tokens);

    /// <summary>Scores per entity type, ordered by type (ordinal).</summary>
    public IReadOnlyList<EntityTypeScore> PerType =>
        _perType.Select(kv => new EntityTypeScore(kv.Key, kv.Value[0], kv.Value[1], kv.Value[2])).ToList();

    /// <summary>Adds one sentence: its gold tags and the predicted tags (same length; any scheme, see <see cref="EntityChunker"/>).</summary>
    public void Add(IReadOnlyList<string> gold, IReadOnlyList<string> predicted)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        if (gold.Count != predicted.Count)
            throw new ArgumentException($"A sentence has {gold.Count} gold tags but {predicted.Count} predicted tags.", nameof(predicted));

        var goldEntities = EntityChunker.Extract(gold);
        var predictedEntities = EntityChunker.Extract(predicted);
        var goldSet = goldEntities.ToHashSet();
        foreach (var entity in goldEntities) Counts(entity.Type)[1]++;
        foreach (var entity in predictedEntities)
        {
            var counts = Counts(entity.Type);
            counts[2]++;
            if (goldSet.Contains(entity))
            {
                counts[0]++;
                TruePositives++;
            }
        }
        GoldEntities += goldEntities.Count;
        PredictedEntities += predictedEntities.Count;
        for (var i = 0; i < gold.Count; i++)
            if (string.Equals(gold[i], predicted[i], StringComparison.Ordinal)) CorrectTokens++;
        Tokens += gold.Count;
        Sentences++;
    }

    /// <summary>Adds every sentence of a batch.</summary>
    public void AddRange(IEnumerable<IReadOnlyList<string>> gold, IEnumerable<IReadOnlyList<string>> predicted)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        using var g = gold.GetEnumerator();
        using var p = predicted.GetEnumerator();
        while (true)
        {
            var hasGold = g.MoveNext();
            if (hasGold != p.MoveNext()) throw new ArgumentException("The batch has different numbers of gold and predicted sentences.");
            if (!hasGold) return;
            Add(g.Current, p.Current);
        }
    }

    /// <summary>
    /// The values for metrics.json: <c>precision</c>, <c>recall</c>, <c>f1</c>, <c>accuracy</c>, then for each type
    /// (ordinal order) <c>TYPE_precision</c>, <c>TYPE_recall</c>, <c>TYPE_f1</c> and <c>TYPE_support</c> (gold count).
    /// </summary>
    public IReadOnlyDictionary<string, double> ToDictionary()
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["precision"] = Precision,
            ["recall"] = Recall,
            ["f1"] = F1,
            ["accuracy"] = Accuracy,
        };
        foreach (var score in PerType)
        {
            values[$"{score.Type}_precision"] = score.Precision;
            values[$"{score.Type}_recall"] = score.Recall;
            values[$"{score.Type}_f1"] = score.F1;
            values[$"{score.Type}_support"] = score.Support;
        }
        return values;
    }

    /// <summary>The names <see cref="ToDictionary"/> can report for entities of <paramref name="types"/>.</summary>
    internal static IReadOnlyList<string> Names(IEnumerable<string> types) =>
        ["precision", "recall", "f1", "accuracy", .. types.SelectMany(t => new[] { $"{t}_precision", $"{t}_recall", $"{t}_f1", $"{t}_support" })];

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"precision {Precision:F4} recall {Recall:F4} f1 {F1:F4} accuracy {Accuracy:F4} ({GoldEntities} gold, {PredictedEntities} predicted, {TruePositives} correct entities)");

    private long[] Counts(string type)
    {
        if (!_perType.TryGetValue(type, out var counts)) _perType[type] = counts = new long[3];
        return counts;
    }

    internal static double Ratio(long numerator, long denominator) => denominator == 0 ? 0 : (double)numerator / denominator;

    internal static double HarmonicMean(double precision, double recall) =>
        precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
}
