using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FineTune.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Prometheus;

namespace FineTune.Serving;

/// <summary>
/// The endpoints of a served model, for <see cref="ModelServer"/> or a user's own ASP.NET Core app:
/// <code>
/// builder.Services.AddFineTune(new ServeOptions { Model = "runs/spam/model" });
/// ...
/// app.MapFineTune();
/// </code>
/// Routes (after Hugging Face's text-embeddings-inference): POST /predict, /ner, /answer, /generate, /embed, /tokenize;
/// GET /health, /info, /metrics (Prometheus), /openapi.json.
/// </summary>
public static class FineTuneEndpoints
{
    /// <summary>
    /// Registers the served model (loaded in the background when the app starts: /health says 503 until it is ready,
    /// and again while the app drains) and the OpenAPI document.
    /// </summary>
    public static IServiceCollection AddFineTune(this IServiceCollection services, ServeOptions options, Action<string>? info = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        services.AddSingleton(sp => new ModelService(options, info, sp.GetRequiredService<IHostApplicationLifetime>()));
        services.AddHostedService(sp => sp.GetRequiredService<ModelService>());
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "FineTune";
            document.Info.Description = "A model fine-tuned or exported by FineTune.NET, served over HTTP.";
            document.Info.Version = typeof(FineTuner).Assembly.GetName().Version?.ToString(3) ?? "1.0.0";
            return Task.CompletedTask;
        }));
        return services;
    }

    /// <summary>Maps the routes under <paramref name="prefix"/> ("" for the root).</summary>
    public static IEndpointRouteBuilder MapFineTune(this IEndpointRouteBuilder endpoints, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var service = endpoints.ServiceProvider.GetRequiredService<ModelService>();
        var open = endpoints.MapGroup(prefix);
        open.MapGet("/health", (HttpContext ctx) => service.Health(ctx)).WithName("health")
            .Produces<HealthResult>(200).Produces<HealthResult>(503);
        var api = endpoints.MapGroup(prefix).AddEndpointFilter(async (context, next) =>
            service.Authorized(context.HttpContext) ? await next(context) : service.Unauthorized(context.HttpContext));
        api.MapPost("/predict", Route(service.Predict)).WithName("predict")
            .Accepts<TextsRequest>("application/json").Produces<List<List<LabelScore>>>(200).Errors();
        api.MapPost("/ner", Route(service.Ner)).WithName("ner")
            .Accepts<TextsRequest>("application/json").Produces<List<List<EntityResult>>>(200).Errors();
        api.MapPost("/answer", Route(service.Answer)).WithName("answer")
            .Accepts<AnswerRequest>("application/json").Produces<List<AnswerResult>>(200).Errors();
        api.MapPost("/generate", Route(service.Generate)).WithName("generate")
            .Accepts<TextsRequest>("application/json").Produces<List<GeneratedResult>>(200).Errors();
        api.MapPost("/embed", Route(service.Embed)).WithName("embed")
            .Accepts<TextsRequest>("application/json").Produces<List<float[]>>(200).Errors();
        api.MapPost("/tokenize", Route(service.Tokenize)).WithName("tokenize")
            .Accepts<TextsRequest>("application/json").Produces<List<List<TokenResult>>>(200).Errors();
        api.MapGet("/info", (HttpContext ctx) => service.Info(ctx)).WithName("info").Produces<InfoResult>(200).Produces<ErrorResult>(503);
        api.MapGet("/metrics", Route(service.Metrics)).WithName("metrics").Produces(200, contentType: "text/plain");
        api.MapOpenApi("/openapi.json");
        return endpoints;
    }

    /// <summary>A handler that returns its result, as a route handler (not a RequestDelegate, which would drop it).</summary>
    private static Delegate Route(Func<HttpContext, Task<IResult>> handle) => handle;

    private static RouteHandlerBuilder Errors(this RouteHandlerBuilder builder)
    {
        foreach (var status in new[] { 400, 401, 404, 408, 413, 429, 503 }) builder.Produces<ErrorResult>(status);
        return builder;
    }
}

/// <summary>
/// What the endpoints share: the model (loaded in the background), its state, the limits, the metrics. Every
/// request to the model is parsed and checked here (400 naming the field, 413 for too much, 429 when too many are in
/// flight), then queued for the model's batcher.
/// </summary>
internal sealed class ModelService(ServeOptions options, Action<string>? info, IHostApplicationLifetime lifetime) : IHostedService, IDisposable
{
    internal static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly ServingMetrics _metrics = new();
    private volatile ServedModel? _model;
    private volatile string _state = "loading";
    private int _inFlight;
    private Task? _loading;

