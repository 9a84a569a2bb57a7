using FineTune.Configuration;

namespace FineTune.Serving;

/// <summary>What runs a served model.</summary>
public enum ServeBackend
{
    /// <summary>By the folder: ONNX Runtime for an export folder, TorchSharp for a model folder.</summary>
    Auto,

    /// <summary>TorchSharp (libtorch) on a model folder.</summary>
    TorchSharp,

    /// <summary>ONNX Runtime on an export folder; a model folder is exported first (to a temporary folder).</summary>
    OnnxRuntime,
}

/// <summary>
/// How a model is served: the model and its backend, where to listen (<see cref="ModelServer"/>), dynamic batching,
/// and the limits every request is held to. The defaults follow Hugging Face's text-embeddings-inference.
/// </summary>
public sealed record ServeOptions
{
    /// <summary>A run's model folder, an export folder (finetune export), or a catalog model (embeddings).</summary>
    public required string Model { get; init; }

    public ServeBackend Backend { get; init; } = ServeBackend.Auto;

    /// <summary>fp32; bf16 (TorchSharp, CPUs with AMX); int8 (an export's quantized model).</summary>
    public Precision Precision { get; init; } = Precision.Fp32;

    /// <summary>CPU threads of the model (null: one per processor).</summary>
    public int? Threads { get; init; }

    /// <summary>Tokens per input (null: the length the model was trained with).</summary>
    public int? MaxLength { get; init; }

    /// <summary>Question answering: context tokens shared by consecutive windows (null: the stride the model was trained with).</summary>
    public int? DocStride { get; init; }

    /// <summary>The address to listen on (<see cref="ModelServer"/> only).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The port to listen on (<see cref="ModelServer"/> only; 0: any free port).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Queued inputs are grouped into one forward pass up to this many tokens.</summary>
    public int MaxBatchTokens { get; init; } = 16384;

    /// <summary>... and up to this many inputs.</summary>
    public int MaxBatchRequests { get; init; } = 64;

    /// <summary>
    /// Inputs per forward pass: a batch is sorted by length and run in passes of this many, so that short inputs are not
    /// padded to the length of the longest one in the batch.
    /// </summary>
    public int ForwardBatchSize { get; init; } = 8;

    /// <summary>How long the first queued input waits for others to join its batch.</summary>
    public int MaxWaitMs { get; init; } = 5;

    /// <summary>Requests being served at once; more get 429 with Retry-After.</summary>
    public int MaxConcurrentRequests { get; init; } = 512;

    /// <summary>The largest request body, in bytes; a larger one gets 413.</summary>
    public long PayloadLimit { get; init; } = 2_000_000;

    /// <summary>The most inputs in one request; more get 413.</summary>
    public int MaxClientBatchSize { get; init; } = 32;

    /// <summary>When set, every route but /health needs "Authorization: Bearer KEY" (401 without it).</summary>
    public string? ApiKey { get; init; }

    /// <summary>How long shutdown waits for requests in flight.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Checks the options; an unusable one is an <see cref="OptionException"/> naming it.</summary>
    public void Validate()
    {
        static void Check(bool ok, string property, string message)
        {
            if (!ok) throw new OptionException($"{nameof(ServeOptions)}.{property}", message);
        }
        Check(!string.IsNullOrWhiteSpace(Model), nameof(Model), "is required");
        Check(Port is >= 0 and <= 65535, nameof(Port), $"must be from 0 to 65535, got {Port}");
        Check(MaxBatchTokens > 0, nameof(MaxBatchTokens), $"must be positive, got {MaxBatchTokens}");
        Check(MaxBatchRequests > 0, nameof(MaxBatchRequests), $"must be positive, got {MaxBatchRequests}");
        Check(ForwardBatchSize > 0, nameof(ForwardBatchSize), $"must be positive, got {ForwardBatchSize}");
        Check(MaxWaitMs >= 0, nameof(MaxWaitMs), $"must not be negative, got {MaxWaitMs}");
        Check(MaxConcurrentRequests > 0, nameof(MaxConcurrentRequests), $"must be positive, got {MaxConcurrentRequests}");
        Check(PayloadLimit > 0, nameof(PayloadLimit), $"must be positive, got {PayloadLimit}");
        Check(MaxClientBatchSize > 0, nameof(MaxClientBatchSize), $"must be positive, got {MaxClientBatchSize}");
        Check(Threads is null or > 0, nameof(Threads), $"must be positive, got {Threads}");
        Check(MaxLength is null or >= 3, nameof(MaxLength), $"must be at least 3, got {MaxLength}");
        Check(DocStride is null or >= 0, nameof(DocStride), $"must not be negative, got {DocStride}");
        Check(ApiKey is null || ApiKey.Length > 0, nameof(ApiKey), "must not be empty");
    }
}
