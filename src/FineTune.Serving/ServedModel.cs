using FineTune.Configuration;
using FineTune.Inference;
using FineTune.Tasks;
using FineTune.Text;

namespace FineTune.Serving;

/// <summary>
/// The model behind the endpoints: a model or export folder loaded with the library's predictor for its task
/// (<see cref="TextClassifier"/>, <see cref="EntityPredictor"/>, <see cref="AnswerPredictor"/>, <see cref="TextGenerator"/>, <see cref="SentenceEmbedder"/>)
/// on TorchSharp or ONNX Runtime, and the dynamic batcher that runs it. The predictor is only ever called from the
/// batcher's one worker thread.
/// </summary>
internal sealed class ServedModel : IDisposable
{
    private readonly IDisposable _predictor;
    private readonly string? _temporaryExport;

    private ServedModel(string folder, string task, string backend, ServeOptions options, IDisposable predictor, ITokenizer tokenizer, int maxLength,
        IReadOnlyList<string>? labels, string? temporaryExport)
    {
        Folder = folder;
        Task = task;
        Backend = backend;
        Options = options;
        _predictor = predictor;
        Tokenizer = tokenizer;
        MaxLength = maxLength;
        Labels = labels;
        _temporaryExport = temporaryExport;
    }

    public string Folder { get; }

    /// <summary>classification, multi-label, regression, similarity, feature-extraction, token-classification, question-answering, translation or summarization.</summary>
    public string Task { get; }

    /// <summary>torchsharp or onnxruntime.</summary>
    public string Backend { get; }

    public ServeOptions Options { get; }
    public ITokenizer Tokenizer { get; }

    /// <summary>Tokens per input (QA: per window).</summary>
    public int MaxLength { get; }

    /// <summary>The labels, or null (regression, embeddings, QA).</summary>
    public IReadOnlyList<string>? Labels { get; }

    public DynamicBatcher<(string Text, string? Pair), TextPrediction>? Classify { get; private set; }
    public DynamicBatcher<string, IReadOnlyList<Entity>>? Entities { get; private set; }
    public DynamicBatcher<(string Question, string Context), Answer>? Answers { get; private set; }
    public DynamicBatcher<string, float[]>? Embeddings { get; private set; }
    public DynamicBatcher<string, string>? Generated { get; private set; }

    /// <summary>The route that runs the model ("/predict", "/ner", "/answer", "/generate", "/embed").</summary>
    public string Route => Classify is not null ? "/predict" : Entities is not null ? "/ner" : Answers is not null ? "/answer"
        : Generated is not null ? "/generate" : "/embed";

    /// <summary>Loads the model of <paramref name="options"/> and starts its batcher; <paramref name="info"/> hears what was loaded.</summary>
    public static ServedModel Load(ServeOptions options, ServingMetrics metrics, Action<string>? info = null)
    {
        options.Validate();
        var folder = ModelCatalogFolder(options.Model);
        bool export = FineTuner.IsExportFolder(folder);
        string? temporary = null;
        if (options.Backend == ServeBackend.TorchSharp && export)
            throw new OptionException("ServeOptions.Backend", $"{folder} is an export folder, which runs on ONNX Runtime; give the model folder to serve it on TorchSharp");
        if (options.Backend == ServeBackend.OnnxRuntime && !export)
        {
            temporary = Path.Combine(Path.GetTempPath(), "finetune-serve-" + Guid.NewGuid().ToString("N")[..12]);
            info?.Invoke($"Exporting {folder} to ONNX for ONNX Runtime ({temporary}) ...");
            FineTuner.Export(new ExportRequest
            {
                Model = folder, Output = temporary,
                Quantize = options.Precision == Precision.Int8 ? ExportQuantization.Int8 : ExportQuantization.None,
            });
            folder = temporary;
            export = true;
        }
        try
        {
            var served = Open(folder, export ? "onnxruntime" : "torchsharp", options, temporary);
            served.Start(metrics);
            info?.Invoke($"Serving a {served.Task} model from {served.Folder} on {served.Backend} ({options.Precision.ToString().ToLowerInvariant()}), {served.MaxLength} tokens per input.");
            return served;
        }
        catch
        {
            if (temporary is not null) TryDelete(temporary);
            throw;
        }
    }

