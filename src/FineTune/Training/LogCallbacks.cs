using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;

namespace FineTune.Training;

/// <summary>Appends every training log and evaluation to a JSON Lines file (one object per line, flushed at once).</summary>
internal sealed class JsonLinesLogCallback : ITrainerCallback, IDisposable
{
    private readonly StreamWriter _writer;

    public JsonLinesLogCallback(string path, bool append = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _writer = new StreamWriter(path, append) { AutoFlush = true };
    }

    public void OnLog(TrainerState state, IReadOnlyDictionary<string, double> values) =>
        Write("train", values);

    public void OnEvaluate(TrainerState state, IReadOnlyDictionary<string, double> metrics, bool improved)
    {
        var values = new Dictionary<string, double>(metrics) { ["step"] = state.GlobalStep };
        Write("eval", values, improved);
    }

    public void OnSave(TrainerState state, string checkpointFolder) =>
        _writer.WriteLine(JsonSerializer.Serialize(new { type = "checkpoint", step = state.GlobalStep, folder = checkpointFolder, time = DateTimeOffset.UtcNow }));

    public void OnTrainEnd(TrainerState state) =>
        _writer.WriteLine(JsonSerializer.Serialize(new
        {
            type = "end", step = state.GlobalStep, best_step = state.BestStep, best_metric = state.BestMetric,
            metric_for_best = state.MetricForBest, stopped_early = state.StoppedEarly, time = DateTimeOffset.UtcNow,
        }));

    private void Write(string type, IReadOnlyDictionary<string, double> values, bool? improved = null)
    {
        var obj = new Dictionary<string, object> { ["type"] = type, ["time"] = DateTimeOffset.UtcNow };
        foreach (var (k, v) in values) obj[k] = double.IsFinite(v) ? v : v.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (improved is not null) obj["improved"] = improved.Value;
        _writer.WriteLine(JsonSerializer.Serialize(obj));
    }

    public void Dispose() => _writer.Dispose();
}

/// <summary>Writes TensorBoard event files (train/* and eval/* scalars) with TorchSharp's SummaryWriter.</summary>
internal sealed class TensorBoardCallback(string logDir) : ITrainerCallback
{
    private readonly SummaryWriter _writer = torch.utils.tensorboard.SummaryWriter(logDir, createRunName: false);

    public void OnLog(TrainerState state, IReadOnlyDictionary<string, double> values)
    {
        foreach (var (k, v) in values)
            if (k is not "step" and not "epoch")
                _writer.add_scalar("train/" + k, (float)v, (int)state.GlobalStep);
    }

    public void OnEvaluate(TrainerState state, IReadOnlyDictionary<string, double> metrics, bool improved)
    {
        foreach (var (k, v) in metrics)
            _writer.add_scalar("eval/" + k, (float)v, (int)state.GlobalStep);
    }
}
