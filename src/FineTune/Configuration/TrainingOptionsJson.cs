using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Configuration;

/// <summary>TrainingOptions as JSON (snake_case names, enums as strings), for checkpoints and run folders.</summary>
internal static class TrainingOptionsJson
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string Serialize(TrainingOptions options) => JsonSerializer.Serialize(options, s_json);

    public static TrainingOptions Deserialize(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainingOptions>(json, s_json) ?? throw new ModelLoadException("empty training options", source);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"not valid training options: {e.Message}", source, inner: e);
        }
    }
}
