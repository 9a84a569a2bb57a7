using System.Diagnostics;
using System.Globalization;
using FineTune.Training;
using Spectre.Console;

namespace FineTune.Cli;

/// <summary>
/// Shows training progress: a Spectre.Console bar with loss, learning rate, examples/s and ETA on a terminal;
/// plain periodic lines when the output is redirected (Spectre's own fallback drops the final 100% and short tasks).
/// </summary>
internal sealed class ConsoleReporter : ITrainerCallback
{
    private readonly bool _interactive;
    private readonly TimeSpan _plainInterval;
    private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
    private ProgressContext? _context;
    private ProgressTask? _task;
    private long _total;
    private long _startStep;
    private readonly Stopwatch _clock = new();
    private string _lastLoss = "-";
    private long _lastLossStep;

    public ConsoleReporter(bool? interactive = null, TimeSpan? plainInterval = null)
    {
        _interactive = interactive ?? (!Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive);
        _plainInterval = plainInterval ?? TimeSpan.FromSeconds(10);
    }

    /// <summary>Runs <paramref name="work"/> with a live progress display on a terminal, or plainly otherwise.</summary>
    public T Run<T>(Func<T> work)
    {
        if (!_interactive) return work();
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                _context = ctx;
                result = work();
            });
        return result;
    }

    /// <summary>A set-up message (data summary, truncation, load report), above the live display when there is one.</summary>
    public void Info(string message)
    {
        foreach (var line in message.Split('\n'))
        {
            if (_context is not null) AnsiConsole.MarkupLine(Markup.Escape(line));
            else Console.WriteLine(line);
        }
    }

    /// <summary>A warning, on stderr (one line).</summary>
    public void Warn(string message) => Console.Error.WriteLine("warning: " + CliRunner.Clean(message));

    public void OnTrainBegin(TrainerState state, long totalSteps)
    {
        _total = totalSteps;
        _startStep = state.GlobalStep;
        _clock.Restart();
        if (_context is not null)
        {
            _task = _context.AddTask("training", maxValue: totalSteps);
            _task.Value = state.GlobalStep;
        }
        else
        {
            Console.WriteLine($"Training: {totalSteps} optimizer steps{(state.GlobalStep > 0 ? $", resuming at step {state.GlobalStep}" : "")}.");
        }
    }

    public void OnStep(TrainerState state, StepInfo step)
    {
        var eta = Eta(step.Step);
        if (_task is not null)
        {
            _task.Value = step.Step;
            _task.Description = $"epoch {step.Epoch:0.00} loss {_lastLoss} lr {step.LearningRate:0.0e+0}";
            return;
        }
        if (_sinceLine.Elapsed >= _plainInterval || step.Step == step.TotalSteps || step.Step == _startStep + 1)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {step.Step}/{step.TotalSteps} ({100.0 * step.Step / step.TotalSteps:0}%) epoch {step.Epoch:0.00} loss {LossText(step.Step)} lr {step.LearningRate:0.0e+0} {Rate(step.Step):0.0} steps/s eta {eta:hh\\:mm\\:ss}"));
            _sinceLine.Restart();
        }
    }

    // The loss is the mean since the previous log line (--logging-steps); between log steps say which step it is from.
    private string LossText(long step) => _lastLossStep == step || _lastLossStep == 0 ? _lastLoss : $"{_lastLoss} (at step {_lastLossStep})";

    public void OnLog(TrainerState state, IReadOnlyDictionary<string, double> values)
    {
        _lastLoss = values.TryGetValue("loss", out var loss) ? loss.ToString("0.0000", CultureInfo.InvariantCulture) : "-";
        _lastLossStep = state.GlobalStep;
        if (_task is not null && values.TryGetValue("examples_per_second", out var eps))
            _task.Description = $"loss {_lastLoss} lr {values["learning_rate"]:0.0e+0} {eps:0.0} ex/s";
    }

    public void OnEvaluateBegin(TrainerState state, int examples)
    {
        if (_task is null) Console.WriteLine($"Evaluating on {examples} validation examples at step {state.GlobalStep} ...");
    }

    public void OnEvaluate(TrainerState state, IReadOnlyDictionary<string, double> metrics, bool improved)
    {
        var text = string.Join("  ", metrics.OrderBy(k => k.Key).Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:0.0000}")));
        var line = $"eval @ step {state.GlobalStep}: {text}{(improved ? "  (best so far)" : "")}";
        if (_context is not null) AnsiConsole.MarkupLine(Markup.Escape(line));
        else Console.WriteLine(line);
        _sinceLine.Restart();
    }

    public void OnSave(TrainerState state, string checkpointFolder)
    {
        if (_context is null) Console.WriteLine($"saved {checkpointFolder}");
    }

    public void OnTrainEnd(TrainerState state)
    {
        if (_task is not null) { _task.Value = _task.MaxValue; _task.StopTask(); }
        var best = state.BestStep is { } b ? string.Create(CultureInfo.InvariantCulture, $"; best {state.MetricForBest} {state.BestMetric:0.0000} at step {b}") : "";
        var line = $"Training finished at step {state.GlobalStep}{(state.StoppedEarly ? " (early stopping)" : "")}{best}.";
        if (_context is not null) AnsiConsole.MarkupLine(Markup.Escape(line));
        else Console.WriteLine(line);
    }

    private double Rate(long step) => (step - _startStep) / Math.Max(1e-9, _clock.Elapsed.TotalSeconds);

    private TimeSpan Eta(long step)
    {
        double rate = Rate(step);
        return rate <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Min((_total - step) / rate, TimeSpan.FromDays(9).TotalSeconds));
    }
}
