using System.IO.Compression;
using System.Text.Json.Nodes;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Tasks;
using FineTune.Tests.Data;
using FineTune.Text;
using nietras.SeparatedValues;

namespace FineTune.Tests.Seq2Seq;

/// <summary>
/// Translation and summarization runs with a tiny encoder (TinyModelFolder, the real all-MiniLM-L6-v2 tokenizer) on
/// real slices of Multi30k and AG News: the run folder, the saved model generating what the run wrote, exact resume,
/// and every bad input one clear error.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public class Seq2SeqRunTests
{
    /// <summary>The first <paramref name="lines"/> lines of a Multi30k file as a gzip file named <paramref name="name"/>.</summary>
    private static string Slice(string dir, string source, string name, int lines, int skip = 0)
    {
        var path = Path.Combine(dir, name);
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        using var writer = new StreamWriter(gzip);
        foreach (var line in ParallelText.ReadLines(SharedData.File("multi30k", source)).Skip(skip).Take(lines)) writer.Write(line + "\n");
        return path;
    }

    private static FineTuneRequest Translation(TestSupport.TempDir dir, int train = 48, Seq2SeqOptions? options = null)
    {
        // The held-out pairs' target sides, found by the names of the training pair's.
        Slice(dir.Path, "val.en.gz", "dev.en.gz", 12, skip: 100);
        Slice(dir.Path, "test_2016_flickr.en.gz", "test.en.gz", 12);
        return TranslationRequest(dir, train, options);
    }

    private static FineTuneRequest TranslationRequest(TestSupport.TempDir dir, int train, Seq2SeqOptions? options) => new()
    {
        Model = TinyModelFolder.Shared,
        Task = "translation",
        Data = new DatasetFiles("", Slice(dir.Path, "val.de.gz", "dev.de.gz", 12, skip: 100), Slice(dir.Path, "test_2016_flickr.de.gz", "test.de.gz", 12)),
        TaskOptions = (options ?? new Seq2SeqOptions()) with
        {
            SourceFile = Slice(dir.Path, "val.de.gz", "train.de.gz", train),
            TargetFile = Slice(dir.Path, "val.en.gz", "train.en.gz", train),
            NumBeams = 2,
            MaxNewTokens = 6,
        },
        Training = new TrainingOptions { MaxSteps = 4, BatchSize = 16, EvalBatchSize = 16, MaxLength = 48, LearningRate = 1e-3, EvalSteps = 4, EvalStrategy = IntervalKind.Steps, SaveStrategy = IntervalKind.Steps, SaveSteps = 2, SaveTotalLimit = 0 },
        OutputDirectory = dir.File("run"),
    };

    [Fact]
    public void TranslationRunOnParallelFilesWritesTheRunAndTheSavedModelGeneratesTheSame()
    {
        using var dir = new TestSupport.TempDir();
        var messages = new List<string>();
        var result = FineTuner.Train(Translation(dir) with { Info = messages.Add });
        Assert.Equal(48, result.Summary["train"]!.Count);
        Assert.Equal(12, result.Summary["validation"]!.Count);   // dev.de.gz with dev.en.gz, found by the training pair's naming
        foreach (var key in new[] { "bleu", "chrf", "bleu_lc", "chrf_lc", "gen_len", "loss" })
            Assert.True(result.Test!.ContainsKey(key), key);
        Assert.InRange(result.Test!["gen_len"], 1, 6);
        Assert.Contains(messages, m => m.Contains("tokens per text") && m.Contains("unknown tokens"));
        Assert.Contains(messages, m => m.Contains("decoder.bert.encoder.layer.{0-1}.crossattention.self.query.{weight,bias}"));

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(result.ModelDirectory, "config.json")))!;
        Assert.Equal("encoder-decoder", (string?)config["model_type"]);
        Assert.Equal("EncoderDecoderModel", (string?)config["architectures"]![0]);
        Assert.Equal("translation", FineTuner.DetectTask(result.ModelDirectory));
        var finetune = JsonNode.Parse(File.ReadAllText(Path.Combine(result.ModelDirectory, "finetune.json")))!;
        Assert.Equal(2, (int)finetune["num_beams"]!);

        // The saved model, loaded on its own, generates what the run wrote for the test set.
        var rows = Sep.Reader(o => o with { Unescape = true }).FromFile(Path.Combine(result.OutputDirectory, "predictions-test.csv"))
            .Enumerate(r => (Source: r["source"].ToString(), Generated: r["generated"].ToString())).ToList();
        Assert.Equal(12, rows.Count);
        using var generator = TextGenerator.Load(result.ModelDirectory);
        Assert.Equal(48, generator.MaxLength);
        Assert.Equal(2, generator.Generation.NumBeams);
        Assert.Equal(rows.Select(r => r.Generated), generator.Generate(rows.Select(r => r.Source).ToList()));

        // finetune predict: one generated text per line of a .txt file.
        var input = dir.File("sources.txt");
        File.WriteAllLines(input, rows.Take(3).Select(r => r.Source));
        var outcome = FineTuner.Predict(new PredictRequest { Model = result.ModelDirectory, Input = input, Output = dir.File("out.csv") });
        Assert.Equal(3, outcome.Inputs);
        var predicted = Sep.Reader(o => o with { Unescape = true }).FromFile(dir.File("out.csv")).Enumerate(r => r["generated"].ToString()).ToList();
        Assert.Equal(rows.Take(3).Select(r => r.Generated), predicted);

        // finetune evaluate on the parallel test files: the run's test metrics.
        var evaluation = FineTuner.Evaluate(new EvaluateRequest
        {
            Model = result.ModelDirectory, Data = dir.File("test.de.gz"), TaskOptions = new Seq2SeqOptions { TargetFile = dir.File("test.en.gz"), NumBeams = 2, MaxNewTokens = 6 },
            OutputDirectory = dir.File("eval"),
        });
        Assert.Equal(result.Test["bleu"], evaluation.Metrics["bleu"], 9);
        Assert.Equal(result.Test["chrf"], evaluation.Metrics["chrf"], 9);
    }

    [Fact]
    public async Task TheExportGeneratesEvaluatesAndServesAsTheModelFolderDoes()
    {
        using var dir = new TestSupport.TempDir();
        var result = FineTuner.Train(Translation(dir) with { Training = Translation(dir).Training with { SaveStrategy = IntervalKind.No } });
        var export = FineTuner.Export(new ExportRequest { Model = result.ModelDirectory, Output = dir.File("export"), Quantize = ExportQuantization.Int8 });
        Assert.Equal("translation", export.Task);
        foreach (var file in new[] { "encoder_model", "decoder_model", "decoder_with_past_model" })
        {
            Assert.Contains(Path.Combine("onnx", file + ".onnx"), export.Files);
            Assert.Contains(Path.Combine("onnx", file + "_quantized.onnx"), export.Files);
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(export.OutputDirectory, "config.json")))!;
        Assert.Equal("encoder-decoder", (string?)config["model_type"]);
        Assert.Equal(2, (int)config["finetune"]!["num_beams"]!);

        // The same generated text, greedy and with the model's beams, from the model folder and from the export.
        var sources = ParallelText.ReadLines(dir.File("train.de.gz")).Concat(ParallelText.ReadLines(dir.File("test.de.gz"))).ToList();
        foreach (var (beams, minimum) in new[] { (1, 0), (2, 0), (2, 5) })
        {
            var generation = new Seq2SeqOptions { NumBeams = beams, MaxNewTokens = 8, MinNewTokens = minimum };
            using var model = TextGenerator.Load(result.ModelDirectory, new TextGeneratorOptions { Generation = generation });
            using var exported = TextGenerator.Load(export.OutputDirectory, new TextGeneratorOptions { Generation = generation });
            Assert.True(exported.IsExport);
            Assert.Equal(model.MaxLength, exported.MaxLength);
            var expected = model.Generate(sources);
            Assert.Equal(expected, exported.Generate(sources));
            // FineTune.Onnx (no TorchSharp) generates the same text.
            using var onnx = FineTune.Onnx.TextGenerator.Load(export.OutputDirectory, new FineTune.Onnx.TextGeneratorOptions { NumBeams = beams, MaxNewTokens = 8, MinNewTokens = minimum, BatchSize = 7 });
            Assert.Equal(model.MaxLength, onnx.MaxLength);
            Assert.Equal(expected, onnx.Generate(sources));
        }
        using (var defaults = FineTune.Onnx.TextGenerator.Load(export.OutputDirectory))
            Assert.Equal(2, defaults.NumBeams);   // the run's --num-beams, from config.json
        // FineTune.Onnx's errors are its own (internal) copies of the library's: checked by type name and message.
        var bad = Assert.ThrowsAny<Exception>(() => FineTune.Onnx.TextGenerator.Load(export.OutputDirectory, new FineTune.Onnx.TextGeneratorOptions { NumBeams = 0 }));
        Assert.Equal(nameof(OptionException), bad.GetType().Name);
        Assert.StartsWith("TextGeneratorOptions.NumBeams: must be between 1 and 64, got 0", bad.Message);
        bad = Assert.ThrowsAny<Exception>(() => FineTune.Onnx.TextGenerator.Load(result.ModelDirectory));
        Assert.Equal(nameof(ModelLoadException), bad.GetType().Name);
        Assert.Contains("is not the export of a translation or summarization model", bad.Message);

        // finetune evaluate on the export: the run's test metrics; and its int8 graphs generate.
        var request = new EvaluateRequest
        {
            Model = export.OutputDirectory, Data = dir.File("test.de.gz"), TaskOptions = new Seq2SeqOptions { TargetFile = dir.File("test.en.gz"), NumBeams = 2, MaxNewTokens = 6 },
            OutputDirectory = dir.File("eval"),
        };
        var evaluation = FineTuner.Evaluate(request);
        Assert.Equal(result.Test!["bleu"], evaluation.Metrics["bleu"], 9);
        Assert.Equal(result.Test["chrf"], evaluation.Metrics["chrf"], 9);
        using var int8 = TextGenerator.Load(export.OutputDirectory, new TextGeneratorOptions { Precision = Precision.Int8, Generation = new Seq2SeqOptions { NumBeams = 1, MaxNewTokens = 6 } });
        Assert.All(int8.GenerateIds(sources, out _), ids => Assert.InRange(ids.Length, 0, 6));
        var e = Assert.Throws<OptionException>(() => TextGenerator.Load(result.ModelDirectory, new TextGeneratorOptions { Precision = Precision.Int8 }));
        Assert.Equal("PredictorOptions.Precision", e.Option);
        // bf16 on an export is an error, as for the other tasks' exports.
        e = Assert.Throws<OptionException>(() => TextGenerator.Load(export.OutputDirectory, new TextGeneratorOptions { Precision = Precision.Bf16 }));
        Assert.Equal("PredictorOptions.Precision", e.Option);
        Assert.Contains("not bf16", e.Message);

        // python3-onnx's checker (full shape inference) accepts the six graphs.
        var files = Directory.GetFiles(Path.Combine(export.OutputDirectory, "onnx"), "*.onnx");
        Assert.Equal(6, files.Length);
        var (code, output) = FineTune.Tests.Export.OnnxExportTests.Python("import onnx, sys\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(p, full_check=True)\nprint('checked', len(sys.argv) - 1)", files);
        Assert.True(code == 0, output);
        Assert.Contains("checked 6", output);

        // finetune serve: POST /generate gives what the generator gives, from the export (ONNX Runtime) and the model folder (TorchSharp).
        using var trained = TextGenerator.Load(result.ModelDirectory);
        var served = sources.Take(12).ToList();
        var texts = trained.Generate(served);
        foreach (var (folder, backend) in new[] { (export.OutputDirectory, "onnxruntime"), (result.ModelDirectory, "torchsharp") })
        {
            await using var server = await FineTune.Serving.ModelServer.StartAsync(new FineTune.Serving.ServeOptions { Model = folder, Host = "127.0.0.1", Port = 0 });
            await server.Ready;
            using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
            // Some sources are longer than the 48 tokens the run trained with: truncated as the generator truncates them (without "truncate", 413).
            var body = new JsonObject { ["inputs"] = new JsonArray(served.Select(t => (JsonNode)t!).ToArray()), ["truncate"] = true }.ToJsonString();
            using var response = await client.PostAsync("/generate", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            var generated = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray().Select(r => r!["generated_text"]!.GetValue<string>());
            Assert.Equal(texts, generated);
            var info = JsonNode.Parse(await client.GetStringAsync("/info"))!;
            Assert.Equal("/generate", (string?)info["route"]);
            Assert.Equal(backend, (string?)info["backend"]);
        }
    }

    [Fact]
    public void AModelThatCopiesFromItsSourceTrainsGeneratesAsSavedAndExportsTheSameText()
    {
        using var dir = new TestSupport.TempDir();
        var request = Translation(dir) with { Training = Translation(dir).Training with { SaveStrategy = IntervalKind.No } };
        var options = (Seq2SeqOptions)request.TaskOptions! with { CopyFromSource = true, TieEncoderDecoder = true };
        var messages = new List<string>();
        var result = FineTuner.Train(request with { TaskOptions = options, Info = messages.Add });
        Assert.Contains(messages, m => m.Contains("copy.query.{weight,bias}, copy.key.{weight,bias}, copy.gate.{weight,bias}"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(result.ModelDirectory, "config.json")))!;
        Assert.True((bool)config["copy_from_source"]!);

        // The saved model generates what the run wrote for the test set.
        var rows = Sep.Reader(o => o with { Unescape = true }).FromFile(Path.Combine(result.OutputDirectory, "predictions-test.csv"))
            .Enumerate(r => (Source: r["source"].ToString(), Generated: r["generated"].ToString())).ToList();
        using var generator = TextGenerator.Load(result.ModelDirectory);
        Assert.Equal(rows.Select(r => r.Generated), generator.Generate(rows.Select(r => r.Source).ToList()));

        // Its export (the decoder graphs take the source's ids) generates the same text, greedy and with beams, in FineTune and FineTune.Onnx.
        var export = FineTuner.Export(new ExportRequest { Model = result.ModelDirectory, Output = dir.File("export"), Quantize = ExportQuantization.Int8 });
        var sources = ParallelText.ReadLines(dir.File("train.de.gz")).Take(24).Concat(ParallelText.ReadLines(dir.File("test.de.gz"))).ToList();
        // Its int8 graphs (the copy layer's projections quantized too) generate.
        using (var int8 = TextGenerator.Load(export.OutputDirectory, new TextGeneratorOptions { Precision = Precision.Int8, Generation = new Seq2SeqOptions { NumBeams = 2, MaxNewTokens = 6 } }))
            Assert.All(int8.GenerateIds(sources, out _), ids => Assert.InRange(ids.Length, 0, 6));
        foreach (var beams in new[] { 1, 2 })
        {
            var generation = new Seq2SeqOptions { NumBeams = beams, MaxNewTokens = 8 };
            using var model = TextGenerator.Load(result.ModelDirectory, new TextGeneratorOptions { Generation = generation });
            using var exported = TextGenerator.Load(export.OutputDirectory, new TextGeneratorOptions { Generation = generation });
            var expected = model.Generate(sources);
            Assert.Equal(expected, exported.Generate(sources));
            using var onnx = FineTune.Onnx.TextGenerator.Load(export.OutputDirectory, new FineTune.Onnx.TextGeneratorOptions { NumBeams = beams, MaxNewTokens = 8, BatchSize = 5 });
            Assert.Equal(expected, onnx.Generate(sources));
        }

        // Fine-tuned further, it keeps its copy layer; a model trained without one cannot take it up later.
        var further = FineTuner.Train(request with { Model = result.ModelDirectory, OutputDirectory = dir.File("further"), Training = request.Training with { MaxSteps = 1, EvalStrategy = IntervalKind.No } });
        Assert.True((bool)JsonNode.Parse(File.ReadAllText(Path.Combine(further.ModelDirectory, "config.json")))!["copy_from_source"]!);
        var plain = FineTuner.Train(request with { TaskOptions = options with { CopyFromSource = false }, OutputDirectory = dir.File("plain"), Training = request.Training with { MaxSteps = 1, EvalStrategy = IntervalKind.No } });
        var e = Assert.Throws<OptionException>(() => FineTuner.Train(request with { Model = plain.ModelDirectory, TaskOptions = options, OutputDirectory = dir.File("x") }));
        Assert.Equal("Seq2SeqOptions.CopyFromSource", e.Option);
        Assert.Contains("trained without a copy layer", e.Message);
        Assert.False(Directory.Exists(dir.File("x")));
    }

    [Fact]
    public void ResumingFromACheckpointEndsWithTheSameWeights()
    {
        using var dir = new TestSupport.TempDir();
        // No held-out data: the weights are what is compared.
        var request = Translation(dir, train: 32) with { Data = new DatasetFiles(""), Training = Translation(dir).Training with { EvalStrategy = IntervalKind.No } };
        var full = FineTuner.Train(request);
        var checkpoint = Path.Combine(full.OutputDirectory, "checkpoints", "checkpoint-000002");
        var resumed = FineTuner.Train(request with { OutputDirectory = dir.File("resumed"), ResumeFrom = checkpoint });
        Assert.Equal(File.ReadAllBytes(Path.Combine(full.ModelDirectory, "model.safetensors")), File.ReadAllBytes(Path.Combine(resumed.ModelDirectory, "model.safetensors")));
    }

    [Fact]
    public void ATrainedEncoderDecoderIsFineTunedFurtherFromItsOwnWeights()
    {
        using var dir = new TestSupport.TempDir();
        var request = Translation(dir) with { Training = Translation(dir).Training with { SaveStrategy = IntervalKind.No } };
        var first = FineTuner.Train(request with { TaskOptions = (Seq2SeqOptions)request.TaskOptions! with { TieEncoderDecoder = true } });

        // One step at a learning rate of 1e-10 from the trained model: AdamW moves each weight by at most the learning
        // rate (its first step is lr times sign of the gradient, bias-corrected), plus fp32 rounding of the sum (2^-23 of
        // the weight). Weights that came from anywhere else (a warm start from the pretrained encoder, new
        // cross-attention) differ by orders of magnitude more.
        var messages = new List<string>();
        var second = FineTuner.Train(request with
        {
            Model = first.ModelDirectory,
            Training = request.Training with { MaxSteps = 1, LearningRate = 1e-10, WarmupRatio = 0, EvalStrategy = IntervalKind.No },
            OutputDirectory = dir.File("further"),
            Info = messages.Add,
        });
        Assert.Contains(messages, m => m.Contains($"Fine-tuning the trained encoder-decoder {first.ModelDirectory} further (its encoder and decoder share their weights)."));
        Assert.DoesNotContain(messages, m => m.Contains("crossattention"));   // nothing newly initialised
        using (var before = FineTune.Checkpoints.EncoderDecoderFolder.Load(first.ModelDirectory, KernelOptions.Default, new ModelLoadOptions()))
        using (var after = FineTune.Checkpoints.EncoderDecoderFolder.Load(second.ModelDirectory, KernelOptions.Default, new ModelLoadOptions()))
        {
            Assert.True(after.Seq2SeqConfig.TieEncoderDecoder);
            var old = before.state_dict();
            foreach (var (key, value) in after.state_dict())
            {
                using var diff = (value - old[key]).abs();
                using var bound = old[key].abs() * 1.2e-7 + 1.01e-10;
                Assert.True(diff.le(bound).all().item<bool>(), $"{key}: moved by up to {diff.max().item<float>()}");
            }
        }

        // What cannot be asked of a trained encoder-decoder: another decoder, or sharing weights it was trained without; and it is no encoder for other tasks.
        var untied = FineTuner.Train(request with { OutputDirectory = dir.File("untied"), Training = request.Training with { MaxSteps = 1, EvalStrategy = IntervalKind.No } });
        var options = (Seq2SeqOptions)request.TaskOptions!;
        var e = Assert.Throws<OptionException>(() => FineTuner.Train(request with { Model = untied.ModelDirectory, TaskOptions = options with { TieEncoderDecoder = true }, OutputDirectory = dir.File("x") }));
        Assert.Equal("Seq2SeqOptions.TieEncoderDecoder", e.Option);
        Assert.Contains("trained with separate encoder and decoder weights", e.Message);
        e = Assert.Throws<OptionException>(() => FineTuner.Train(request with { Model = untied.ModelDirectory, TaskOptions = options with { DecoderModel = TinyModelFolder.Shared }, OutputDirectory = dir.File("x") }));
        Assert.Equal("Seq2SeqOptions.DecoderModel", e.Option);
        var csv = dir.File("labels.csv");
        File.WriteAllText(csv, "text,label\na dog,animal\na house,building\n");
        e = Assert.Throws<OptionException>(() => FineTuner.Train(new FineTuneRequest { Model = untied.ModelDirectory, Task = "classification", Data = new DatasetFiles(csv), OutputDirectory = dir.File("x") }));
        Assert.Equal("FineTuneRequest.Model", e.Option);
        Assert.Contains("is an encoder-decoder", e.Message);
        Assert.False(Directory.Exists(dir.File("x")));
    }

    [Fact]
    public void SummarizationRunOnAgNewsReportsRougeAndTheLeadBaseline()
    {
        using var dir = new TestSupport.TempDir();
        // AG News: class, title, description; the first 120 rows, 20 held out for test and 20 for validation.
        var data = dir.File("ag.csv");
        File.WriteAllLines(data, File.ReadLines(SharedData.File("ag_news", "test.csv")).Take(120));
        var messages = new List<string>();
        var result = FineTuner.Train(new FineTuneRequest
        {
            Model = TinyModelFolder.Shared,
            Task = "summarization",
            Data = new DatasetFiles(data),
            Dataset = new DatasetOptions { DataFile = new DataFileOptions { HasHeader = false, ColumnNames = ["class", "title", "description"] }, ValidationFraction = 1.0 / 6, TestFraction = 1.0 / 6 },
            TaskOptions = new Seq2SeqOptions { SourceColumn = "description", TargetColumn = "title", MaxTargetLength = 8, NumBeams = 1, MaxNewTokens = 5 },
            Training = new TrainingOptions { MaxSteps = 2, BatchSize = 16, MaxLength = 64, SaveStrategy = IntervalKind.No },
            OutputDirectory = dir.File("run"),
            Info = messages.Add,
        });
        Assert.Equal(20, result.Summary["test"]!.Count);
        foreach (var key in new[] { "rouge1", "rouge2", "rougeLsum", "gen_len", "lead_k", "lead_rouge1", "lead_rouge2", "lead_rougeLsum" })
            Assert.True(result.Test!.ContainsKey(key), key);
        Assert.InRange(result.Test!["lead_rouge1"], 0.05, 1);
        Assert.Contains(messages, m => m.Contains("train targets are longer than 8 tokens and were truncated (Seq2SeqOptions.MaxTargetLength)"));
        // Summarization copies from the source unless told otherwise (one vocabulary here), and says so.
        Assert.Contains(messages, m => m.StartsWith("The decoder may copy source tokens", StringComparison.Ordinal));
        Assert.True((bool)JsonNode.Parse(File.ReadAllText(Path.Combine(result.ModelDirectory, "config.json")))!["copy_from_source"]!);
    }

    [Fact]
    public void ParallelFilesOfDifferentLengthsAreOneErrorNamingBoth()
    {
        using var dir = new TestSupport.TempDir();
        var request = Translation(dir);
        var options = (Seq2SeqOptions)request.TaskOptions!;
        var shorter = Slice(dir.Path, "val.en.gz", "short.en.gz", 47);
        var e = Assert.Throws<DataException>(() => FineTuner.Train(request with { TaskOptions = options with { TargetFile = shorter } }));
        Assert.Contains($"{options.SourceFile} has 48 lines and {shorter} has 47", e.Message);
        Assert.False(Directory.Exists(request.OutputDirectory));
    }

    [Fact]
    public void AnEmptySourceOrTargetIsAnErrorNamingFileRowAndColumn()
    {
        using var dir = new TestSupport.TempDir();
        var csv = dir.File("pairs.csv");
        File.WriteAllText(csv, "source,target\nein Hund,a dog\nzwei Katzen,\nein Haus,a house\n");
        var request = new FineTuneRequest
        {
            Model = TinyModelFolder.Shared, Task = "translation", Data = new DatasetFiles(csv), OutputDirectory = dir.File("run"),
        };
        var e = Assert.Throws<DataException>(() => FineTuner.Train(request));
        Assert.Equal($"{csv}:3: column 'target': the target is empty", e.Message);
        File.WriteAllText(csv, "source,target\nein Hund,a dog\n\"  \",a cat\n");
        e = Assert.Throws<DataException>(() => FineTuner.Train(request));
        Assert.Equal($"{csv}:3: column 'source': the source is empty", e.Message);

        var source = dir.File("a.de");
        var target = dir.File("a.en");
        File.WriteAllText(source, "ein Hund\nzwei Katzen\n");
        File.WriteAllText(target, "a dog\n\n");
        e = Assert.Throws<DataException>(() => FineTuner.Train(request with { Data = new DatasetFiles(""), TaskOptions = new Seq2SeqOptions { SourceFile = source, TargetFile = target } }));
        Assert.Equal($"{target}:2: the target line is empty", e.Message);
        Assert.False(Directory.Exists(request.OutputDirectory));
    }

    [Fact]
    public void SharingWeightsBetweenModelsOfDifferentVocabulariesIsAnOptionError()
    {
        using var dir = new TestSupport.TempDir();
        // A tiny BERT with a 40-token vocabulary of its own as the decoder.
        var vocab = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }.Concat("abcdefghijklmnopqrstuvwxyz".Select(c => c.ToString())).Concat(["the", "a", "dog", "cat", "man", "house", "##s", "."]).ToArray();
        var decoderFolder = dir.File("small-vocab");
        var tokenizer = WordPieceTokenizer.FromVocab(new StringReader(string.Join("\n", vocab)), null, "small vocab.txt");
        using (var encoder = TestSupport.Create(TestSupport.Tiny(vocab: vocab.Length), "similarity"))
            FineTune.Checkpoints.ModelFolder.Save(encoder, decoderFolder, tokenizer.Save);
        var request = Translation(dir);
        var options = (Seq2SeqOptions)request.TaskOptions!;
        var e = Assert.Throws<OptionException>(() => FineTuner.Train(request with { TaskOptions = options with { DecoderModel = decoderFolder, TieEncoderDecoder = true } }));
        Assert.Equal("Seq2SeqOptions.TieEncoderDecoder", e.Option);
        Assert.Contains("30522 tokens", e.Message);
        Assert.Contains($"{decoderFolder}: {vocab.Length} tokens", e.Message);
        // Copying source tokens needs one vocabulary too.
        e = Assert.Throws<OptionException>(() => FineTuner.Train(request with { TaskOptions = options with { DecoderModel = decoderFolder, CopyFromSource = true } }));
        Assert.Equal("Seq2SeqOptions.CopyFromSource", e.Option);
        Assert.Contains("so the decoder cannot copy source tokens", e.Message);
        Assert.False(Directory.Exists(request.OutputDirectory));

        // Without sharing, a decoder with its own vocabulary trains, and the saved model keeps its tokenizer.
        var result = FineTuner.Train(request with
        {
            TaskOptions = options with { DecoderModel = decoderFolder },
            Training = request.Training with { MaxSteps = 1, EvalStrategy = IntervalKind.No, SaveStrategy = IntervalKind.No },
        });
        Assert.True(File.Exists(Path.Combine(result.ModelDirectory, "decoder_tokenizer", "vocab.txt")));
        using var generator = TextGenerator.Load(result.ModelDirectory);
        Assert.Equal(vocab.Length, generator.DecoderTokenizer.VocabSize);
        Assert.Equal(30522, generator.Tokenizer.VocabSize);

        // Its export carries the decoder's tokenizer too, and generates the same text.
        var export = FineTuner.Export(new ExportRequest { Model = result.ModelDirectory, Output = dir.File("export") });
        Assert.Contains(Path.Combine("decoder_tokenizer", "vocab.txt"), export.Files);
        using var exported = TextGenerator.Load(export.OutputDirectory);
        Assert.Equal(vocab.Length, exported.DecoderTokenizer.VocabSize);
        var sources = ParallelText.ReadLines(dir.File("test.de.gz")).ToList();
        Assert.Equal(generator.Generate(sources), exported.Generate(sources));
    }

    [Fact]
    public void HeldOutTargetFilesAreNamedAfterTheTrainingPair()
    {
        Assert.Equal(Path.Combine("d", "val.en.gz"), ParallelText.Counterpart(Path.Combine("d", "val.de.gz"), "train.de.gz", "train.en.gz"));
        Assert.Equal("test_2016_flickr.en.gz", ParallelText.Counterpart("test_2016_flickr.de.gz", "x/train.de.gz", "y/train.en.gz"));
        Assert.Equal("news.tgt", ParallelText.Counterpart("news.src", "train.src", "train.tgt"));
        Assert.Null(ParallelText.Counterpart("val.fr.gz", "train.de.gz", "train.en.gz"));
    }
}

