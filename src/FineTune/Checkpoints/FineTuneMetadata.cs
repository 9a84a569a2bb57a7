using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Checkpoints;

/// <summary>
/// finetune.json in a saved model folder: what the model was fine-tuned for and with which input length, so that
/// predict and evaluate use the same settings by default. Hugging Face ignores the file.
/// </summary>
public sealed record FineTuneMetadata
{
    public const string FileName = "finetune.json";

    [JsonPropertyName("task")] public required string Task { get; init; }
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    [JsonPropertyName("threshold")] public double? Threshold { get; init; }
    [JsonPropertyName("score_scale")] public double? ScoreScale { get; init; }
    [JsonPropertyName("base_model")] public string? BaseModel { get; init; }

    public void Save(string folder) =>
        File.WriteAllText(Path.Combine(folder, FileName), JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }) + "\n");

    /// <summary>The metadata of a model folder, or null when it has none (a model not written by FineTune).</summary>
    public static FineTuneMetadata? Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<FineTuneMetadata>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelLoadException($"not valid: {e.Message}", path, inner: e); }
    }
}
