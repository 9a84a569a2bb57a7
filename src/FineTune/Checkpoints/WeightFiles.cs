using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace FineTune.Checkpoints;

/// <summary>
/// Finds and reads the weights of a Hugging Face model folder: model.safetensors, a sharded
/// model.safetensors.index.json, or (only when the caller allows pickle, which can run code) pytorch_model.bin.
/// </summary>
internal static class WeightFiles
{
    public const string SafeTensorsName = "model.safetensors";
    public const string SafeTensorsIndexName = "model.safetensors.index.json";
    public const string PickleName = "pytorch_model.bin";
    public const string PickleIndexName = "pytorch_model.bin.index.json";

    /// <summary>The weight file(s) a folder holds, or an error naming the folder and listing what is there.</summary>
    public static IReadOnlyList<string> Locate(string folder, bool allowPickle)
    {
        if (!Directory.Exists(folder))
            throw new ModelLoadException("model folder not found", folder);
        var single = Path.Combine(folder, SafeTensorsName);
        if (File.Exists(single)) return [single];
        var index = Path.Combine(folder, SafeTensorsIndexName);
        if (File.Exists(index)) return ShardsOf(index);

        var pickle = Path.Combine(folder, PickleName);
        var pickleIndex = Path.Combine(folder, PickleIndexName);
        if (File.Exists(pickle) || File.Exists(pickleIndex))
        {
            if (!allowPickle)
                throw new ModelLoadException(
                    $"the folder has only {(File.Exists(pickle) ? PickleName : PickleIndexName)}, a Python pickle that can run code when read. " +
                    "Convert it to model.safetensors, or allow pickle explicitly (ModelLoadOptions.AllowPickle) if you trust its source",
                    folder);
            return File.Exists(pickle) ? [pickle] : ShardsOf(pickleIndex);
        }
        var present = Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        throw new ModelLoadException(
            $"no weights: expected {SafeTensorsName} or {SafeTensorsIndexName}; the folder holds: " +
            (present.Count == 0 ? "nothing" : string.Join(", ", present)), folder);
    }

    private static IReadOnlyList<string> ShardsOf(string indexPath)
    {
        JsonObject map;
        try
        {
            map = JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"] as JsonObject
                  ?? throw new ModelLoadException("has no \"weight_map\" object", indexPath, "weight_map");
        }
        catch (JsonException e) { throw new ModelLoadException($"not valid JSON: {e.Message}", indexPath, inner: e); }
        var folder = Path.GetDirectoryName(indexPath)!;
        var shards = map.Select(kv => kv.Value?.GetValue<string>() ?? throw new ModelLoadException("shard name is not a string", indexPath, kv.Key))
            .Distinct().Select(name => Path.Combine(folder, name)).ToList();
        foreach (var shard in shards)
            if (!File.Exists(shard))
                throw new ModelLoadException($"the index names shard '{Path.GetFileName(shard)}', which is not in the folder", indexPath);
        return shards;
    }

    /// <summary>Loads every tensor of the folder's weights onto the CPU, checking a sharded index against its shards.</summary>
    public static Dictionary<string, Tensor> Load(string folder, bool allowPickle = false)
    {
        var files = Locate(folder, allowPickle);
        var result = new Dictionary<string, Tensor>();
        foreach (var file in files)
        {
            var part = file.EndsWith(".bin", StringComparison.Ordinal) ? LoadPickle(file) : SafeTensors.Load(file);
            foreach (var (k, v) in part)
            {
                if (!result.TryAdd(k, v))
                    throw new ModelLoadException("the key appears in more than one shard", file, k);
            }
        }
        var index = Path.Combine(folder, SafeTensorsIndexName);
        if (files.Count > 1 || (files.Count == 1 && File.Exists(index) && !File.Exists(Path.Combine(folder, SafeTensorsName))))
        {
            var expected = (JsonNode.Parse(File.ReadAllText(index))!["weight_map"] as JsonObject)!;
            foreach (var (key, _) in expected)
                if (!result.ContainsKey(key))
                    throw new ModelLoadException("listed in the index but found in no shard", index, key);
        }
        return result;
    }

    private static Dictionary<string, Tensor> LoadPickle(string file)
    {
        try
        {
            var raw = TorchSharp.PyBridge.PyTorchUnpickler.UnpickleStateDict(file);
            var result = new Dictionary<string, Tensor>();
            foreach (System.Collections.DictionaryEntry e in raw)
                if (e.Value is Tensor t) result[(string)e.Key] = t;
            return result;
        }
        catch (Exception e) when (e is not FineTuneException)
        {
            throw new ModelLoadException($"cannot read the PyTorch pickle: {e.Message}", file, inner: e);
        }
    }
}
