using Prometheus;

namespace FineTune.Serving;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (two served models in one process keep theirs apart):
/// requests by route and status, request latency by route, batch sizes in inputs and tokens, model time per batch,
/// and the inputs waiting for the model.
/// </summary>
internal sealed class ServingMetrics
{
    public ServingMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        Requests = factory.CreateCounter("finetune_requests_total", "HTTP requests by route and status code.", "route", "status");
        Latency = factory.CreateHistogram("finetune_request_duration_seconds", "Time from a request's arrival to its response, by route.",
            new HistogramConfiguration { LabelNames = ["route"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        BatchSize = factory.CreateHistogram("finetune_batch_size", "Inputs per forward pass.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10) });
        BatchTokens = factory.CreateHistogram("finetune_batch_tokens", "Tokens per forward pass.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(16, 2, 12) });
        InferenceSeconds = factory.CreateHistogram("finetune_inference_duration_seconds", "Model time per forward pass (tokenizing, running, reading the outputs).",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        QueueDepth = factory.CreateGauge("finetune_queue_depth", "Inputs waiting for the model.");
    }

    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Histogram Latency { get; }
    public Histogram BatchSize { get; }
    public Histogram BatchTokens { get; }
    public Histogram InferenceSeconds { get; }
    public Gauge QueueDepth { get; }
}
