using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Tests.Checkpoints;

public class ModelCatalogTests
{
    [Theory]
    [InlineData("all-MiniLM-L6-v2", true, "mean")]
    [InlineData("snowflake-arctic-embed-xs", false, "cls")]
    public void CatalogNameResolvesToAnImportedHuggingFaceFolder(string name, bool pooler, string sentencePooling)
    {
        var folder = ModelCatalog.Resolve(name);
        var config = ModelFamilies.LoadConfig(Path.Combine(folder, "config.json"));
        Assert.Equal(("bert", 384, 6, 12, 1536, 30522), (config.ModelType, config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads, config.IntermediateSize, config.VocabSize));
        Assert.Equal(30522, File.ReadAllLines(Path.Combine(folder, "vocab.txt")).Length);
        var header = SafeTensors.ReadHeader(Path.Combine(folder, "model.safetensors"));
        Assert.Equal(pooler, header.Entries.Any(e => e.Name == "pooler.dense.weight"));
        // The sentence-transformers files of the original repository say how the model was trained to be read.
        Assert.Equal(sentencePooling, SentenceTransformersFolder.PoolingMode(folder));
        // Resolved again, the same folder is reused rather than imported anew.
        var weights = new FileInfo(Path.Combine(folder, "model.safetensors")).LastWriteTimeUtc;
        Assert.Equal(folder, ModelCatalog.Resolve(name));
        Assert.Equal(weights, new FileInfo(Path.Combine(folder, "model.safetensors")).LastWriteTimeUtc);
        Assert.True(ModelCatalog.Status(ModelCatalog.Find(name)!).Imported);
    }

    [Fact]
    public void ImportedTensorsEqualTheOnnxInitializers()
    {
        var entry = ModelCatalog.Find("all-MiniLM-L6-v2")!;
        using var dir = new TestSupport.TempDir();
        var folder = dir.File("minilm");
        ModelCatalog.Import(entry, folder);
        var asm = PackagedModelAssembly.Find(entry.PackageId, entry.PackageVersion)!;
        using var onnx = asm.OpenResource(asm.FindResource(".model.onnx")!);
        var model = OnnxModelReader.Read(onnx, "minilm.onnx");
        var initializers = model.Graph.Initializers.ToDictionary(i => i.Name);
        var import = OnnxBertImporter.Import(model);
        var saved = SafeTensors.Load(Path.Combine(folder, "model.safetensors"));
        Assert.Equal(import.StateDict.Keys.Order(StringComparer.Ordinal), saved.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, source) in import.Sources)
        {
            using var t = saved[key];
            var init = initializers[source.InitializerName];
            using var original = tensor(init.ToFloatArray()).view(init.Dims);
            using var expected = source.Transposed ? original.t().contiguous() : original.alias();
            Assert.True(expected.shape.SequenceEqual(t.shape), key);
            Assert.True(expected.equal(t).all().item<bool>(), $"{key} differs from initializer {source.InitializerName}");
        }
        Assert.Contains(import.Sources.Values, s => s.Transposed);
    }

    [Fact]
    public void UnknownNameListsTheCatalog()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelCatalog.Resolve("bert-base-nonexistent"));
        Assert.Contains("'bert-base-nonexistent' is neither a model folder nor a catalog name", e.Message);
        Assert.Contains("all-MiniLM-L6-v2", e.Message);
        Assert.Contains("snowflake-arctic-embed-xs", e.Message);
    }

    [Fact]
    public void HuggingFaceIdAlsoResolves()
    {
        Assert.Equal(ModelCatalog.Find("all-MiniLM-L6-v2"), ModelCatalog.Find("sentence-transformers/all-MiniLM-L6-v2"));
    }
}
