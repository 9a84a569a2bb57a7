using System.Text.Json;
using FineTune.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;

namespace FineTune.Training;

/// <summary>
/// Appends every training log and evaluation to a JSON Lines file (one object per line, flushed at once). A full disk
/// stops the log (said once through <paramref name="warn"/>), not the training.
/// </summary>
internal sealed class JsonLinesLogCallback(string path, bool append = false, Action<string>? warn = null) : ITrainerCallback, IDisposable
{
    private readonly StreamWriter _writer = Open(path, append);
    private readonly DiskFullGuard _guard = new(path, warn);

    private static StreamWriter Open(string path, bool append)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return new StreamWriter(path, append) { AutoFlush = true };
    }

    public void OnLog(TrainerState state, IReadOnlyDictionary<string, double> values) =>
        Write("train", values);

    public void OnEvaluate(TrainerState state, IReadOnlyDictionary<string, double> metrics, bool improved)
    {
        var values = new Dictionary<string, double>(metrics) { ["step"] = state.GlobalStep };
        Write("eval", values, improved);
    }

    public void OnSave(TrainerState state, string checkpointFolder) =>
        WriteLine(JsonSerializer.Serialize(new { type = "checkpoint", step = state.GlobalStep, folder = checkpointFolder, time = DateTimeOffset.UtcNow }));

    public void OnTrainEnd(TrainerState state) =>
        WriteLine(JsonSerializer.Serialize(new
        {
            type = "end", step = state.GlobalStep, best_step = state.BestStep, best_metric = state.BestMetric,
            metric_for_best = state.MetricForBest, stopped_early = state.StoppedEarly, time = DateTimeOffset.UtcNow,
        }));

    private void WriteLine(string line) => _guard.Run(() => _writer.WriteLine(line));

    private void Write(string type, IReadOnlyDictionary<string, double> values, bool? improved = null)
    {
        var obj = new Dictionary<string, object> { ["type"] = type, ["time"] = DateTimeOffset.UtcNow };
        foreach (var (k, v) in values) obj[k] = double.IsFinite(v) ? v : v.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (improved is not null) obj["improved"] = improved.Value;
        WriteLine(JsonSerializer.Serialize(obj));
    }

    public void Dispose() => _guard.Run(_writer.Dispose, always: true);
}

/// <summary>Runs writes of a log until the disk is full; then says so once and skips them.</summary>
internal sealed class DiskFullGuard(string what, Action<string>? warn)
{
    public bool Full { get; private set; }

    public void Run(Action write, bool always = false)
    {
        if (Full && !always) return;
        try
        {
            write();
        }
        catch (IOException e) when (FileErrors.IsDiskFull(e))
        {
            if (!Full) warn?.Invoke($"no space left on the device for {what}; it stops here and training goes on");
            Full = true;
        }
    }
}

/// <summary>Writes TensorBoard event files (train/* and eval/* scalars) with TorchSharp's SummaryWriter; a full disk stops them, not the training.</summary>
internal sealed class TensorBoardCallback(string logDir, Action<string>? warn = null) : ITrainerCallback
{
    private readonly SummaryWriter _writer = torch.utils.tensorboard.SummaryWriter(logDir, createRunName: false);
    private readonly DiskFullGuard _guard = new(logDir, warn);

    public void OnLog(TrainerState state, IReadOnlyDictionary<string, double> values) => _guard.Run(() =>
    {
        foreach (var (k, v) in values)
            if (k is not "step" and not "epoch")
                _writer.add_scalar("train/" + k, (float)v, (int)state.GlobalStep);
    });

    public void OnEvaluate(TrainerState state, IReadOnlyDictionary<string, double> metrics, bool improved) => _guard.Run(() =>
    {
        foreach (var (k, v) in metrics)
            _writer.add_scalar("eval/" + k, (float)v, (int)state.GlobalStep);
    });
}