public class GeneratedTextTests
{
    [Theory]
    [InlineData("a man ' s t - shirt ( red ) .", "a man's t-shirt (red) .")]
    [InlineData("they don ' t know : it costs $ 5 , or 50 %", "they don't know: it costs $5 , or 50%")]
    [InlineData("he said \" hello there \" twice", "he said \"hello there\" twice")]
    [InlineData("a 3 - year - old child", "a 3-year-old child")]
    [InlineData("a man - and a dog", "a man-and a dog")]
    public void DecodedTextIsJoinedAsWritten(string decoded, string expected) => Assert.Equal(expected, FineTune.Tasks.GeneratedText.Join(decoded));
}

public class Seq2SeqOptionsTests
{
    /// <summary>The generation settings' bounds are one definition (GenerationSettings.Problem) for the task's options and FineTune.Onnx's.</summary>
    [Theory]
    [InlineData(0, 1.0, 0, null, "NumBeams", "must be between 1 and 64, got 0")]
    [InlineData(65, 1.0, 0, null, "NumBeams", "must be between 1 and 64, got 65")]
    [InlineData(4, double.NaN, 0, null, "LengthPenalty", "must be a finite number, got NaN")]
    [InlineData(4, 1.0, -1, null, "NoRepeatNgramSize", "must not be negative, got -1")]
    [InlineData(4, 1.0, 0, 0, "MaxNewTokens", "must be between 1 and 4096, got 0")]
    [InlineData(4, 1.0, 0, 4097, "MaxNewTokens", "must be between 1 and 4096, got 4097")]
    public void GenerationSettingsOutOfRangeNameTheOption(int beams, double lengthPenalty, int noRepeat, int? maxNewTokens, string setting, string message)
    {
        var options = new Seq2SeqOptions { NumBeams = beams, LengthPenalty = lengthPenalty, NoRepeatNgramSize = noRepeat, MaxNewTokens = maxNewTokens };
        var e = Assert.Throws<OptionException>(options.Validate);
        Assert.Equal("Seq2SeqOptions." + setting, e.Option);
        Assert.Equal($"Seq2SeqOptions.{setting}: {message}", e.Message);
        new Seq2SeqOptions { NumBeams = 64, MaxNewTokens = 4096, NoRepeatNgramSize = 3, LengthPenalty = -2 }.Validate();   // the bounds themselves are allowed
    }
}
