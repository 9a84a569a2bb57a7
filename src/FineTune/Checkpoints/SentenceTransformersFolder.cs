using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Checkpoints;

/// <summary>
/// The files sentence-transformers keeps beside a Hugging Face model: modules.json lists the modules (the
/// transformer, then Pooling, optionally Normalize) and the Pooling module's folder has config.json naming its mode.
/// A folder with them is a sentence-embedding model; its pooling mode is how its training read the token states.
/// </summary>
internal static class SentenceTransformersFolder
{
    private const string PoolingType = "sentence_transformers.models.Pooling";
    private const string NormalizeType = "sentence_transformers.models.Normalize";

    /// <summary>The pooling modes and the Pooling config's flag of each.</summary>
    private static readonly (string Mode, string Key)[] s_modes =
    [
        ("cls", "pooling_mode_cls_token"), ("mean", "pooling_mode_mean_tokens"), ("max", "pooling_mode_max_tokens"),
        ("mean_sqrt_len", "pooling_mode_mean_sqrt_len_tokens"),
    ];

    /// <summary>
    /// The pooling mode of a sentence-transformers folder: "mean", "cls", "max" or "mean_sqrt_len"; null when the
    /// folder has no Pooling module (a plain Hugging Face model). Unreadable files are errors naming the file.
    /// </summary>
    public static string? PoolingMode(string folder)
    {
        var poolingFolder = PoolingFolder(folder);
        if (poolingFolder is null) return null;
        var path = Path.Combine(poolingFolder, "config.json");
        if (!File.Exists(path)) return null;
        var config = ReadObject(path);
        var modes = s_modes
            .Where(m => config[m.Key] is JsonValue v && v.GetValueKind() == JsonValueKind.True)
            .Select(m => m.Mode)
            .ToList();
        if (Text(config["pooling_mode"]) is { } named)
            modes = [named];
        return modes.Count == 1 ? modes[0] : null;
    }

    /// <summary>The Pooling module's folder from modules.json, else 1_Pooling when it exists; null when neither.</summary>
    private static string? PoolingFolder(string folder)
    {
        var modules = Path.Combine(folder, "modules.json");
        if (File.Exists(modules))
        {
            if (Parse(modules) is not JsonArray list)
                throw new ModelLoadException("must hold a JSON array of modules", modules);
            foreach (var module in list.OfType<JsonObject>())
                if (Text(module["type"]) == PoolingType && Text(module["path"]) is { } p)
                    return Path.Combine(folder, p);
            return null;
        }
        var conventional = Path.Combine(folder, "1_Pooling");
        return Directory.Exists(conventional) ? conventional : null;
    }

    /// <summary>Writes modules.json and the Pooling (and optionally Normalize) module's files into <paramref name="folder"/>.</summary>
    public static void Write(string folder, string poolingMode, int hiddenSize, bool normalize)
    {
        var modules = new JsonArray
        {
            new JsonObject { ["idx"] = 0, ["name"] = "0", ["path"] = "", ["type"] = "sentence_transformers.models.Transformer" },
            new JsonObject { ["idx"] = 1, ["name"] = "1", ["path"] = "1_Pooling", ["type"] = PoolingType },
        };
        if (normalize)
            modules.Add(new JsonObject { ["idx"] = 2, ["name"] = "2", ["path"] = "2_Normalize", ["type"] = NormalizeType });
        var indented = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(folder, "modules.json"), modules.ToJsonString(indented) + "\n");
        Directory.CreateDirectory(Path.Combine(folder, "1_Pooling"));
        var pooling = new JsonObject { ["word_embedding_dimension"] = hiddenSize };
        foreach (var (mode, key) in s_modes)
            pooling[key] = mode == poolingMode;
        File.WriteAllText(Path.Combine(folder, "1_Pooling", "config.json"), pooling.ToJsonString(indented) + "\n");
        if (normalize)
            Directory.CreateDirectory(Path.Combine(folder, "2_Normalize"));
    }

    private static string? Text(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    private static JsonObject ReadObject(string path) =>
        Parse(path) as JsonObject ?? throw new ModelLoadException("must hold a JSON object", path);

    private static JsonNode? Parse(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException e) { throw new ModelLoadException($"cannot read: {e.Message}", path, inner: e); }
        try { return JsonNode.Parse(text); }
        catch (JsonException e) { throw new ModelLoadException($"not valid JSON: {e.Message}", path, inner: e); }
    }
}