    private static string ModelCatalogFolder(string model) => FineTune.Checkpoints.ModelCatalog.Resolve(model);

    /// <summary>The task of a folder; an encoder without a head (a catalog model, a feature-extraction export) serves embeddings.</summary>
    private static string TaskOf(string folder)
    {
        try { return FineTuner.DetectTask(folder); }
        catch (ModelLoadException e) when (e.Key == "architectures") { return FineTuner.FeatureExtraction; }
    }

    private static ServedModel Open(string folder, string backend, ServeOptions o, string? temporary)
    {
        var task = TaskOf(folder);
        int batch = o.ForwardBatchSize;
        switch (task)
        {
            case "classification" or "multi-label" or "regression":
            {
                var classifier = TextClassifier.Load(folder, "cpu", o.Precision, threads: o.Threads);
                classifier.BatchSize = batch;
                if (o.MaxLength is int m) classifier.MaxLength = m;
                var labels = classifier.Labels?.Labels;
                return new ServedModel(folder, task, backend, o, classifier, classifier.Tokenizer, classifier.MaxLength, labels, temporary);
            }
            case "token-classification":
            {
                var ner = EntityPredictor.Load(folder, new EntityPredictorOptions { Precision = o.Precision, Threads = o.Threads, BatchSize = batch, MaxLength = o.MaxLength });
                return new ServedModel(folder, task, backend, o, ner, Tokenizers.FromFolder(folder), ner.MaxLength, ner.Labels, temporary);
            }
            case "question-answering":
            {
                var qa = AnswerPredictor.Load(folder, new AnswerPredictorOptions { Precision = o.Precision, Threads = o.Threads, BatchSize = batch, MaxLength = o.MaxLength, DocStride = o.DocStride });
                return new ServedModel(folder, task, backend, o, qa, Tokenizers.FromFolder(folder), qa.MaxLength, null, temporary);
            }
            case "translation" or "summarization":
            {
                var generator = TextGenerator.Load(folder, new TextGeneratorOptions { Precision = o.Precision, Threads = o.Threads, BatchSize = batch, MaxLength = o.MaxLength });
                return new ServedModel(folder, task, backend, o, generator, generator.Tokenizer, generator.MaxLength, null, temporary);
            }
            default:
            {
                var embedder = SentenceEmbedder.Load(folder, "cpu", o.Precision, o.Threads);
                embedder.BatchSize = batch;
                if (o.MaxLength is int m) embedder.MaxLength = m;
                return new ServedModel(folder, task, backend, o, embedder, embedder.Tokenizer, embedder.MaxLength, null, temporary);
            }
        }
    }

    private void Start(ServingMetrics metrics)
    {
        switch (_predictor)
        {
            case TextClassifier c:
                Classify = new(inputs => c.Predict(inputs), Options, metrics);
                break;
            case EntityPredictor n:
                Entities = new(n.Predict, Options, metrics);
                break;
            case AnswerPredictor a:
                Answers = new(a.Predict, Options, metrics);
                break;
            case SentenceEmbedder e:
                Embeddings = new(texts => e.Embed(texts), Options, metrics);
                break;
            case TextGenerator g:
                Generated = new(texts => g.Generate(texts), Options, metrics);
                break;
        }
    }

    /// <summary>Inputs waiting for the model.</summary>
    public int Queued => Classify?.Queued ?? Entities?.Queued ?? Answers?.Queued ?? Embeddings?.Queued ?? Generated?.Queued ?? 0;

    /// <summary>Stops the batcher (what is queued still runs), then frees the model.</summary>
    public void Dispose()
    {
        Classify?.Dispose();
        Entities?.Dispose();
        Answers?.Dispose();
        Embeddings?.Dispose();
        Generated?.Dispose();
        _predictor.Dispose();
        if (_temporaryExport is not null) TryDelete(_temporaryExport);
    }

    private static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