    /// <summary>The error that stopped the model from loading, or null.</summary>
    public Exception? LoadError { get; private set; }

    public ServingMetrics MetricSet => _metrics;

    /// <summary>Resolves when the model is ready, or with its load error.</summary>
    public Task Loaded => _loading ?? Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopping.Register(() => _state = _state == "ready" ? "draining" : _state);
        _loading = Task.Run(() =>
        {
            try
            {
                _model = ServedModel.Load(options, _metrics, info);
                if (_state == "loading") _state = "ready";
            }
            catch (Exception e)
            {
                LoadError = e;
                _state = "failed";
                lifetime.StopApplication();
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Frees the model, once it has finished loading.</summary>
    public void Dispose()
    {
        try { _loading?.Wait(); }
        catch (AggregateException) { }
        _model?.Dispose();
    }

    // ---- routes ----------------------------------------------------------------------------------------------------

    public IResult Health(HttpContext ctx)
    {
        var state = _state;
        return Count("/health", Stopwatch.GetTimestamp(), Results.Json(new HealthResult(state), Json, statusCode: state == "ready" ? 200 : 503));
    }

    public IResult Info(HttpContext ctx)
    {
        var started = Stopwatch.GetTimestamp();
        if (_model is not { } m) return Count("/info", started, Unavailable(ctx));
        var versions = new Dictionary<string, string?>
        {
            ["finetune"] = Version(typeof(FineTuner).Assembly),
            ["torchsharp"] = Version(typeof(TorchSharp.torch).Assembly),
            ["onnxruntime"] = Version(typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly),
            ["dotnet"] = Environment.Version.ToString(),
        };
        var o = m.Options;
        return Count("/info", started, Results.Json(new InfoResult(m.Folder, m.Task, m.Route, m.Backend, o.Precision.ToString().ToLowerInvariant(), m.Labels, m.MaxLength,
            o.MaxBatchTokens, o.MaxBatchRequests, o.MaxWaitMs, o.MaxConcurrentRequests, o.PayloadLimit, o.MaxClientBatchSize, versions), Json));
    }

    private static string? Version(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? assembly.GetName().Version?.ToString();

    /// <summary>The metrics in Prometheus' text format.</summary>
    public async Task<IResult> Metrics(HttpContext ctx)
    {
        var started = Stopwatch.GetTimestamp();
        using var text = new MemoryStream();
        await _metrics.Registry.CollectAndExportAsTextAsync(text, ctx.RequestAborted);
        return Count("/metrics", started, Results.Bytes(text.ToArray(), "text/plain; version=0.0.4; charset=utf-8"));
    }

    public Task<IResult> Predict(HttpContext ctx) => Handle(ctx, "/predict", async (m, root) =>
    {
        if (m.Classify is not { } batcher) return WrongRoute(m);
        var inputs = ReadInputs(root, pairs: true, m.Options.MaxClientBatchSize);
        bool truncate = Flag(root, "truncate", false);
        int? topK = root.TryGetProperty("top_k", out var k) && k.ValueKind != JsonValueKind.Null
            ? k.ValueKind == JsonValueKind.Number && k.TryGetInt32(out var n) && n >= 1 ? n : throw new RequestException(400, "top_k: expected a whole number of at least 1")
            : null;
        int tokens = CountTokens(m, inputs, truncate);
        var predictions = await batcher.Submit(inputs, tokens, ctx.RequestAborted).WaitAsync(ctx.RequestAborted);
        var results = predictions.Select(p => Scores(p, m, topK)).ToList();
        return Results.Json(Single(root) ? results[0] : results, Json);
    });

    public Task<IResult> Ner(HttpContext ctx) => Handle(ctx, "/ner", async (m, root) =>
    {
        if (m.Entities is not { } batcher) return WrongRoute(m);
        var inputs = ReadInputs(root, pairs: false, m.Options.MaxClientBatchSize).Select(i => i.Text).ToList();
        int tokens = inputs.Sum(t => m.Tokenizer.Encode(t).Length);
        var found = await batcher.Submit(inputs, tokens, ctx.RequestAborted).WaitAsync(ctx.RequestAborted);
        var results = found.Select(list => list.Select(e => new EntityResult(e.Type, e.Text, e.Start, e.End, e.Score)).ToList()).ToList();
        return Results.Json(Single(root) ? results[0] : results, Json);
    });

    public Task<IResult> Answer(HttpContext ctx) => Handle(ctx, "/answer", async (m, root) =>
    {
        if (m.Answers is not { } batcher) return WrongRoute(m);
        var questions = ReadQuestions(root, m.Options.MaxClientBatchSize);
        int tokens = 0;
        foreach (var (q, (question, context)) in questions.Select((x, i) => (i, x)))
        {
            try { tokens += m.Tokenizer.EncodeWindows(question, context, m.MaxLength).Sum(w => w.Length); }
            catch (FineTuneException e) { throw new RequestException(413, $"{(questions.Count > 1 ? $"inputs[{q}].question" : "question")}: {e.Message}"); }
        }
        var answers = await batcher.Submit(questions, tokens, ctx.RequestAborted).WaitAsync(ctx.RequestAborted);
        var results = answers.Select(a => new AnswerResult(a.Text, a.Start, a.End, a.Score)).ToList();
        return Results.Json(root.TryGetProperty("inputs", out _) ? results : results[0], Json);
    });

    public Task<IResult> Generate(HttpContext ctx) => Handle(ctx, "/generate", async (m, root) =>
    {
        if (m.Generated is not { } batcher) return WrongRoute(m);
        var inputs = ReadInputs(root, pairs: false, m.Options.MaxClientBatchSize);
        int tokens = CountTokens(m, inputs, Flag(root, "truncate", false));
        var texts = await batcher.Submit(inputs.Select(i => i.Text).ToList(), tokens, ctx.RequestAborted).WaitAsync(ctx.RequestAborted);
        var results = texts.Select(t => new GeneratedResult(t)).ToList();
        return Results.Json(Single(root) ? results[0] : results, Json);
    });

    public Task<IResult> Embed(HttpContext ctx) => Handle(ctx, "/embed", async (m, root) =>
    {
        if (m.Embeddings is not { } batcher) return WrongRoute(m);
        var inputs = ReadInputs(root, pairs: false, m.Options.MaxClientBatchSize);
        bool normalize = Flag(root, "normalize", true);
        int tokens = CountTokens(m, inputs, Flag(root, "truncate", false));
        var vectors = await batcher.Submit(inputs.Select(i => i.Text).ToList(), tokens, ctx.RequestAborted).WaitAsync(ctx.RequestAborted);
        // The model gives raw vectors (requests with and without normalize share batches): as torch's normalize, v / max(‖v‖, 1e-12).
        var results = vectors.Select(v => normalize ? Normalized(v) : v).ToList();
        return Results.Json(results, Json);
    });

    public Task<IResult> Tokenize(HttpContext ctx) => Handle(ctx, "/tokenize", (m, root) =>
    {
        var inputs = ReadInputs(root, pairs: true, m.Options.MaxClientBatchSize);
        var options = new Text.EncodeOptions { AddSpecialTokens = Flag(root, "add_special_tokens", true) };
        var results = inputs.Select(i =>
        {
            var e = m.Tokenizer.Encode(i.Text, i.Pair, options);
            return e.Ids.Select((id, t) => new TokenResult(id, m.Tokenizer.IdToToken(id), e.Offsets[t].Start, e.Offsets[t].End, e.SequenceIds[t] is null)).ToList();
        }).ToList();
        return Task.FromResult(Results.Json(Single(root) ? results[0] : results, Json));
    }, queued: false);

    // ---- what every model route does ------------------------------------------------------------------------------

    /// <summary>
    /// Reads and parses the body (within the payload limit), holds the request to the concurrency limit, runs
    /// <paramref name="handle"/>, and counts the request by its status. A client that went away is counted as 499.
    /// </summary>
    private async Task<IResult> Handle(HttpContext ctx, string route, Func<ServedModel, JsonElement, Task<IResult>> handle, bool queued = true)
    {
        var started = Stopwatch.GetTimestamp();
        if (_model is not { } model) return Count(route, started, Unavailable(ctx));
        if (_state != "ready") return Count(route, started, Unavailable(ctx));
        bool admitted = !queued || Interlocked.Increment(ref _inFlight) <= options.MaxConcurrentRequests;
        try
        {
            if (!admitted)
            {
                ctx.Response.Headers.RetryAfter = "1";
                return Count(route, started, Error(429, "overloaded", $"more than {options.MaxConcurrentRequests} requests are in flight (ServeOptions.MaxConcurrentRequests): retry later"));
            }
            using var body = await ReadBody(ctx);
            return Count(route, started, await handle(model, body.RootElement));
        }
        catch (RequestException e)
        {
            return Count(route, started, Error(e.Status, e.Status switch { 413 => "payload", 408 => "timeout", _ => "validation" }, e.Message));
        }
        catch (Exception) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away (while sending its body, waiting or being answered): nobody to answer.
            _metrics.Requests.WithLabels(route, "499").Inc();
            return Results.Empty;
        }
        catch (BadHttpRequestException e)
        {
            return Count(route, started, Error(e.StatusCode, e.StatusCode switch { 413 => "payload", 408 => "timeout", _ => "validation" }, e.Message));
        }
        catch (FineTuneException e)
        {
            return Count(route, started, Error(400, "validation", e.Message));
        }
        catch (Exception e)
        {
            // A failure of the model or the server, not of the request: counted, and said.
            return Count(route, started, Error(500, "backend", e.Message));
        }
        finally
        {
            if (queued) Interlocked.Decrement(ref _inFlight);
        }
    }

    private IResult Count(string route, long started, IResult result)
    {
        int status = result is IStatusCodeHttpResult { StatusCode: int s } ? s : 200;
        _metrics.Requests.WithLabels(route, status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        _metrics.Latency.WithLabels(route).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        return result;
    }

    /// <summary>The body as JSON: over the payload limit is 413, a body that is not UTF-8 JSON is 400.</summary>
    private async Task<JsonDocument> ReadBody(HttpContext ctx)
    {
        long limit = options.PayloadLimit;
        if (ctx.Request.ContentLength > limit)
            throw new RequestException(413, $"the body is {ctx.Request.ContentLength} bytes, more than the limit of {limit} (ServeOptions.PayloadLimit)");
        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int read;
        while ((read = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
                throw new RequestException(413, $"the body is more than the limit of {limit} bytes (ServeOptions.PayloadLimit)");
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0) throw new RequestException(400, "the body is empty: send a JSON object");
        // JSON parsing checks the syntax; the bytes inside strings are only decoded when read, so check them first.
        if (InvalidUtf8At(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) is int at and >= 0)
            throw new RequestException(400, $"the body is not valid UTF-8 JSON: byte {at} is not UTF-8");
        try
        {
            return JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
        }
        catch (JsonException e)
        {
            throw new RequestException(400, $"the body is not valid UTF-8 JSON: {e.Message}");
        }
    }

    /// <summary>The offset of the first byte that is not part of a UTF-8 sequence, or -1.</summary>
    private static int InvalidUtf8At(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return -1;
        for (int i = 0; i < bytes.Length;)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out int used) != System.Buffers.OperationStatus.Done) return i;
            i += used;
        }
        return -1;
    }

    /// <summary>"inputs": a string, an array of strings or (with <paramref name="pairs"/>) of two-string arrays; at most <paramref name="most"/>.</summary>
    private static List<(string Text, string? Pair)> ReadInputs(JsonElement root, bool pairs, int most)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new RequestException(400, "the body must be a JSON object with \"inputs\"");
        if (!root.TryGetProperty("inputs", out var inputs)) throw new RequestException(400, "inputs: required");
        if (inputs.ValueKind == JsonValueKind.String) return [(inputs.GetString()!, null)];
        if (inputs.ValueKind != JsonValueKind.Array)
            throw new RequestException(400, $"inputs: expected a string or an array of {(pairs ? "strings or pairs of strings" : "strings")}, got {Kind(inputs)}");
        int count = inputs.GetArrayLength();
        if (count == 0) throw new RequestException(400, "inputs: the array is empty");
        if (count > most) throw new RequestException(413, $"inputs: {count} inputs, more than the limit of {most} per request (ServeOptions.MaxClientBatchSize)");
        var list = new List<(string, string?)>(count);
        int i = 0;
        foreach (var item in inputs.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String) list.Add((item.GetString()!, null));
            else if (pairs && item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2 && item.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
                list.Add((item[0].GetString()!, item[1].GetString()!));
            else
                throw new RequestException(400, $"inputs[{i}]: expected {(pairs ? "a string or a pair [\"text\", \"text\"]" : "a string")}, got {Kind(item)}");
            i++;
        }
        return list;
    }

    /// <summary>/answer's "question" and "context", or "inputs": [{"question", "context"}, ...].</summary>
    private static List<(string Question, string Context)> ReadQuestions(JsonElement root, int most)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new RequestException(400, "the body must be a JSON object with \"question\" and \"context\"");
        if (root.TryGetProperty("inputs", out var inputs))
        {
            if (inputs.ValueKind != JsonValueKind.Array) throw new RequestException(400, $"inputs: expected an array of {{\"question\", \"context\"}} objects, got {Kind(inputs)}");
            int count = inputs.GetArrayLength();
            if (count == 0) throw new RequestException(400, "inputs: the array is empty");
            if (count > most) throw new RequestException(413, $"inputs: {count} inputs, more than the limit of {most} per request (ServeOptions.MaxClientBatchSize)");
            return inputs.EnumerateArray().Select((x, i) => x.ValueKind == JsonValueKind.Object
                ? (Text(x, "question", $"inputs[{i}].question"), Text(x, "context", $"inputs[{i}].context"))
                : throw new RequestException(400, $"inputs[{i}]: expected an object with \"question\" and \"context\", got {Kind(x)}")).ToList();
        }
        return [(Text(root, "question", "question"), Text(root, "context", "context"))];
    }

