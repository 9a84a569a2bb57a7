using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTune.Serving;

/// <summary>
/// A Kestrel server of one model (finetune serve): the routes of <see cref="FineTuneEndpoints"/> on
/// <see cref="ServeOptions.Host"/>:<see cref="ServeOptions.Port"/>. It listens at once and loads the model in the
/// background (/health is 503 until the model is ready). Stopping it (<see cref="StopAsync"/>, SIGTERM or Ctrl+C under
/// <see cref="Run"/>) closes the listener, lets the requests in flight finish (up to
/// <see cref="ServeOptions.ShutdownTimeout"/>), then frees the model.
/// </summary>
public sealed class ModelServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ModelService _service;
    private int _stopped;

    private ModelServer(WebApplication app)
    {
        _app = app;
        _service = app.Services.GetRequiredService<ModelService>();
    }

    /// <summary>The address the server listens on (with the port it was given when <see cref="ServeOptions.Port"/> is 0).</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Completes when the model is loaded, or fails with the error that stopped it from loading.</summary>
    public Task Ready => _service.Loaded;

    /// <summary>Starts listening and loading the model.</summary>
    public static async Task<ModelServer> StartAsync(ServeOptions options, Action<string>? info = null, CancellationToken cancellation = default)
    {
        var server = new ModelServer(Build(options, info));
        await server._app.StartAsync(cancellation);
        server.Address = server.ListeningAddress();
        return server;
    }

    /// <summary>
    /// Serves until SIGTERM or Ctrl+C, then drains and returns. A model that could not be loaded is thrown (as its
    /// <see cref="FineTuneException"/>) once the server has stopped.
    /// </summary>
    public static void Run(ServeOptions options, Action<string>? info = null)
    {
        var server = new ModelServer(Build(options, info));
        try
        {
            server._app.StartAsync().GetAwaiter().GetResult();
            server.Address = server.ListeningAddress();
            info?.Invoke($"Listening on {server.Address} (health: {new Uri(server.Address, "health")}); Ctrl+C or SIGTERM stops.");
            server._app.WaitForShutdownAsync().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (server._service.LoadError is not null)
        {
            // The model failed before the listener was up: its error is what to say.
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        if (server._service.LoadError is { } error) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        info?.Invoke("Stopped.");
    }

    private Uri ListeningAddress() =>
        new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Stops accepting connections and finishes the requests in flight.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0) await _app.StopAsync();
    }

    /// <summary>Stops (as <see cref="StopAsync"/>) and frees the model.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
    }

    private static WebApplication Build(ServeOptions options, Action<string>? info)
    {
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.WebHost.UseUrls($"http://{(options.Host.Contains(':') ? $"[{options.Host}]" : options.Host)}:{options.Port}");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.PayloadLimit;
        });
        builder.Services.AddFineTune(options, info);
        var app = builder.Build();
        app.MapFineTune();
        return app;
    }
}
