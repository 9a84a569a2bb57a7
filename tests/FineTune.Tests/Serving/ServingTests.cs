using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using FineTune.Configuration;
using FineTune.Inference;
using FineTune.Serving;
using FineTune.Tasks;
using FineTune.Tests.Data;
using FineTune.Tests.Export;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace FineTune.Tests.Serving;

/// <summary>
/// finetune serve on a real Kestrel server on a loopback port, with the tiny models of the export tests (a model
/// folder on TorchSharp, its export on ONNX Runtime): every route gives what the library's predictor gives for the
/// same inputs, bad requests get their documented status (400, 401, 413, 429) and never a 500, and after clients that
/// disconnect, dawdle or send too much, /health is 200 and predictions are still right.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public sealed class ServingTests(OnnxExportTests.Exports exports) : IClassFixture<OnnxExportTests.Exports>
{
    // The server batches inputs with other requests' inputs, so they are padded to other lengths than in the direct
    // call: masked positions add exact zeros, and only the order of the float sums may differ (~1e-7 on these scores).
    private const double Tolerance = 1e-5;

    private static readonly string[] Sentences = File.ReadLines(SharedData.File("sst2", "dev.tsv")).Skip(1).Take(48)
        .Select(l => l.Split('\t')[0].Trim()).ToArray();

    /// <summary>A server of one model on a free loopback port, ready, with a client.</summary>
    private sealed class Server : IAsyncDisposable
    {
        private Server(ModelServer server)
        {
            Inner = server;
            Client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        }

        public ModelServer Inner { get; }
        public HttpClient Client { get; }
        public Uri Address => Inner.Address;

        public static async Task<Server> Start(ServeOptions options)
        {
            var server = await ModelServer.StartAsync(options with { Host = "127.0.0.1", Port = 0 });
            await server.Ready;
            return new Server(server);
        }

        public async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> Post(string route, string json)
        {
            var response = await Client.PostAsync(route, new StringContent(json, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null, response);
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Inner.DisposeAsync();
        }
    }

    private static string Inputs(IEnumerable<string> texts) => new JsonObject { ["inputs"] = new JsonArray(texts.Select(t => (JsonNode)t!).ToArray()) }.ToJsonString();

    private static void AssertScores(TextPrediction expected, JsonNode? actual, string where)
    {
        var scores = actual!.AsArray();
        Assert.Equal(expected.Probabilities!.Count, scores.Count);
        Assert.Equal(expected.Label, scores[0]!["label"]!.GetValue<string>());   // highest first
        foreach (var s in scores)
        {
            var label = s!["label"]!.GetValue<string>();
            Assert.True(Math.Abs(expected.Probabilities[label] - s["score"]!.GetValue<double>()) <= Tolerance, $"{where} {label}");
        }
    }

    /// <summary>A model folder on TorchSharp, its export on ONNX Runtime, and the model folder exported at start for ONNX Runtime.</summary>
    [Theory]
    [InlineData(false, ServeBackend.Auto)]
    [InlineData(true, ServeBackend.Auto)]
    [InlineData(false, ServeBackend.OnnxRuntime)]
    [InlineData(true, ServeBackend.Auto, Precision.Int8)]
    public async Task PredictGivesTheClassifiersScoresOnEitherBackend(bool export, ServeBackend backend, Precision precision = Precision.Fp32)
    {
        var (folder, exported) = exports.Get("bert", "classification");
        var model = export ? exported : folder;
        bool onnx = export || backend == ServeBackend.OnnxRuntime;
        using var classifier = TextClassifier.Load(onnx ? exported : folder, precision: precision);
        var inputs = Sentences.Select(s => (s, (string?)null)).ToList();
        // int8 quantizes activations with one scale per batch: a sentence's int8 scores depend on its batch-mates, so
        // the int8 server is compared with the same batches (each sentence alone; 16 in passes of 8, longest first).
        bool int8 = precision == Precision.Int8;
        var expected = int8 ? inputs.Select(x => classifier.Predict([x])[0]).ToList() : classifier.Predict(inputs);
        classifier.BatchSize = new ServeOptions { Model = model }.ForwardBatchSize;
        var expected16 = classifier.Predict(inputs.Take(16).ToList());
        await using var server = await Server.Start(new ServeOptions { Model = model, Backend = backend, Precision = precision });

        // Every sentence in its own request, all at once (the batcher groups them; int8: one after another), and 16 in one request.
        var singles = int8
            ? await Sequential(Sentences.Select(s => (Func<Task<(HttpStatusCode, JsonNode?, HttpResponseMessage)>>)(() => server.Post("/predict", new JsonObject { ["inputs"] = s }.ToJsonString()))))
            : await Task.WhenAll(Sentences.Select(s => server.Post("/predict", new JsonObject { ["inputs"] = s }.ToJsonString())));
        for (int i = 0; i < Sentences.Length; i++)
        {
            Assert.Equal(HttpStatusCode.OK, singles[i].Item1);
            AssertScores(expected[i], singles[i].Item2, $"sentence {i}");
        }
        var (status, body, _) = await server.Post("/predict", Inputs(Sentences.Take(16)));
        Assert.Equal(HttpStatusCode.OK, status);
        for (int i = 0; i < 16; i++) AssertScores(expected16[i], body![i], $"batch row {i}");
        (status, body, _) = await server.Post("/predict", new JsonObject { ["inputs"] = Sentences[0], ["top_k"] = 1 }.ToJsonString());
        Assert.Equal(expected[0].Label, Assert.Single(body!.AsArray())!["label"]!.GetValue<string>());

        var info = JsonNode.Parse(await server.Client.GetStringAsync("/info"))!;
        Assert.Equal(precision == Precision.Int8 ? "int8" : "fp32", info["precision"]!.GetValue<string>());
        Assert.Equal(("classification", onnx ? "onnxruntime" : "torchsharp", "/predict"),
            (info["task"]!.GetValue<string>(), info["backend"]!.GetValue<string>(), info["route"]!.GetValue<string>()));
        Assert.Equal(["negative", "neutral", "positive"], info["labels"]!.AsArray().Select(l => l!.GetValue<string>()));
        Assert.Equal(64, info["max_length"]!.GetValue<int>());

        var tokens = JsonNode.Parse(await (await server.Client.PostAsync("/tokenize", new StringContent("{\"inputs\": \"Hello, world\"}", Encoding.UTF8, "application/json"))).Content.ReadAsStringAsync())!.AsArray();
        var encoding = classifier.Tokenizer.Encode("Hello, world");
        Assert.Equal(encoding.Ids, tokens.Select(t => t!["id"]!.GetValue<int>()));
        Assert.Equal("hello", tokens[1]!["text"]!.GetValue<string>());
        Assert.Equal((0, 5), (tokens[1]!["start"]!.GetValue<int>(), tokens[1]!["stop"]!.GetValue<int>()));
        Assert.True(tokens[0]!["special"]!.GetValue<bool>());

        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Contains($"finetune_requests_total{{route=\"/predict\",status=\"200\"}} {Sentences.Length + 2}", metrics);
        Assert.Contains("finetune_batch_size_count", metrics);
        var openapi = JsonNode.Parse(await server.Client.GetStringAsync("/openapi.json"))!;
        foreach (var route in new[] { "/predict", "/ner", "/answer", "/embed", "/tokenize", "/health", "/info", "/metrics" })
            Assert.NotNull(openapi["paths"]![route]);
        Assert.Equal("FineTune", openapi["info"]!["title"]!.GetValue<string>());
    }

    [Fact]
    public async Task NerAnswerAndEmbedGiveThePredictorsResults()
    {
        var (nerFolder, nerExport) = exports.Get("bert", "token-classification");
        using (var ner = EntityPredictor.Load(nerExport))
        {
            var expected = ner.Predict(Sentences.Take(12).ToList());
            await using var server = await Server.Start(new ServeOptions { Model = nerExport });
            var (status, body, _) = await server.Post("/ner", Inputs(Sentences.Take(12)));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.True(expected.Sum(e => e.Count) > 0, "the tiny tagger finds entities to compare");
            for (int i = 0; i < 12; i++)
            {
                var found = body![i]!.AsArray();
                Assert.Equal(expected[i].Count, found.Count);
                for (int j = 0; j < found.Count; j++)
                {
                    var (e, f) = (expected[i][j], found[j]!);
                    Assert.Equal((e.Type, e.Text, e.Start, e.End), (f["type"]!.GetValue<string>(), f["text"]!.GetValue<string>(), f["start"]!.GetValue<int>(), f["end"]!.GetValue<int>()));
                    Assert.True(Math.Abs(e.Score - f["score"]!.GetValue<double>()) <= Tolerance);
                }
            }
            (status, body, _) = await server.Post("/predict", Inputs(["a"]));
            Assert.Equal(HttpStatusCode.NotFound, status);
            Assert.Contains("POST /ner", body!["error"]!.GetValue<string>());
        }

        var (qaFolder, _) = exports.Get("distilbert", "question-answering");
        using (var qa = AnswerPredictor.Load(qaFolder, new AnswerPredictorOptions { DocStride = 16 }))
        {
            var questions = Sentences.Take(6).Select((s, i) => ("what is it?", s + " " + Sentences[i + 6])).ToList();
            var expected = qa.Predict(questions);
            await using var server = await Server.Start(new ServeOptions { Model = qaFolder, DocStride = 16 });
            var request = new JsonObject { ["inputs"] = new JsonArray(questions.Select(q => (JsonNode)new JsonObject { ["question"] = q.Item1, ["context"] = q.Item2 }).ToArray()) };
            var (status, body, _) = await server.Post("/answer", request.ToJsonString());
            Assert.Equal(HttpStatusCode.OK, status);
            for (int i = 0; i < questions.Count; i++)
            {
                var a = body![i]!;
                Assert.Equal((expected[i].Text, expected[i].Start, expected[i].End), (a["answer"]!.GetValue<string>(), a["start"]!.GetValue<int>(), a["end"]!.GetValue<int>()));
                Assert.True(Math.Abs(expected[i].Score - a["score"]!.GetValue<double>()) <= Tolerance);
            }
            (status, body, _) = await server.Post("/answer", new JsonObject { ["question"] = "what is it?" }.ToJsonString());
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("context: required", body!["error"]!.GetValue<string>());
        }

        var (_, simExport) = exports.Get("bert", "similarity");
        using (var embedder = SentenceEmbedder.Load(simExport))
        {
            var expected = embedder.Embed(Sentences.Take(8).ToList(), normalize: true);
            var raw = embedder.Embed(Sentences.Take(1).ToList());
            await using var server = await Server.Start(new ServeOptions { Model = simExport });
            var (status, body, _) = await server.Post("/embed", Inputs(Sentences.Take(8)));
            Assert.Equal(HttpStatusCode.OK, status);
            for (int i = 0; i < 8; i++)
                Assert.True(expected[i].Zip(body![i]!.AsArray()).Max(p => Math.Abs(p.First - p.Second!.GetValue<float>())) <= Tolerance, $"vector {i}");
            (_, body, _) = await server.Post("/embed", new JsonObject { ["inputs"] = Sentences[0], ["normalize"] = false }.ToJsonString());
            Assert.True(raw[0].Zip(body![0]!.AsArray()).Max(p => Math.Abs(p.First - p.Second!.GetValue<float>())) <= Tolerance);
        }
    }

    [Fact]
    public async Task BadRequestsGetTheirStatusNamingTheField()
    {
        var (_, export) = exports.Get("bert", "classification");
        await using var server = await Server.Start(new ServeOptions { Model = export, MaxClientBatchSize = 32, PayloadLimit = 100_000 });
        async Task Expect(HttpStatusCode status, string body, string error)
        {
            var (actual, json, _) = await server.Post("/predict", body);
            Assert.True(status == actual, $"{body[..Math.Min(body.Length, 40)]}: {(int)actual} {json?.ToJsonString()}");
            Assert.Contains(error, json!["error"]!.GetValue<string>());
        }
        await Expect(HttpStatusCode.BadRequest, "{\"inputs\": [\"a\", ", "the body is not valid UTF-8 JSON");
        await Expect(HttpStatusCode.BadRequest, "{\"text\": \"a\"}", "inputs: required");
        await Expect(HttpStatusCode.BadRequest, "{\"inputs\": 3}", "inputs: expected a string or an array");
        await Expect(HttpStatusCode.BadRequest, "{\"inputs\": [\"a\", 3]}", "inputs[1]: expected a string or a pair");
        await Expect(HttpStatusCode.BadRequest, "{\"inputs\": []}", "inputs: the array is empty");
        await Expect(HttpStatusCode.BadRequest, "{\"inputs\": \"a\", \"top_k\": 0}", "top_k: expected a whole number of at least 1");
        await Expect(HttpStatusCode.BadRequest, "{\"inputs\": \"a\", \"truncate\": \"yes\"}", "truncate: expected true or false");
        await Expect(HttpStatusCode.BadRequest, "[\"a\"]", "the body must be a JSON object");
        await Expect(HttpStatusCode.BadRequest, "", "the body is empty");
        // 1,000 inputs in one request.
        await Expect(HttpStatusCode.RequestEntityTooLarge, Inputs(Enumerable.Repeat("a", 1000)), "1000 inputs, more than the limit of 32");
        // An input longer than the model's 64 tokens: 413 unless truncated.
        var longText = string.Join(' ', Sentences);
        await Expect(HttpStatusCode.RequestEntityTooLarge, new JsonObject { ["inputs"] = longText }.ToJsonString(), "more than the model's 64");
        var (ok, _, _) = await server.Post("/predict", new JsonObject { ["inputs"] = longText, ["truncate"] = true }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, ok);
        // Invalid UTF-8 in a string.
        var bytes = Encoding.UTF8.GetBytes("{\"inputs\": \"caf\u00e9 \"}");
        bytes[^4] = 0xFF;
        var invalid = await server.Client.PostAsync("/predict", new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("not valid UTF-8 JSON", await invalid.Content.ReadAsStringAsync());
        // A 10 MB body, over a raw connection that keeps sending while the server answers.
        Assert.Equal(413, await RawStatus(server.Address, 10 * 1024 * 1024));
        // A body over the limit sent in chunks (no Content-Length): stopped while it is read.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(Inputs(Enumerable.Repeat(new string('a', 1000), 200)))));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/predict") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        var tooLong = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLong.StatusCode);
        Assert.Equal("payload", JsonNode.Parse(await tooLong.Content.ReadAsStringAsync())!["error_type"]!.GetValue<string>());

        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.DoesNotContain("status=\"500\"", metrics);
        await AssertHealthyAndRight(server, export);
    }

    [Fact]
    public async Task TheApiKeyIsRequiredEverywhereButHealth()
    {
        var (_, export) = exports.Get("bert", "classification");
        await using var server = await Server.Start(new ServeOptions { Model = export, ApiKey = "s3cret" });
        var (status, body, response) = await server.Post("/predict", Inputs(["a"]));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        Assert.Equal("unauthorized", body!["error_type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.GetAsync("/info")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health")).StatusCode);
        server.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Post("/predict", Inputs(["a"]))).Status);
        server.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret");
        Assert.Equal(HttpStatusCode.OK, (await server.Post("/predict", Inputs(["a"]))).Status);
    }

    [Fact]
    public async Task HealthAndRequestsAre503UntilTheModelHasLoaded()
    {
        var (_, export) = exports.Get("bert", "classification");
        // The loader reports the loaded model before the server calls it ready: holding that report holds the load.
        using var release = new ManualResetEventSlim();
        await using var server = await ModelServer.StartAsync(new ServeOptions { Model = export, Host = "127.0.0.1", Port = 0 },
            info: m => { if (m.StartsWith("Serving a", StringComparison.Ordinal)) release.Wait(TimeSpan.FromSeconds(60)); });
        using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        var health = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("loading", JsonNode.Parse(await health.Content.ReadAsStringAsync())!["status"]!.GetValue<string>());
        var predict = await client.PostAsync("/predict", new StringContent(Inputs(["a fine film"]), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, predict.StatusCode);
        Assert.Contains("the model is loading", await predict.Content.ReadAsStringAsync());

        release.Set();
        await server.Ready;
        health = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ready", JsonNode.Parse(await health.Content.ReadAsStringAsync())!["status"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/predict", new StringContent(Inputs(["a fine film"]), Encoding.UTF8, "application/json"))).StatusCode);
    }

    [Fact]
    public async Task RequestsOverTheConcurrencyLimitGet429WithRetryAfter()
    {
        var (_, export) = exports.Get("bert", "classification");
        // One request at a time; the first waits 3 s in the batcher for company.
        await using var server = await Server.Start(new ServeOptions { Model = export, MaxConcurrentRequests = 1, MaxWaitMs = 3000 });
        var first = server.Post("/predict", Inputs(["a fine film"]));
        await WaitForQueued(server, 1);
        var (status, body, response) = await server.Post("/predict", Inputs(["another"]));
        Assert.Equal((HttpStatusCode)429, status);
        Assert.Equal("1", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("overloaded", body!["error_type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await first).Status);
        Assert.Equal(HttpStatusCode.OK, (await server.Post("/predict", Inputs(["and now"]))).Status);
    }

    [Fact]
    public async Task AfterDisconnectingAndSlowClientsTheServerIsHealthyAndRight()
    {
        var (_, export) = exports.Get("bert", "classification");
        await using var server = await Server.Start(new ServeOptions { Model = export, MaxWaitMs = 2 });
        using var classifier = TextClassifier.Load(export);
        var expected = classifier.Predict(Sentences.Select(s => (s, (string?)null)).ToList());

        // 200 clients that go away: 100 in the middle of sending the body, 100 while their request waits or runs.
        var gone = Enumerable.Range(0, 200).Select(async i =>
        {
            var body = Encoding.UTF8.GetBytes(Inputs([Sentences[i % Sentences.Length]]));
            using var cancel = new CancellationTokenSource();
            HttpContent content = i % 2 == 0 ? new ThrottledContent(body, pieces: 2, pause: TimeSpan.FromSeconds(30)) : new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            cancel.CancelAfter(i % 2 == 0 ? 200 : 1 + i % 20);
            try { await server.Client.PostAsync("/predict", content, cancel.Token); }
            catch (OperationCanceledException) { }
        });
        await Task.WhenAll(gone);

        // 100 slow clients: each body in 4 pieces, 100 ms apart; all served, each with its own sentence's scores.
        var slow = await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            var content = new ThrottledContent(Encoding.UTF8.GetBytes(new JsonObject { ["inputs"] = Sentences[i % Sentences.Length] }.ToJsonString()), pieces: 4, pause: TimeSpan.FromMilliseconds(100));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            var response = await server.Client.PostAsync("/predict", content);
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        }));
        for (int i = 0; i < slow.Length; i++)
        {
            Assert.Equal(HttpStatusCode.OK, slow[i].StatusCode);
            AssertScores(expected[i % Sentences.Length], slow[i].Item2, $"slow client {i}");
        }
        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.DoesNotContain("status=\"500\"", metrics);
        await AssertHealthyAndRight(server, export);
    }

    [Fact]
    public async Task AUsersAppMapsTheEndpointsUnderItsOwnPrefix()
    {
        var (_, export) = exports.Get("bert", "classification");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddFineTune(new ServeOptions { Model = export });
        await using var app = builder.Build();
        app.MapGet("/", () => "my app");
        app.MapFineTune("/models/sentiment");
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        var watch = Stopwatch.StartNew();
        while ((await client.GetAsync("/models/sentiment/health")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "the model loads");
            await Task.Delay(50);
        }
        Assert.Equal("my app", await client.GetStringAsync("/"));
        var response = await client.PostAsync("/models/sentiment/predict", new StringContent(Inputs(["a fine film"]), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, JsonNode.Parse(await response.Content.ReadAsStringAsync())![0]!.AsArray().Count);
        await app.StopAsync();
    }

    [Fact]
    public async Task SigtermFinishesTheRequestInFlightAndExitsZero()
    {
        var (_, export) = exports.Get("bert", "classification");
        var exe = Path.Combine(AppContext.BaseDirectory, "FineTune.Cli");
        var start = new ProcessStartInfo(exe, ["serve", "--model", export, "--port", "0", "--max-wait-ms", "2000", "--threads", "1"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            Environment = { ["FINETUNE_ALLOCATOR"] = "glibc" },
        };
        using var process = Process.Start(start)!;
        var lines = new List<string>();
        var listening = new TaskCompletionSource<Uri>();
        var ready = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line) return;
            lock (lines) lines.Add(line);
            if (line.StartsWith("Listening on ", StringComparison.Ordinal)) listening.TrySetResult(new Uri(line.Split(' ')[2]));
            if (line.StartsWith("Serving a ", StringComparison.Ordinal)) ready.TrySetResult();
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            var address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = address };
            var inFlight = client.PostAsync("/predict", new StringContent(Inputs(["a fine film"]), Encoding.UTF8, "application/json"));
            await WaitForQueued(client, 1);
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!) await kill.WaitForExitAsync();
            var response = await inFlight;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(3, JsonNode.Parse(await response.Content.ReadAsStringAsync())![0]!.AsArray().Count);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(process.ExitCode == 0, await stderr);
            await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/health"));
            lock (lines) Assert.Equal("Stopped.", lines[^1]);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }

    [Fact]
    public void BadServeOptionsAreOneClearErrorNamingTheFlag()
    {
        var (code, _, error) = Cli.CliTests.Run("serve", "--model", "x", "--max-batch-tokens", "0");
        Assert.Equal(2, code);
        Assert.Contains("--max-batch-tokens: must be positive, got 0", error);
        (code, _, error) = Cli.CliTests.Run("serve", "--model", "x", "--backend", "tensorflow");
        Assert.Equal(2, code);
        Assert.Contains("--backend: expected one of auto, torchsharp, onnxruntime", error);
        var (_, export) = exports.Get("bert", "classification");
        (code, _, error) = Cli.CliTests.Run("serve", "--model", export, "--backend", "torchsharp", "--port", "0");
        Assert.Equal(2, code);
        Assert.Contains("--backend: ", error);
        Assert.Contains("is an export folder", error);
    }

    /// <summary>/health is 200 and the model still predicts what the classifier predicts.</summary>
    private static async Task AssertHealthyAndRight(Server server, string model)
    {
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health")).StatusCode);
        using var classifier = TextClassifier.Load(model);
        var expected = classifier.Predict(Sentences.Take(8).Select(s => (s, (string?)null)).ToList());
        var (status, body, _) = await server.Post("/predict", Inputs(Sentences.Take(8)));
        Assert.Equal(HttpStatusCode.OK, status);
        for (int i = 0; i < 8; i++) AssertScores(expected[i], body![i], $"after: row {i}");
    }

    private static async Task<T[]> Sequential<T>(IEnumerable<Func<Task<T>>> calls)
    {
        var results = new List<T>();
        foreach (var call in calls) results.Add(await call());
        return [.. results];
    }

    private static Task WaitForQueued(Server server, int inputs) => WaitForQueued(server.Client, inputs);

    /// <summary>Waits until /metrics shows <paramref name="inputs"/> inputs waiting for the model.</summary>
    private static async Task WaitForQueued(HttpClient client, int inputs)
    {
        var watch = Stopwatch.StartNew();
        while (!(await client.GetStringAsync("/metrics")).Contains($"\nfinetune_queue_depth {inputs}\n", StringComparison.Ordinal))
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), "the request reaches the queue");
            await Task.Delay(10);
        }
    }

    /// <summary>
    /// The status code of a POST /predict whose headers announce <paramref name="length"/> bytes, sent over a raw
    /// connection that keeps writing the body while it reads the response (the server may close the connection).
    /// </summary>
    private static async Task<int> RawStatus(Uri address, int length)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port);
        var stream = tcp.GetStream();
        var head = Encoding.ASCII.GetBytes($"POST /predict HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n");
        await stream.WriteAsync(head);
        var sending = Task.Run(async () =>
        {
            var chunk = Encoding.ASCII.GetBytes(new string(' ', 65536));
            try
            {
                for (int sent = 0; sent < length; sent += chunk.Length) await stream.WriteAsync(chunk.AsMemory(0, Math.Min(chunk.Length, length - sent)));
            }
            catch (IOException) { }
        });
        var buffer = new byte[4096];
        var text = new StringBuilder();
        while (!text.ToString().Contains("\r\n", StringComparison.Ordinal))
        {
            int read = await stream.ReadAsync(buffer);
            if (read == 0) break;
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        tcp.Client.Shutdown(SocketShutdown.Both);
        await sending;
        return int.Parse(text.ToString().Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A body sent in <paramref name="pieces"/> pieces with a pause before each but the first.</summary>
    private sealed class ThrottledContent(byte[] body, int pieces, TimeSpan pause) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            int size = (body.Length + pieces - 1) / pieces;
            for (int offset = 0, i = 0; offset < body.Length; offset += size, i++)
            {
                if (i > 0) await Task.Delay(pause, cancellationToken);
                await stream.WriteAsync(body.AsMemory(offset, Math.Min(size, body.Length - offset)), cancellationToken);
                await stream.FlushAsync(cancellationToken);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }
}
