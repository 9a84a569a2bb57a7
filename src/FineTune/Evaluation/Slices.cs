using System.Globalization;
using System.Text.Json.Serialization;

namespace FineTune.Evaluation;

/// <summary>The metrics of the examples of one slice (one value of the slice column, or one length bucket).</summary>
internal sealed record SliceResult(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("metrics")] IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// A split's metrics per slice: what the slices are (<see cref="Column"/>: a column of the data, or "length" for
/// buckets of token counts), the metric that ranks them, and the worst slice by it among those with at least
/// <see cref="SliceReport.MinWorstCount"/> examples.
/// </summary>
internal sealed record SliceReport(
    [property: JsonPropertyName("column")] string Column,
    [property: JsonPropertyName("metric")] string Metric,
    [property: JsonPropertyName("worst")] string? Worst,
    [property: JsonPropertyName("slices")] IReadOnlyList<SliceResult> Slices)
{
    /// <summary>Slices smaller than this are reported but never called the worst (their metrics are noise).</summary>
    public const int MinWorstCount = 10;
}

/// <summary>
/// Metrics per slice, streamed: one accumulator of the task's metrics per slice, fed each example's row of outputs.
/// </summary>
internal sealed class SliceAccumulator(Func<IMetricAccumulator> create)
{
    /// <summary>The name of the slice of token-length buckets (and of the column option that asks for them).</summary>
    public const string Length = "length";

    private readonly Dictionary<string, IMetricAccumulator> _slices = new(StringComparer.Ordinal);

    /// <summary>Adds one example's outputs [K] and label to its slice.</summary>
    public void Add(string slice, ReadOnlySpan<float> outputs, Data.LabelTarget label)
    {
        if (!_slices.TryGetValue(slice, out var accumulator)) _slices[slice] = accumulator = create();
        accumulator.AddBatch(outputs, [label]);
    }

    /// <summary>
    /// The report of <paramref name="column"/>'s slices, ordered by name (length buckets by length), with the worst by
    /// <paramref name="metric"/> (the lowest, or the highest for a metric where lower is better).
    /// </summary>
    public SliceReport Report(string column, string metric)
    {
        var slices = _slices.Select(kv => new SliceResult(kv.Key, kv.Value.ExampleCount, kv.Value.Compute()))
            .OrderBy(s => column == Length ? BucketStart(s.Name) : 0).ThenBy(s => s.Name, StringComparer.Ordinal).ToList();
        var eligible = slices.Where(s => s.Count >= SliceReport.MinWorstCount && s.Metrics.TryGetValue(metric, out var v) && double.IsFinite(v)).ToList();
        string? worst = eligible.Count == 0 ? null : MetricNames.HigherIsBetter(metric)
            ? eligible.MinBy(s => s.Metrics[metric])!.Name
            : eligible.MaxBy(s => s.Metrics[metric])!.Name;
        return new SliceReport(column, metric, worst, slices);
    }

    /// <summary>The bucket of a token count: 1–16, 17–32, 33–64, … (powers of two from 16).</summary>
    public static string LengthBucket(int tokens)
    {
        int upper = 16;
        while (tokens > upper) upper *= 2;
        int lower = upper == 16 ? 1 : upper / 2 + 1;
        return string.Create(CultureInfo.InvariantCulture, $"{lower}-{upper} tokens");
    }

    private static int BucketStart(string name) =>
        int.TryParse(name.Split('-')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue;
}
