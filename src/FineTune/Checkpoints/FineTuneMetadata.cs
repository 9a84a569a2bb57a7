using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace FineTune.Checkpoints;

/// <summary>
/// finetune.json in a saved model folder: what the model was fine-tuned for (the task's name) and with which input
/// length, plus the task's own settings that prediction should reuse (a multi-label threshold, a similarity score
/// scale, a QA document stride), so that predict and evaluate use the same settings by default. Hugging Face
/// ignores the file.
/// </summary>
internal sealed record FineTuneMetadata
{
    public const string FileName = "finetune.json";

    [JsonPropertyName("task")] public required string Task { get; init; }
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    [JsonPropertyName("base_model")] public string? BaseModel { get; init; }

    /// <summary>The task's own settings, one top-level key each (threshold, score_scale, doc_stride, …).</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Settings { get; init; }

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>A task setting as a number, or null when the file does not have it.</summary>
    public double? Number(string key) =>
        Settings is not null && Settings.TryGetValue(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    /// <summary>A copy with a task setting added (a null value leaves it out).</summary>
    public FineTuneMetadata With(string key, double? value)
    {
        if (value is null) return this;
        var settings = new Dictionary<string, JsonElement>(Settings ?? [], StringComparer.Ordinal)
        {
            [key] = JsonSerializer.SerializeToElement(value.Value),
        };
        return this with { Settings = settings };
    }

    public void Save(string folder) =>
        File.WriteAllText(Path.Combine(folder, FileName), JsonSerializer.Serialize(this, s_json) + "\n");

    /// <summary>
    /// The metadata of a model folder (finetune.json), or of an export folder (config.json's "finetune" object, which
    /// holds the same keys); null when it has none (a model not written by FineTune).
    /// </summary>
    public static FineTuneMetadata? Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return FromExportConfig(folder);
        try { return JsonSerializer.Deserialize<FineTuneMetadata>(File.ReadAllText(path), s_json); }
        catch (JsonException e) { throw new ModelLoadException($"not valid: {e.Message}", path, inner: e); }
    }

    /// <summary>config.json's "finetune" object of an export folder (a catalog model's has no max_length), or null.</summary>
    private static FineTuneMetadata? FromExportConfig(string folder)
    {
        var path = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) return null;
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject config || config["finetune"] is not JsonObject ours) return null;
            var copy = JsonNode.Parse(ours.ToJsonString())!.AsObject();
            if (copy["max_length"] is null) copy.Remove("max_length");
            return copy.Deserialize<FineTuneMetadata>(s_json);
        }
        catch (JsonException e) { throw new ModelLoadException($"not valid: {e.Message}", path, "finetune", e); }
    }
}
