using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using FineTune.Configuration;
using FineTune.Serving;
using FineTune.Tasks;

namespace FineTune.Bench;

/// <summary>
/// serve: finetune serve under load. The server runs in a child process (its own RSS); this process is the client, on
/// loopback, with a bounded number of requests in flight (the concurrency): single-sentence POST /predict requests
/// from SST-2, each answer checked against the label the offline classifier gives the same sentence. Per concurrency:
/// requests/s, p50/p95/p99 latency, errors (any status but 200, a failed connection, or a wrong label). In the same
/// run, before the server starts: the offline batched throughput of the same backend (TextClassifier.Predict over
/// the same sentences, same threads, fastest batch size), measured in every round between the load levels; medians
/// over rounds. The server's RSS after the first 1,000 requests and after the run.
/// </summary>
internal static class ServeScenario
{
    public static void Run(BenchArgs args)
    {
        var model = args.String("model") ?? throw new ArgumentException("--model DIR (a classification model folder or its export folder) is required");
        var backend = args.String("backend") ?? "auto";
        var precision = args.String("precision") ?? "fp32";
        int threads = args.Int("threads", 2);
        var concurrency = args.Strings("concurrency", "1", "8", "64").Select(int.Parse).ToList();
        var requests = args.Strings("requests", "300", "1000", "2000").Select(int.Parse).ToList();
        int rounds = args.Int("rounds", 3);
        int maxWaitMs = args.Int("max-wait-ms", 5), maxBatch = args.Int("max-batch-requests", 64), forwardBatch = args.Int("forward-batch-size", 8);
        var offlineBatches = args.Strings("offline-batch", "8", "32", "64").Select(int.Parse).ToList();
        int warmup = args.Int("warmup", 200);
        var sst2 = args.String("sst2") ?? Path.Combine(E2eSst2Scenario.DefaultDataFolder(), "sst2", "dev.tsv");
        args.CheckAllUsed();
        if (requests.Count != concurrency.Count) throw new ArgumentException("--requests needs one count per --concurrency level");

        var sentences = File.ReadLines(sst2).Skip(1).Select(l => l.Split('\t')[0].Trim()).Where(s => s.Length > 0).ToList();
        var report = new Report("serve");
        report.Add("load_average_start", Machine.LoadAverage());
        report.Add("model", model);
        report.Add("threads", threads);
        report.Add("max_wait_ms", maxWaitMs);
        report.Add("max_batch_requests", maxBatch);
        report.Add("forward_batch_size", forwardBatch);
        report.Add("sentences", sentences.Count);
        report.Add("rounds", rounds);

        // Offline: the same backend and threads, in this process: every sentence, in batches of each size (sorted by
        // length, as the classifier does), the fastest size counting. Measured in every round, between the server's
        // load levels (the server idle meanwhile), so that each ratio compares runs under the same machine load.
        using var classifier = TextClassifier.Load(model, "cpu", ParsePrecision(precision), threads: threads);
        var inputs = sentences.Select(s => (s, (string?)null)).ToList();
        var expected = classifier.Predict(inputs).Select(p => p.Label!).ToArray();   // also the warm-up
        double Offline()
        {
            double best = 0;
            foreach (var size in offlineBatches)
            {
                classifier.BatchSize = size;
                var clock = Stopwatch.StartNew();
                classifier.Predict(inputs);
                best = Math.Max(best, sentences.Count / clock.Elapsed.TotalSeconds);
            }
            return best;
        }

        var (file, prefix) = Machine.SelfCommand();
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in prefix.Concat(["serve-child", "--model", model, "--backend", backend, "--precision", precision, "--threads", threads.ToString(CultureInfo.InvariantCulture),
                     "--max-wait-ms", maxWaitMs.ToString(CultureInfo.InvariantCulture), "--forward-batch-size", forwardBatch.ToString(CultureInfo.InvariantCulture),
                     "--max-batch-requests", maxBatch.ToString(CultureInfo.InvariantCulture), "--results", "none"]))
            start.ArgumentList.Add(a);
        using var child = Process.Start(start)!;
        try
        {
            Uri? address = null;
            string? line;
            while ((line = child.StandardOutput.ReadLine()) is not null && line != "ready")
                if (line.StartsWith("Listening on ", StringComparison.Ordinal)) address = new Uri(line.Split(' ')[2]);
            if (address is null || line is null) throw new InvalidOperationException("the server did not start");
            report.Add("backend", Info(address)["backend"]!.GetValue<string>());

            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency.Max(), PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) };
            using var client = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(120) };
            // Warm-up at the highest concurrency, so that the server has seen its largest batches before RSS is read.
            Load(client, sentences, expected, concurrency.Max(), warmup, null);
            long rssAfterFirst = 0;
            int done = 0;
            var offline = new List<double>();
            var results = concurrency.Select(_ => new List<(LoadResult Result, double Offline, string Load)>()).ToList();
            for (int round = 0; round < rounds; round++)
            {
                offline.Add(Offline());
                for (int level = 0; level < concurrency.Count; level++)
                {
                    var result = Load(client, sentences, expected, concurrency[level], requests[level], () =>
                    {
                        if (Interlocked.Increment(ref done) == 1000) Interlocked.Exchange(ref rssAfterFirst, ChildRss(child.Id));
                    });
                    results[level].Add((result, offline[^1], Machine.LoadAverage()));
                }
            }
            long rssEnd = ChildRss(child.Id);
            var rows = new List<IReadOnlyList<object?>>();
            for (int level = 0; level < concurrency.Count; level++)
            {
                var r = results[level];
                int errors = r.Sum(x => x.Result.Errors);
                rows.Add([concurrency[level], requests[level] * rounds, Stats.Median(r.Select(x => x.Result.PerSecond)),
                    Stats.Median(r.Select(x => x.Result.PerSecond / x.Offline)), Stats.Median(r.Select(x => x.Result.Latency(0.50) * 1e3)),
                    Stats.Median(r.Select(x => x.Result.Latency(0.95) * 1e3)), Stats.Median(r.Select(x => x.Result.Latency(0.99) * 1e3)), errors]);
                report.Json($"c{concurrency[level]}", r.Select(x => new Dictionary<string, object>
                {
                    ["requests"] = requests[level], ["requests_per_second"] = Math.Round(x.Result.PerSecond, 2), ["offline"] = Math.Round(x.Offline, 2),
                    ["p50_ms"] = Math.Round(x.Result.Latency(0.50) * 1e3, 2), ["p95_ms"] = Math.Round(x.Result.Latency(0.95) * 1e3, 2),
                    ["p99_ms"] = Math.Round(x.Result.Latency(0.99) * 1e3, 2), ["errors"] = x.Result.Errors, ["first_error"] = x.Result.FirstError ?? "",
                    ["load_average"] = x.Load,
                }).ToList());
            }
            report.Table($"POST /predict, one SST-2 sentence per request; medians of {rounds} rounds (offline batched: median {Stats.Median(offline):0.0} sentences/s)",
                ["concurrency", "requests", "requests/s", "vs offline (same round)", "p50 ms", "p95 ms", "p99 ms", "errors"], rows, "levels");
            report.Add("offline_sentences_per_second_median", Stats.Median(offline));
            report.Json("offline_sentences_per_second", offline.Select(o => Math.Round(o, 2)).ToList());
            report.Add("requests_total", done);
            report.Add("errors_total", rows.Sum(r => (int)r[7]!));
            report.Add("rss_after_first_1000_mib", rssAfterFirst / 1048576.0);
            report.Add("rss_after_run_mib", rssEnd / 1048576.0);
            report.Add("rss_growth", rssAfterFirst > 0 ? (double)rssEnd / rssAfterFirst - 1 : double.NaN);
        }
        finally
        {
            child.StandardInput.Close();
            if (!child.WaitForExit(60_000)) child.Kill();
        }
        report.Finish();
    }

    private static Precision ParsePrecision(string precision) =>
        Enum.TryParse<Precision>(precision, ignoreCase: true, out var p) ? p : throw new ArgumentException($"--precision: fp32, bf16 or int8, got {precision}");

    private static JsonNode Info(Uri address)
    {
        using var client = new HttpClient { BaseAddress = address };
        return JsonNode.Parse(client.GetStringAsync("/info").GetAwaiter().GetResult())!;
    }

    private sealed record LoadResult(double PerSecond, double[] Seconds, int Errors, string? FirstError)
    {
        public double Latency(double q) => Seconds.Length == 0 ? double.NaN : Seconds[Math.Min(Seconds.Length - 1, (int)Math.Ceiling(q * Seconds.Length) - 1)];
    }

    /// <summary><paramref name="count"/> requests with at most <paramref name="concurrency"/> in flight; sentences in turn.</summary>
    private static LoadResult Load(HttpClient client, List<string> sentences, string[] expected, int concurrency, int count, Action? onDone)
    {
        var seconds = new double[count];
        int next = -1, errors = 0;
        string? firstError = null;
        var bodies = sentences.Select(s => Encoding.UTF8.GetBytes(new JsonObject { ["inputs"] = s, ["truncate"] = true }.ToJsonString())).ToArray();
        void Fail(string why)
        {
            Interlocked.Increment(ref errors);
            Interlocked.CompareExchange(ref firstError, why, null);
        }
        async Task Worker()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                int s = i % sentences.Count;
                var clock = Stopwatch.StartNew();
                try
                {
                    using var content = new ByteArrayContent(bodies[s]);
                    content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                    using var response = await client.PostAsync("/predict", content);
                    var text = await response.Content.ReadAsStringAsync();
                    seconds[i] = clock.Elapsed.TotalSeconds;
                    if (response.StatusCode != HttpStatusCode.OK) Fail($"{(int)response.StatusCode} {text}");
                    else if (JsonNode.Parse(text)![0]!["label"]!.GetValue<string>() != expected[s]) Fail($"sentence {s}: {text}, expected {expected[s]}");
                }
                catch (HttpRequestException e)
                {
                    seconds[i] = clock.Elapsed.TotalSeconds;
                    Fail(e.Message);
                }
                onDone?.Invoke();
            }
        }
        var wall = Stopwatch.StartNew();
        Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Worker))).GetAwaiter().GetResult();
        double elapsed = wall.Elapsed.TotalSeconds;
        Array.Sort(seconds);
        return new LoadResult(count / elapsed, seconds, errors, firstError);
    }

    private static long ChildRss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }

    /// <summary>serve-child: the server, until its standard input closes; prints its address, then "ready".</summary>
    public static void Child(BenchArgs args)
    {
        var options = new ServeOptions
        {
            Model = args.String("model")!,
            Backend = Enum.Parse<ServeBackend>(args.String("backend")!.Replace("-", ""), ignoreCase: true),
            Precision = ParsePrecision(args.String("precision")!),
            Threads = args.Int("threads", 2),
            MaxWaitMs = args.Int("max-wait-ms", 5),
            MaxBatchRequests = args.Int("max-batch-requests", 64),
            ForwardBatchSize = args.Int("forward-batch-size", 8),
            Port = 0,
        };
        args.String("results");
        args.CheckAllUsed();
        var server = ModelServer.StartAsync(options).GetAwaiter().GetResult();
        Console.WriteLine($"Listening on {server.Address}");
        server.Ready.GetAwaiter().GetResult();
        Console.WriteLine("ready");
        Console.In.ReadToEnd();
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
