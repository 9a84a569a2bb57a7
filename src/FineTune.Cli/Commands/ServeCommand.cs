using System.CommandLine;
using FineTune.Serving;

namespace FineTune.Cli.Commands;

/// <summary>`finetune serve`: a model or export folder behind HTTP endpoints (Kestrel), until Ctrl+C or SIGTERM.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServeOptions { Model = "" };
        var model = new Option<string>("--model", "-m") { Description = "A run's model folder, an export folder (finetune export), or a catalog name (embeddings).", Required = true };
        var backend = new Option<string>("--backend") { Description = "auto (an export folder runs on ONNX Runtime, a model folder on TorchSharp), torchsharp, or onnxruntime (a model folder is exported first).", DefaultValueFactory = _ => "auto" };
        var precision = new Option<string>("--precision") { Description = "fp32, bf16 (TorchSharp, CPUs with AMX) or int8 (an export's quantized model).", DefaultValueFactory = _ => "fp32" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads of the model (default: one per processor)." };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per input (default: the length the model was trained with)." };
        var docStride = new Option<int?>("--doc-stride") { Description = "Question answering: context tokens shared by consecutive windows (default: the model's training stride)." };
        var host = new Option<string>("--host") { Description = "The address to listen on (0.0.0.0: every interface).", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port") { Description = "The port to listen on.", DefaultValueFactory = _ => defaults.Port };
        var maxBatchTokens = new Option<int>("--max-batch-tokens") { Description = "Queued inputs are run together up to this many tokens.", DefaultValueFactory = _ => defaults.MaxBatchTokens };
        var maxBatchRequests = new Option<int>("--max-batch-requests") { Description = "... and up to this many inputs.", DefaultValueFactory = _ => defaults.MaxBatchRequests };
        var forwardBatch = new Option<int>("--forward-batch-size") { Description = "Inputs per forward pass: a batch is sorted by length and run in passes of this many.", DefaultValueFactory = _ => defaults.ForwardBatchSize };
        var maxWait = new Option<int>("--max-wait-ms") { Description = "How long the first queued input waits for others to join its batch.", DefaultValueFactory = _ => defaults.MaxWaitMs };
        var maxConcurrent = new Option<int>("--max-concurrent-requests") { Description = "Requests served at once; more get 429 with Retry-After.", DefaultValueFactory = _ => defaults.MaxConcurrentRequests };
        var payload = new Option<long>("--payload-limit") { Description = "The largest request body in bytes; larger gets 413.", DefaultValueFactory = _ => defaults.PayloadLimit };
        var clientBatch = new Option<int>("--max-client-batch-size") { Description = "The most inputs in one request; more get 413.", DefaultValueFactory = _ => defaults.MaxClientBatchSize };
        var apiKey = new Option<string?>("--api-key") { Description = "Require \"Authorization: Bearer KEY\" on every route but /health (401 without it)." };
        FlagNames.Register(("ServeOptions.Model", "--model"), ("ServeOptions.Backend", "--backend"), ("ServeOptions.Precision", "--precision"),
            ("ServeOptions.Threads", "--threads"), ("ServeOptions.MaxLength", "--max-length"), ("ServeOptions.DocStride", "--doc-stride"), ("ServeOptions.Host", "--host"), ("ServeOptions.Port", "--port"),
            ("ServeOptions.MaxBatchTokens", "--max-batch-tokens"), ("ServeOptions.MaxBatchRequests", "--max-batch-requests"),
            ("ServeOptions.MaxWaitMs", "--max-wait-ms"), ("ServeOptions.ForwardBatchSize", "--forward-batch-size"), ("ServeOptions.MaxConcurrentRequests", "--max-concurrent-requests"),
            ("ServeOptions.PayloadLimit", "--payload-limit"), ("ServeOptions.MaxClientBatchSize", "--max-client-batch-size"), ("ServeOptions.ApiKey", "--api-key"));
        var command = new Command("serve", """
            Serve a fine-tuned or exported model over HTTP: POST /predict, /ner, /answer, /generate, /embed, /tokenize; GET /health, /info,
            /metrics, /openapi.json. Requests are batched dynamically. Ctrl+C or SIGTERM finishes what is in flight and exits.
            Example: finetune serve --model exports/spam --port 8080
            """) { model, backend, precision, threads, maxLength, docStride, host, port, maxBatchTokens, maxBatchRequests, forwardBatch, maxWait, maxConcurrent, payload, clientBatch, apiKey };
        command.SetAction(p =>
        {
            var options = new ServeOptions
            {
                Model = p.GetValue(model)!,
                Backend = TrainCommand.ParseEnum<ServeBackend>(p.GetValue(backend)!, "--backend"),
                Precision = TrainCommand.ParseEnum<Configuration.Precision>(p.GetValue(precision)!, "--precision"),
                Threads = p.GetValue(threads),
                MaxLength = p.GetValue(maxLength),
                DocStride = p.GetValue(docStride),
                Host = p.GetValue(host)!,
                Port = p.GetValue(port),
                MaxBatchTokens = p.GetValue(maxBatchTokens),
                MaxBatchRequests = p.GetValue(maxBatchRequests),
                MaxWaitMs = p.GetValue(maxWait),
                ForwardBatchSize = p.GetValue(forwardBatch),
                MaxConcurrentRequests = p.GetValue(maxConcurrent),
                PayloadLimit = p.GetValue(payload),
                MaxClientBatchSize = p.GetValue(clientBatch),
                ApiKey = p.GetValue(apiKey),
            };
            ModelServer.Run(options, line => Console.WriteLine(FlagNames.InFlags(line)));
            return 0;
        });
        return command;
    }
}
