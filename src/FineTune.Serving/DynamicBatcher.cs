using System.Diagnostics;
using System.Threading.Channels;

namespace FineTune.Serving;

/// <summary>
/// Dynamic batching: requests queue their inputs, and one worker runs the model on groups of them — up to
/// <see cref="ServeOptions.MaxBatchTokens"/> tokens and <see cref="ServeOptions.MaxBatchRequests"/> inputs, the first
/// request waiting at most <see cref="ServeOptions.MaxWaitMs"/> for others to join. A request whose client has gone
/// is dropped before it is run. A request larger than a batch runs alone.
/// </summary>
internal sealed class DynamicBatcher<TIn, TOut> : IDisposable
{
    private sealed record Job(IReadOnlyList<TIn> Inputs, int Tokens, TaskCompletionSource<TOut[]> Result, CancellationToken Cancellation, long Enqueued);

    private readonly Channel<Job> _queue = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>> _run;
    private readonly ServeOptions _options;
    private readonly ServingMetrics _metrics;
    private readonly Thread _worker;
    private int _queued;

    public DynamicBatcher(Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>> run, ServeOptions options, ServingMetrics metrics)
    {
        _run = run;
        _options = options;
        _metrics = metrics;
        _worker = new Thread(Work) { IsBackground = true, Name = "FineTune model" };
        _worker.Start();
    }

    /// <summary>Inputs waiting for the model.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>The outputs of <paramref name="inputs"/> (<paramref name="tokens"/> tokens in all), in order, once the model has run them.</summary>
    public Task<TOut[]> Submit(IReadOnlyList<TIn> inputs, int tokens, CancellationToken cancellation)
    {
        var job = new Job(inputs, tokens, new TaskCompletionSource<TOut[]>(TaskCreationOptions.RunContinuationsAsynchronously), cancellation, Stopwatch.GetTimestamp());
        _metrics.QueueDepth.Set(Interlocked.Add(ref _queued, inputs.Count));
        if (!_queue.Writer.TryWrite(job))
        {
            Interlocked.Add(ref _queued, -inputs.Count);
            throw new ObjectDisposedException(nameof(DynamicBatcher<TIn, TOut>));
        }
        return job.Result.Task;
    }

    private void Work()
    {
        var reader = _queue.Reader;
        Job? carried = null;
        while (true)
        {
            var first = carried ?? Next(reader, Timeout.InfiniteTimeSpan);
            carried = null;
            if (first is null) return;
            var batch = new List<Job> { first };
            int inputs = first.Inputs.Count, tokens = first.Tokens;
            var deadline = first.Enqueued + (long)(_options.MaxWaitMs / 1000.0 * Stopwatch.Frequency);
            while (inputs < _options.MaxBatchRequests && tokens < _options.MaxBatchTokens)
            {
                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                var next = reader.TryRead(out var ready) ? ready : left > TimeSpan.Zero ? Next(reader, left) : null;
                if (next is null) break;
                if (inputs + next.Inputs.Count > _options.MaxBatchRequests || tokens + next.Tokens > _options.MaxBatchTokens)
                {
                    carried = next;
                    break;
                }
                batch.Add(next);
                inputs += next.Inputs.Count;
                tokens += next.Tokens;
            }
            Run(batch);
        }
    }

    /// <summary>The next job, waiting at most <paramref name="wait"/>; null when none came in time or the queue is closed.</summary>
    private static Job? Next(ChannelReader<Job> reader, TimeSpan wait)
    {
        using var timeout = wait == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(wait);
        try
        {
            while (reader.WaitToReadAsync(timeout.Token).AsTask().GetAwaiter().GetResult())
                if (reader.TryRead(out var job)) return job;
            return null;
        }
        catch (OperationCanceledException)
        {
            return reader.TryRead(out var job) ? job : null;
        }
    }

    private void Run(List<Job> batch)
    {
        _metrics.QueueDepth.Set(Interlocked.Add(ref _queued, -batch.Sum(j => j.Inputs.Count)));
        var live = new List<Job>(batch.Count);
        foreach (var job in batch)
            if (job.Cancellation.IsCancellationRequested) job.Result.TrySetCanceled(job.Cancellation);
            else live.Add(job);
        if (live.Count == 0) return;
        var inputs = live.SelectMany(j => j.Inputs).ToList();
        _metrics.BatchSize.Observe(inputs.Count);
        _metrics.BatchTokens.Observe(live.Sum(j => j.Tokens));
        try
        {
            var started = Stopwatch.GetTimestamp();
            var outputs = _run(inputs);
            _metrics.InferenceSeconds.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            int offset = 0;
            foreach (var job in live)
            {
                job.Result.TrySetResult(outputs.Skip(offset).Take(job.Inputs.Count).ToArray());
                offset += job.Inputs.Count;
            }
        }
        catch (Exception e)
        {
            foreach (var job in live) job.Result.TrySetException(e);
        }
    }

    /// <summary>Stops taking inputs; the worker finishes what is queued, then ends.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _worker.Join();
    }
}
