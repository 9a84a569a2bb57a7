using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Training;

/// <summary>
/// Where training is: the optimizer step, the data position (epoch and next micro-batch), the best evaluation so
/// far and the log. Saved in every checkpoint as trainer_state.json; <see cref="FormatVersion"/> guards resumes.
/// </summary>
public sealed class TrainerState
{
    public const int CurrentFormatVersion = 1;

    [JsonPropertyName("format_version")] public int FormatVersion { get; set; } = CurrentFormatVersion;
    /// <summary>The run the checkpoint belongs to (rotation deletes only the run's own checkpoints); null in checkpoints of earlier versions.</summary>
    [JsonPropertyName("run_id")] public string? RunId { get; set; }
    [JsonPropertyName("global_step")] public long GlobalStep { get; set; }
    [JsonPropertyName("max_steps")] public long MaxSteps { get; set; }
    [JsonPropertyName("epoch")] public int Epoch { get; set; }
    /// <summary>The next micro-batch of <see cref="Epoch"/> to train on.</summary>
    [JsonPropertyName("batch_in_epoch")] public int BatchInEpoch { get; set; }
    [JsonPropertyName("examples_seen")] public long ExamplesSeen { get; set; }
    [JsonPropertyName("metric_for_best")] public string? MetricForBest { get; set; }
    [JsonPropertyName("best_metric")] public double? BestMetric { get; set; }
    [JsonPropertyName("best_step")] public long? BestStep { get; set; }
    [JsonPropertyName("evaluations_without_improvement")] public int EvaluationsWithoutImprovement { get; set; }
    [JsonPropertyName("stopped_early")] public bool StoppedEarly { get; set; }
    /// <summary>libtorch's CPU random generator state (dropout), base64.</summary>
    [JsonPropertyName("rng_state")] public string? RngState { get; set; }
    [JsonPropertyName("log_history")] public List<Dictionary<string, double>> LogHistory { get; set; } = [];

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    public static TrainerState Load(string path)
    {
        TrainerState? state;
        try { state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelLoadException($"not a valid trainer state: {e.Message}", path, inner: e); }
        catch (FileNotFoundException) { throw new ModelLoadException("trainer_state.json not found: not a checkpoint folder", path); }
        if (state is null) throw new ModelLoadException("empty trainer state", path);
        if (state.FormatVersion != CurrentFormatVersion)
            throw new ModelLoadException($"checkpoint format version {state.FormatVersion}; this version reads {CurrentFormatVersion}", path, "format_version");
        return state;
    }
}
