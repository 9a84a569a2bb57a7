using System.Text;
using FineTune.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Checkpoints;

/// <summary>What loading a checkpoint into a model did, in the spirit of Hugging Face's load warnings.</summary>
public sealed record LoadReport(
    string Source,
    int LoadedCount,
    IReadOnlyList<string> NewlyInitialized,
    IReadOnlyList<string> Unused,
    IReadOnlyList<string> ResizedAndReinitialized)
{
    /// <summary>
    /// For a sequence head: why it reads what it reads (the [CLS] token or the mean of the token states), in words for
    /// the run's log; set by the sequence tasks, null for other tasks.
    /// </summary>
    public string? PoolingReason { get; init; }

    /// <summary>A human-readable account: what was loaded, what is new (and needs training), what was dropped.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append($"Loaded {LoadedCount} tensors from {Source}.");
        if (NewlyInitialized.Count > 0)
            sb.Append($"\nNewly initialised (not in the checkpoint; train before use; {NewlyInitialized.Count} tensors): {Abbreviate(NewlyInitialized)}");
        if (ResizedAndReinitialized.Count > 0)
            sb.Append($"\nRe-initialised because their shapes differ from the checkpoint: {string.Join(", ", ResizedAndReinitialized)}");
        if (Unused.Count > 0)
            sb.Append($"\nIn the checkpoint but not used by this model: {Abbreviate(Unused)}");
        return sb.ToString();
    }

    /// <summary>
    /// Tensor names, shortened where they repeat: the tensors of one module as "module.{weight,bias}", and the same
    /// tensor of consecutive layers as "….layer.{0-5}.…" (a decoder's 60 new cross-attention tensors read as five names).
    /// </summary>
    internal static string Abbreviate(IEnumerable<string> names)
    {
        static List<(string Key, List<string> Parts)> Group(IEnumerable<string> items, Func<string, (string Key, string Part)> split)
        {
            var groups = new List<(string Key, List<string> Parts)>();
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var item in items)
            {
                var (key, part) = split(item);
                if (!index.TryGetValue(key, out var at)) { index[key] = at = groups.Count; groups.Add((key, [])); }
                groups[at].Parts.Add(part);
            }
            return groups;
        }
        // Leaves of one module: "a.b.weight", "a.b.bias" -> "a.b.{weight,bias}".
        var modules = Group(names, n => n.LastIndexOf('.') is var dot and > 0 ? (n[..dot], n[(dot + 1)..]) : (n, ""))
            .Select(g => g.Parts.Count == 1 ? (g.Parts[0].Length == 0 ? g.Key : $"{g.Key}.{g.Parts[0]}") : $"{g.Key}.{{{string.Join(",", g.Parts)}}}");
        // The same name in several layers: "x.layer.0.y", "x.layer.1.y" -> "x.layer.{0-1}.y".
        var layered = Group(modules, n => System.Text.RegularExpressions.Regex.Match(n, @"\.layer\.(\d+)\.") is { Success: true } m
            ? (n[..m.Groups[1].Index] + "#" + n[(m.Groups[1].Index + m.Groups[1].Length)..], m.Groups[1].Value)
            : (n, ""));
        return string.Join(", ", layered.Select(g =>
        {
            if (g.Parts.Count == 1) return g.Parts[0].Length == 0 ? g.Key : g.Key.Replace("#", g.Parts[0], StringComparison.Ordinal);
            var layers = g.Parts.Select(int.Parse).ToList();
            bool run = layers.Zip(layers.Skip(1)).All(p => p.Second == p.First + 1);
            return g.Key.Replace("#", run ? $"{{{layers[0]}-{layers[^1]}}}" : $"{{{string.Join(",", layers)}}}", StringComparison.Ordinal);
        }));
    }
}

