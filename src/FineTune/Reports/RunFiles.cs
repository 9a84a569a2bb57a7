using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using FineTune.Evaluation;

namespace FineTune.Reports;

/// <summary>Writing a run folder's JSON files: complete or not at all (temporary name, then rename).</summary>
internal static class RunFiles
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void WriteJsonAtomically(string path, object value) =>
        WriteTextAtomically(path, JsonSerializer.Serialize(value, Json) + "\n");

    public static void WriteTextAtomically(string path, string text) => Checkpoints.AtomicFile.WriteAllText(path, text);

    public const string RecordName = "run.json";

    /// <summary>
    /// Writes a run's metrics.json: validation and test metrics, the best and the last step, the metric for best; with
    /// slices, each split's metrics per slice ("slices": {"validation": …, "test": …}); with a fitted temperature, it.
    /// </summary>
    public static void WriteMetrics(string path, IReadOnlyDictionary<string, double>? validation, IReadOnlyDictionary<string, double>? test,
        long? bestStep, long globalStep, string? metricForBest, IReadOnlyDictionary<string, SliceReport>? slices = null, double? temperature = null)
    {
        var obj = new Dictionary<string, object?>
        {
            ["validation"] = validation,
            ["test"] = test,
            ["best_step"] = bestStep,
            ["global_step"] = globalStep,
            ["metric_for_best"] = metricForBest,
        };
        if (slices is { Count: > 0 }) obj["slices"] = slices;
        if (temperature is not null) obj["temperature"] = temperature;
        WriteJsonAtomically(path, obj);
    }

    /// <summary>Writes the metrics.json of an evaluation of a saved model: {"test": metrics, "data": the file evaluated, "slices": {"test": …}}.</summary>
    public static void WriteEvaluationMetrics(string path, IReadOnlyDictionary<string, double> metrics, string dataFile, SliceReport? slices = null)
    {
        var obj = new Dictionary<string, object> { ["test"] = metrics, ["data"] = Path.GetFullPath(dataFile) };
        if (slices is not null) obj["slices"] = new Dictionary<string, SliceReport> { ["test"] = slices };
        WriteJsonAtomically(path, obj);
    }

    public static void WriteRecord(string runFolder, RunRecord record) =>
        WriteJsonAtomically(Path.Combine(runFolder, RecordName), record);

    public static RunRecord ReadRecord(string runFolder)
    {
        var path = Path.Combine(runFolder, RecordName);
        try
        {
            return JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(path), Json) ?? throw new FineTuneException($"{path}: empty");
        }
        catch (JsonException e) { throw new FineTuneException($"{path}: not a run record: {e.Message}", e); }
    }
}
