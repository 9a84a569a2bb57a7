using System.Diagnostics;
using System.Text.Json.Nodes;
using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Modeling;
using FineTune.Tests.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;

namespace FineTune.Tests.Export;

/// <summary>
/// The ONNX export of every task over every family layout (BERT, DistilBERT, ELECTRA with its embedding projection,
/// RoBERTa with positions after the padding index): ONNX Runtime on the export against TorchSharp in fp32 on 100 real
/// SST-2 sentences (half of them as pairs) in padded batches, and the graphs checked by python3-onnx.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public sealed class OnnxExportTests : IClassFixture<OnnxExportTests.Exports>
{
    private readonly Exports _exports;

    public OnnxExportTests(Exports exports) => _exports = exports;

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var family in Families)
            foreach (var task in Tasks)
                data.Add(family, task);
        return data;
    }

    internal static readonly string[] Families = ["bert", "distilbert", "electra", "roberta"];
    internal static readonly string[] Tasks = ["classification", "multi-label", "regression", "similarity", "token-classification", "question-answering"];

    /// <summary>
    /// The export's outputs equal TorchSharp's within 1e-4: both compute the same operations in fp32 on values of
    /// order 1 (hidden 32, 2 layers), where different summation orders differ by a few float32 ulps per layer.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void TheExportComputesWhatTheModelComputes(string family, string task)
    {
        var (folder, export) = _exports.Get(family, task);
        using var model = TestSupport.Task(task).LoadForPrediction(folder, CPU, null);
        using var session = new InferenceSession(Path.Combine(export, "onnx", "model.onnx"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(export, "config.json")))!;
        Assert.Equal(task, (string)config["finetune"]!["task"]!);
        bool types = session.InputMetadata.ContainsKey("token_type_ids");
        Assert.Equal(family is "bert" or "electra", types);
        Assert.Equal(["input_ids", "attention_mask", .. types ? new[] { "token_type_ids" } : []], session.InputMetadata.Keys);
        Assert.Equal(["batch_size", "sequence_length"], session.InputMetadata["input_ids"].SymbolicDimensions);
        int examples = 0;
        double worst = 0;
        foreach (var batch in _exports.Batches(model.Config.PadTokenId, pairs: family != "roberta" && family != "distilbert"))
        {
            examples += batch.Size;
            using var scope = NewDisposeScope();
            using var _ = inference_mode();
            var input = new ModelInput(tensor(batch.Ids).view(batch.Size, batch.Length), tensor(batch.Mask).view(batch.Size, batch.Length),
                tensor(batch.Types).view(batch.Size, batch.Length));
            var expected = Expected(model, input, task);
            var feeds = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(batch.Ids, [batch.Size, batch.Length])),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(batch.Mask, [batch.Size, batch.Length])),
            };
            if (types) feeds.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(batch.Types, [batch.Size, batch.Length])));
            using var results = session.Run(feeds);
            Assert.Equal(expected.Keys, results.Select(r => r.Name));
            foreach (var r in results)
            {
                var actual = r.AsTensor<float>();
                var (values, shape) = expected[r.Name];
                Assert.Equal(shape, actual.Dimensions.ToArray().Select(d => (long)d).ToArray());
                var flat = actual.ToArray();
                for (int i = 0; i < flat.Length; i++) worst = Math.Max(worst, Math.Abs(flat[i] - values[i]));
            }
        }
        Assert.True(examples >= 100, $"{examples} examples");
        Assert.True(worst <= 1e-4, $"{family} {task}: max |ONNX Runtime - TorchSharp| = {worst:E2}");
    }

    private static Dictionary<string, (float[] Values, long[] Shape)> Expected(TaskModel model, ModelInput input, string task)
    {
        static (float[], long[]) Of(TorchSharp.torch.Tensor t) => (t.contiguous().data<float>().ToArray(), t.shape);
        var output = model.forward(input).Logits;
        return task switch
        {
            "token-classification" or "classification" or "multi-label" or "regression" => new() { ["logits"] = Of(output) },
            "question-answering" => new() { ["start_logits"] = Of(output[.., .., 0]), ["end_logits"] = Of(output[.., .., 1]) },
            _ => new() { ["last_hidden_state"] = Of(model.Encoder.call(input).LastHiddenState), ["sentence_embedding"] = Of(output) },
        };
    }

    /// <summary>
    /// python3-onnx's checker (with full shape inference) accepts every export, float32 and int8; the test fails
    /// with what to install when python3-onnx is missing.
    /// </summary>
    [Fact]
    public void OnnxCheckerAcceptsEveryExport()
    {
        var files = new List<string>();
        foreach (var family in Families)
            foreach (var task in Tasks)
                files.AddRange(Directory.GetFiles(Path.Combine(_exports.Get(family, task).Export, "onnx"), "*.onnx"));
        Assert.Contains(files, f => f.EndsWith("model_quantized.onnx", StringComparison.Ordinal));
        var (code, output) = Python("import onnx, sys\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(p, full_check=True)\nprint('checked', len(sys.argv) - 1)", files);
        Assert.True(code == 0, output);
        Assert.Contains($"checked {files.Count}", output);
    }

    /// <summary>Runs Debian's python3 with python3-onnx; a missing module fails the test saying what to install.</summary>
    internal static (int Code, string Output) Python(string script, IEnumerable<string> args)
    {
        const string python = "/usr/bin/python3";
        Assert.True(File.Exists(python), "Debian's /usr/bin/python3 is missing: apt-get install python3-onnx (.ci/run installs it)");
        var check = Process.Start(new ProcessStartInfo(python, ["-c", "import onnx"]) { RedirectStandardError = true })!;
        check.WaitForExit();
        Assert.True(check.ExitCode == 0, "python3-onnx is not installed: apt-get install python3-onnx (.ci/run installs it); the ONNX checker cannot run");
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }

    /// <summary>
    /// The int8 export is about a quarter of the float32 one (one byte per weight instead of four, plus a float32 scale
    /// per word-embedding row: 1/E of the table, 1/16 for ELECTRA's tiny embeddings, hence the bound of 1/4 + 1/16 + 2%),
    /// runs in ONNX Runtime, and stays near the float32 export: per-column int8 weights and uint8 activations keep each
    /// product within a few percent of its range.
    /// </summary>
    [Theory]
    [InlineData("bert", "classification")]
    [InlineData("distilbert", "token-classification")]
    [InlineData("roberta", "question-answering")]
    [InlineData("electra", "similarity")]
    public void TheInt8ExportIsSmallAndClose(string family, string task)
    {
        var export = _exports.Get(family, task).Export;
        var fp32 = Path.Combine(export, "onnx", "model.onnx");
        var int8 = Path.Combine(export, "onnx", "model_quantized.onnx");
        Assert.True(new FileInfo(int8).Length <= (0.25 + 1.0 / 16 + 0.02) * new FileInfo(fp32).Length, $"{new FileInfo(int8).Length} vs {new FileInfo(fp32).Length} bytes");
        using var a = new InferenceSession(fp32);
        using var b = new InferenceSession(int8);
        var batch = _exports.Batches(family == "roberta" ? 1 : 0, pairs: false).First();
        var feeds = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(batch.Ids, [batch.Size, batch.Length])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(batch.Mask, [batch.Size, batch.Length])),
        };
        if (a.InputMetadata.ContainsKey("token_type_ids"))
            feeds.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(batch.Types, [batch.Size, batch.Length])));
        using var ra = a.Run(feeds);
        using var rb = b.Run(feeds);
        foreach (var (x, y) in ra.Zip(rb))
        {
            var u = x.AsTensor<float>().ToArray();
            var v = y.AsTensor<float>().ToArray();
            double range = u.Max(Math.Abs), worst = u.Zip(v).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst <= 0.1 * range, $"{x.Name}: max |int8 - fp32| = {worst:G3} for values up to {range:G3}");
        }
    }

    /// <summary>The exported models of the tests, made once: tiny seeded models of every family and task, exported with int8.</summary>
    public sealed class Exports : IDisposable
    {
        private readonly TempFolder _dir = new();
        private readonly Dictionary<(string, string), (string, string)> _made = [];
        private readonly List<string> _sentences;

        public Exports()
        {
            _sentences = File.ReadLines(SharedData.File("sst2", "dev.tsv")).Skip(1).Take(100).Select(l => l.Split('\t')[0].Trim()).ToList();
            Tokenizer = FineTune.Text.WordPieceTokenizer.FromFolder(ModelCatalog.Resolve("all-MiniLM-L6-v2"));
        }

        internal FineTune.Text.WordPieceTokenizer Tokenizer { get; }

        public (string Folder, string Export) Get(string family, string task)
        {
            lock (_made)
            {
                if (_made.TryGetValue((family, task), out var made)) return made;
                var folder = _dir.File($"{family}-{task}");
                var config = TestSupport.Tiny(family, vocab: 30522) with { MaxPositionEmbeddings = 128 };
                config = task switch
                {
                    "classification" or "multi-label" => config.WithLabels(["negative", "neutral", "positive"], TestSupport.ProblemType(task)),
                    "regression" => config.WithLabels(["value"], "regression"),
                    "token-classification" => config.WithLabels(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], null),
                    _ => config,
                };
                random.manual_seed(11);
                using (var model = TestSupport.Create(config, task))
                {
                    // Heads start at zero bias; give every parameter some weight so that each one shows in the outputs.
                    using (no_grad())
                        foreach (var (_, p) in model.named_parameters())
                            if (p.dim() == 1 && p.abs().max().item<float>() == 0) p.normal_(0, 0.5);
                    ModelFolder.Save(model, folder, f =>
                    {
                        Tokenizer.Save(f);
                        new FineTuneMetadata { Task = task, MaxLength = 64 }.Save(f);
                    });
                }
                var export = _dir.File($"{family}-{task}-onnx");
                FineTuner.Export(new ExportRequest { Model = folder, Output = export, Quantize = ExportQuantization.Int8 });
                return _made[(family, task)] = (folder, export);
            }
        }

        /// <summary>The 100 sentences in 4 padded batches of 25 (with <paramref name="pairs"/>, each sentence paired with the next).</summary>
        internal IEnumerable<Batch> Batches(int padId, bool pairs)
        {
            for (int start = 0; start < _sentences.Count; start += 25)
            {
                var encodings = Enumerable.Range(start, 25).Select(i => pairs && i % 2 == 1
                    ? Tokenizer.Encode(_sentences[i], _sentences[(i + 1) % _sentences.Count], FineTune.Text.EncodeOptions.Truncate(64))
                    : Tokenizer.Encode(_sentences[i], null, FineTune.Text.EncodeOptions.Truncate(64))).ToList();
                int t = encodings.Max(e => e.Length);
                var ids = new long[25 * t];
                var mask = new long[25 * t];
                var types = new long[25 * t];
                Array.Fill(ids, padId);
                for (int r = 0; r < 25; r++)
                    for (int j = 0; j < encodings[r].Length; j++)
                    {
                        ids[r * t + j] = encodings[r].Ids[j];
                        mask[r * t + j] = 1;
                        types[r * t + j] = encodings[r].TypeIds[j];
                    }
                yield return new Batch(ids, mask, types, 25, t);
            }
        }

        public void Dispose() => _dir.Dispose();
    }

    internal sealed record Batch(long[] Ids, long[] Mask, long[] Types, int Size, int Length);
}