/// <summary>
/// Loads a state dict into a model strictly: only an explicit list of differences is allowed and reported
/// (a new task head, a pooler the checkpoint lacks, an unused pooler, pre-training or other task heads, position-id
/// buffers); any other missing, unexpected or mis-shaped key is an error naming the keys and shapes.
/// </summary>
internal static class WeightLoader
{
    /// <summary>
    /// Loads <paramref name="checkpoint"/> into <paramref name="model"/>. <paramref name="ignoreMismatchedHeadSizes"/>
    /// allows a head whose shape differs (another number of labels) to be re-initialised, as HF's ignore_mismatched_sizes.
    /// </summary>
    /// <param name="isNew">Keys of the model that a checkpoint of this kind does not have (a decoder's cross-attention):
    /// when missing they are reported as newly initialised, as a new head is.</param>
    public static LoadReport Load(nn.Module model, IReadOnlyDictionary<string, Tensor> checkpoint, string source,
        bool ignoreMismatchedHeadSizes = false, Func<string, bool>? isNew = null)
    {
        var family = model switch
        {
            TaskModel tm => tm.Family,
            TransformerEncoder e => ModelFamilies.Of(e.Config),
            _ => throw new ArgumentException($"not a task model or an encoder: {model.GetType().Name}", nameof(model)),
        };
        var (prefix, headPrefixes) = model switch
        {
            TaskModel tm => (family.BaseModelPrefix + ".", tm.HeadPrefixes),
            _ => ("", (IReadOnlyList<string>)[]),
        };
        var encoderHasPooler = model switch
        {
            TaskModel tm => tm.Encoder.HasPooler,
            TransformerEncoder e => e.HasPooler,
            _ => false,
        };
        string basePrefix = family.BaseModelPrefix + ".";

        // Normalise checkpoint names: old TF-converted LayerNorm names, and the base-model prefix.
        var renamed = new Dictionary<string, (string Original, Tensor Value)>();
        bool checkpointHasPrefix = checkpoint.Keys.Any(k => k.StartsWith(basePrefix, StringComparison.Ordinal));
        foreach (var (key, value) in checkpoint)
        {
            var k = key.EndsWith(".gamma", StringComparison.Ordinal) ? key[..^6] + ".weight"
                : key.EndsWith(".beta", StringComparison.Ordinal) ? key[..^5] + ".bias" : key;
            if (prefix.Length > 0 && !checkpointHasPrefix && !IsHeadKey(k, headPrefixes))
                k = prefix + k;                        // a bare encoder checkpoint loaded under a task head
            else if (prefix.Length == 0 && checkpointHasPrefix)
            {
                if (!k.StartsWith(basePrefix, StringComparison.Ordinal)) { renamed[key] = (key, value); continue; }
                k = k[basePrefix.Length..];            // a task checkpoint loaded as a bare encoder
            }
            renamed[k] = (key, value);
        }

        var target = model.state_dict();
        var missing = target.Keys.Where(k => !renamed.ContainsKey(k)).ToList();
        var unexpected = renamed.Keys.Where(k => !target.ContainsKey(k)).ToList();
        var mismatched = target.Keys.Where(k => renamed.TryGetValue(k, out var c) && !c.Value.shape.SequenceEqual(target[k].shape)).ToList();

        string Local(string k) => prefix.Length > 0 && k.StartsWith(prefix, StringComparison.Ordinal) ? k[prefix.Length..] : k;

        var newHead = missing.Where(k => IsHeadKey(k, headPrefixes) || isNew?.Invoke(k) == true).ToList();
        var newPooler = missing.Where(k => Local(k).StartsWith("pooler.", StringComparison.Ordinal) && encoderHasPooler).ToList();
        var badMissing = missing.Except(newHead).Except(newPooler).ToList();
        var droppable = unexpected.Where(k => family.DroppablePrefixes.Any(p => Local(k).StartsWith(p, StringComparison.Ordinal)) || k.EndsWith("position_ids", StringComparison.Ordinal)).ToList();
        var badUnexpected = unexpected.Except(droppable).ToList();
        var headResized = mismatched.Where(k => IsHeadKey(k, headPrefixes) && ignoreMismatchedHeadSizes).ToList();
        var badShapes = mismatched.Except(headResized).ToList();

        if (badMissing.Count > 0 || badUnexpected.Count > 0 || badShapes.Count > 0)
        {
            var sb = new StringBuilder("the checkpoint does not fit the model");
            if (badMissing.Count > 0)
                sb.Append($"; missing from the checkpoint ({badMissing.Count}): ")
                  .Append(string.Join(", ", badMissing.Take(20).Select(k => $"{k} {Shape(target[k])}")));
            if (badUnexpected.Count > 0)
                sb.Append($"; not part of this model ({badUnexpected.Count}): ")
                  .Append(string.Join(", ", badUnexpected.Take(20).Select(k => $"{renamed[k].Original} {Shape(renamed[k].Value)}")));
            if (badShapes.Count > 0)
                sb.Append($"; wrong shape ({badShapes.Count}): ")
                  .Append(string.Join(", ", badShapes.Take(20).Select(k => $"{renamed[k].Original} is {Shape(renamed[k].Value)} but the model needs {Shape(target[k])}")));
            if (badShapes.Any(k => IsHeadKey(k, headPrefixes)))
                sb.Append(" (a head with another number of labels can be re-initialised with ModelLoadOptions.IgnoreMismatchedSizes)");
            var firstKey = badMissing.Concat(badUnexpected.Select(k => renamed[k].Original)).Concat(badShapes).First();
            throw new ModelLoadException(sb.ToString(), source, firstKey);
        }

        int loaded = 0;
        // The scope holds every temporary tensor until the copies are done: an unreferenced TorchSharp tensor can be
        // finalized (its native tensor freed) on another thread while a native call still uses it.
        using (no_grad())
        using (NewDisposeScope())
        {
            foreach (var (key, parameter) in target)
            {
                if (!renamed.TryGetValue(key, out var c) || headResized.Contains(key)) continue;
                var value = c.Value.to(parameter.dtype);
                parameter.copy_(value);
                GC.KeepAlive(value);
                loaded++;
            }
        }
        return new LoadReport(source, loaded,
            newHead.Concat(newPooler).ToList(),
            droppable.Select(k => renamed[k].Original).ToList(),
            headResized);
    }

    private static bool IsHeadKey(string key, IReadOnlyList<string> headPrefixes) =>
        headPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal));

    private static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}