    private static string Text(JsonElement obj, string name, string field) =>
        !obj.TryGetProperty(name, out var v) ? throw new RequestException(400, $"{field}: required")
        : v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new RequestException(400, $"{field}: expected a string, got {Kind(v)}");

    private static bool Flag(JsonElement root, string name, bool fallback) =>
        !root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? fallback
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw new RequestException(400, $"{name}: expected true or false, got {Kind(v)}");

    private static bool Single(JsonElement root) => root.GetProperty("inputs").ValueKind == JsonValueKind.String;

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    /// <summary>Tokens of the inputs as the model will see them; one longer than the max length is 413 unless truncated.</summary>
    private static int CountTokens(ServedModel m, List<(string Text, string? Pair)> inputs, bool truncate)
    {
        int total = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            int length = m.Tokenizer.Encode(inputs[i].Text, inputs[i].Pair).Length;
            if (length > m.MaxLength && !truncate)
                throw new RequestException(413, $"{(inputs.Count > 1 ? $"inputs[{i}]" : "inputs")}: {length} tokens, more than the model's {m.MaxLength}; send \"truncate\": true to cut it");
            total += Math.Min(length, m.MaxLength);
        }
        return total;
    }

    private static List<LabelScore> Scores(TextPrediction p, ServedModel m, int? topK)
    {
        if (p.Value is float value) return [new LabelScore(m.Labels is [var only] ? only : "value", value)];
        var scores = p.Probabilities!.Select(kv => new LabelScore(kv.Key, kv.Value)).OrderByDescending(s => s.Score).ToList();
        return topK is int k ? scores.Take(k).ToList() : scores;
    }

    private static float[] Normalized(float[] v)
    {
        double norm = Math.Max(Math.Sqrt(v.Sum(x => (double)x * x)), 1e-12);
        return v.Select(x => (float)(x / norm)).ToArray();
    }

    private static IResult WrongRoute(ServedModel m) =>
        Error(404, "validation", $"this is a {m.Task} model: use POST {m.Route}");

    private IResult Unavailable(HttpContext ctx)
    {
        ctx.Response.Headers.RetryAfter = "1";
        return Error(503, "unavailable", $"the model is {_state}");
    }

    public bool Authorized(HttpContext ctx)
    {
        if (options.ApiKey is not { } key) return true;
        var header = ctx.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()), Encoding.UTF8.GetBytes(key));
    }

    public IResult Unauthorized(HttpContext ctx)
    {
        ctx.Response.Headers.WWWAuthenticate = "Bearer";
        return Count(ctx.Request.Path.Value ?? "", Stopwatch.GetTimestamp(), Error(401, "unauthorized", "send the API key as \"Authorization: Bearer KEY\""));
    }

    private static IResult Error(int status, string type, string message) => Results.Json(new ErrorResult(message, type), Json, statusCode: status);
}

/// <summary>A request that cannot be served as sent: its status (400, 408, 413) and what is wrong, naming the field.</summary>
internal sealed class RequestException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
