using System.Globalization;
using System.Text.RegularExpressions;
using FineTune.Evaluation;
using ScottPlot;

namespace FineTune.Reports;

/// <summary>
/// A plot the record has data for: its file name (without extension), title, pixel size and how to draw it. With
/// <paramref name="DataSide"/>, the size is adjusted so that the data area is a square of that many pixels.
/// </summary>
internal sealed record PlotSpec(string Name, string Title, int Width, int Height, Func<Plot> Build, int? DataSide = null);

/// <summary>A drawn plot: PNG bytes and SVG text.</summary>
internal sealed record RenderedPlot(string Name, string Title, int Width, int Height, byte[] Png, string Svg);

/// <summary>
/// The run's plots, drawn headless with ScottPlot: loss, learning rate and validation metrics over the steps, the
/// confusion matrix, and predicted against actual values for regression. Each is drawn from the <see cref="RunRecord"/> alone.
/// </summary>
internal static partial class RunPlots
{
    public const string Loss = "loss";
    public const string LearningRate = "learning_rate";
    public const string ValidationMetrics = "validation_metrics";
    public const string Confusion = "confusion_matrix";
    public const string PredictedVsActual = "predicted_vs_actual";
    public const string Reliability = "reliability";

    /// <summary>Every plot name this class may write, in page order.</summary>
    public static readonly IReadOnlyList<string> Names = [Loss, LearningRate, ValidationMetrics, Confusion, PredictedVsActual, Reliability];

    private const int MaxMetricLines = 6;
    private const int CurveWidth = 1000;

    // The curves over the steps share one layout, so that their step axes line up when shown one above the other;
    // the right margin holds the legend (and the metrics' second axis).
    private static readonly PixelPadding CurvePadding = new(left: 90, right: 290, bottom: 60, top: 45);
    private const int MaxConfusionCellText = 20;
    private static readonly Color Grey = Color.FromHex("#6b7280");

    // The metrics drawn first when a run logs many; any others follow in the order they were logged.
    private static readonly string[] PreferredMetrics =
    [
        "accuracy", "f1", "f1_macro", "f1_micro", "precision_macro", "recall_macro", "precision", "recall", "mcc",
        "subset_accuracy", "exact_match", "pearson", "spearman", "r2", "f1_weighted",
    ];

    /// <summary>The plots <paramref name="record"/> has data for, in page order.</summary>
    public static IReadOnlyList<PlotSpec> For(RunRecord record)
    {
        var specs = new List<PlotSpec>();
        if (!RunHistory.Train(record, "loss").IsEmpty || !RunHistory.Eval(record, "loss").IsEmpty)
            specs.Add(new PlotSpec(Loss, "Loss", CurveWidth, 460, () => LossPlot(record)));
        if (!RunHistory.Train(record, "learning_rate").IsEmpty)
            specs.Add(new PlotSpec(LearningRate, "Learning rate", CurveWidth, 360, () => LearningRatePlot(record)));
        if (PlottedMetrics(record).Count > 0)
            specs.Add(new PlotSpec(ValidationMetrics, "Validation metrics", CurveWidth, 460, () => MetricsPlot(record)));
        if (ConfusionSplit(record) is { } split)
        {
            var labels = ConfusionLabels(record, record.Splits[split].ConfusionMatrix!.Length);
            specs.Add(new PlotSpec(Confusion, $"Confusion matrix ({split})", 800, 800, () => ConfusionPlot(record, split), Math.Max(ConfusionCell(labels) * labels.Count, 380)));
        }
        if (RegressionSplit(record) is { } regression)
            specs.Add(new PlotSpec(PredictedVsActual, $"Predicted vs actual ({regression})", 680, 640, () => ScatterPlot(record, regression), 520));
        if (CalibrationSplit(record) is { } calibrated)
            specs.Add(new PlotSpec(Reliability, $"Reliability diagram ({calibrated})", 680, 640, () => ReliabilityPlot(record, calibrated), 520));
        return specs;
    }

    /// <summary>Draws a plot as PNG and SVG. The SVG clip-path ids come from a process-wide counter; they are renumbered from 1, so equal input gives equal files.</summary>
    public static RenderedPlot Render(PlotSpec spec)
    {
        using var plot = spec.Build();
        int width = spec.Width, height = spec.Height;
        if (spec.DataSide is int side)
        {
            plot.RenderInMemory(width, height);
            var data = plot.LastRender.DataRect;
            width = Math.Clamp((int)Math.Round(width - data.Width + side), 200, 4000);
            height = Math.Clamp((int)Math.Round(height - data.Height + side), 200, 4000);
        }
        var png = plot.GetImageBytes(width, height, ImageFormat.Png);
        var svg = NumberIdsInOrder(plot.GetSvgXml(width, height));
        return new RenderedPlot(spec.Name, spec.Title, width, height, png, svg);
    }

    /// <summary>The split whose confusion matrix is drawn: test when it has one, else validation, else any.</summary>
    public static string? ConfusionSplit(RunRecord record) => PreferredSplit(record, s => s.ConfusionMatrix is { Length: > 0 } m && m.All(row => row.Length == m.Length));

    /// <summary>The split whose predicted and actual values are drawn: test when it has them, else validation, else any.</summary>
    public static string? RegressionSplit(RunRecord record) => PreferredSplit(record, s => s.PredictedVsActual is { Actual.Count: > 0 } v && v.Actual.Count == v.Predicted.Count);

    /// <summary>The split whose reliability diagram is drawn: test when it has one, else validation, else any.</summary>
    public static string? CalibrationSplit(RunRecord record) => PreferredSplit(record, s => s.Calibration is { Bins.Count: > 0 });

    /// <summary>The label names of a confusion matrix: the record's labels when they fit, else class numbers.</summary>
    public static IReadOnlyList<string> ConfusionLabels(RunRecord record, int count) =>
        record.Labels is { } labels && labels.Count == count ? labels : Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>The validation metrics drawn over the steps, the metric for best first: (name, higher is better).</summary>
    public static IReadOnlyList<(string Name, bool HigherIsBetter)> PlottedMetrics(RunRecord record)
    {
        var best = RunHistory.BestMetric(record);
        var names = RunHistory.EvalMetricNames(record)
            .Where(n => n != MetricNames.Loss && !IsThroughput(n) && !RunHistory.Eval(record, n).IsEmpty)
            .OrderBy(n => n == best ? 0 : 1)
            .ThenBy(n => Array.IndexOf(PreferredMetrics, n) is var i && i >= 0 ? i : PreferredMetrics.Length)
            .ToList();
        var higher = names.Where(MetricNames.HigherIsBetter).Take(MaxMetricLines);
        var lower = names.Where(n => !MetricNames.HigherIsBetter(n)).Take(3);
        return higher.Select(n => (n, true)).Concat(lower.Select(n => (n, false))).ToList();
    }

    private static string? PreferredSplit(RunRecord record, Func<SplitResult, bool> has)
    {
        foreach (var name in new[] { "test", "validation" })
            if (record.Splits.TryGetValue(name, out var s) && has(s)) return name;
        return record.Splits.Where(kv => has(kv.Value)).Select(kv => kv.Key).Order(StringComparer.Ordinal).FirstOrDefault();
    }

    private static bool IsThroughput(string metric) =>
        metric.Contains("per_second", StringComparison.Ordinal) || metric.Contains("runtime", StringComparison.Ordinal) || metric.EndsWith("seconds", StringComparison.Ordinal);

    // ---- the plots ---------------------------------------------------------------------------------------------

    private static Plot LossPlot(RunRecord record)
    {
        var plot = NewPlot("Loss", "step", "loss");
        var train = RunHistory.Train(record, "loss");
        var validation = RunHistory.Eval(record, "loss");
        var palette = new ScottPlot.Palettes.Category10();
        if (!train.IsEmpty)
        {
            var line = plot.Add.ScatterLine(train.Steps, train.Values, palette.GetColor(0));
            line.LineWidth = 2;
            line.MarkerSize = train.Steps.Length <= 40 ? 5 : 0;
            line.LegendText = "training loss";
        }
        if (!validation.IsEmpty)
        {
            bool best = RunHistory.BestMetric(record) == MetricNames.Loss;
            var line = plot.Add.Scatter(validation.Steps, validation.Values, palette.GetColor(1));
            line.LineWidth = best ? 3 : 2;
            line.MarkerSize = 8;
            line.LegendText = best ? "validation loss (metric for best)" : "validation loss";
        }
        MarkBestStep(plot, record);
        FromZero(plot, train.Steps.Concat(validation.Steps), train.Values.Concat(validation.Values));
        plot.ShowLegend(Edge.Right);
        plot.Layout.Fixed(CurvePadding);
        return plot;
    }

    private static Plot LearningRatePlot(RunRecord record)
    {
        var plot = NewPlot("Learning rate", "step", "learning rate");
        var lr = RunHistory.Train(record, "learning_rate");
        var line = plot.Add.ScatterLine(lr.Steps, lr.Values, new ScottPlot.Palettes.Category10().GetColor(2));
        line.LineWidth = 2;
        line.MarkerSize = lr.Steps.Length <= 40 ? 5 : 0;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = Scientific };
        FromZero(plot, lr.Steps, lr.Values);
        plot.Layout.Fixed(CurvePadding);
        return plot;
    }

    private static Plot MetricsPlot(RunRecord record)
    {
        var metrics = PlottedMetrics(record);
        bool both = metrics.Any(m => m.HigherIsBetter) && metrics.Any(m => !m.HigherIsBetter);
        var plot = NewPlot("Validation metrics", "step", both ? "higher is better" : "value");
        var best = RunHistory.BestMetric(record);
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < metrics.Count; i++)
        {
            var (name, higher) = metrics[i];
            var series = RunHistory.Eval(record, name);
            var line = plot.Add.Scatter(series.Steps, series.Values, palette.GetColor(i));
            bool isBest = name == best;
            line.LineWidth = isBest ? 3.5f : 1.5f;
            line.MarkerSize = isBest ? 9 : 6;
            line.LegendText = isBest ? $"{name} (metric for best)" : name;
            if (both && !higher)
            {
                // Square markers rather than a dashed line: Skia's SVG backend drops dash patterns (and says so on
                // stderr), so the SVG would not show what the PNG does.
                line.MarkerShape = MarkerShape.FilledSquare;
                line.Axes.YAxis = plot.Axes.Right;
            }
        }
        if (both)
        {
            plot.Axes.Right.Label.Text = "lower is better (square markers)";
            plot.Axes.Right.Label.FontSize = 15;
            plot.Axes.Right.TickLabelStyle.FontSize = 13;
        }
        MarkBestStep(plot, record);
        plot.Axes.SetLimitsX(0, Math.Max(metrics.Max(m => RunHistory.Eval(record, m.Name).Steps.Max()), 1) * 1.02);
        plot.ShowLegend(Edge.Right);
        plot.Layout.Fixed(CurvePadding);
        return plot;
    }

    private static Plot ConfusionPlot(RunRecord record, string split)
    {
        var matrix = record.Splits[split].ConfusionMatrix!;
        int n = matrix.Length;
        var labels = ConfusionLabels(record, n);
        long total = matrix.Sum(row => row.Sum());
        var plot = NewPlot($"Confusion matrix: {split} ({total.ToString("N0", CultureInfo.InvariantCulture)} examples)", "predicted", "actual", integerSteps: false);
        var low = Color.FromHex("#f7fbff");
        var high = Color.FromHex("#08306b");
        int cell = ConfusionCell(labels);
        float fontSize = Math.Clamp(cell / 5f, 9, 16);
        for (int a = 0; a < n; a++)
        {
            long rowTotal = matrix[a].Sum();
            double y = n - 1 - a; // the first label at the top
            for (int p = 0; p < n; p++)
            {
                long count = matrix[a][p];
                double share = rowTotal > 0 ? (double)count / rowTotal : 0;
                var rect = plot.Add.Rectangle(p - 0.5, p + 0.5, y - 0.5, y + 0.5);
                rect.FillColor = Color.InterpolateRgb(low, high, share);
                rect.LineColor = Colors.White;
                rect.LineWidth = 1;
                if (n > MaxConfusionCellText) continue;
                var text = plot.Add.Text(count.ToString("N0", CultureInfo.InvariantCulture) + "\n" + (share * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%", p, y);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = fontSize;
                text.LabelBold = a == p;
                text.LabelFontColor = share > 0.5 ? Colors.White : Colors.Black;
            }
        }
        var positions = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        var names = labels.Select(Shorten).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, names);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions.Select(x => n - 1 - x).ToArray(), names);
        if (names.Max(s => s.Length) * 7.5 > cell - 8)
        {
            // Slanted, ending at their tick (as matplotlib's rotation=45, ha="right").
            plot.Axes.Bottom.TickLabelStyle.Rotation = -45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            plot.Axes.Bottom.MajorTickStyle.Length = 8;
            plot.Axes.Bottom.MinimumSize = 56 + 0.71f * 7.5f * names.Max(s => s.Length);
        }
        plot.Axes.Right.MinimumSize = 24;
        plot.Axes.SetLimits(-0.5, n - 0.5, -0.5, n - 0.5);
        plot.HideGrid();
        return plot;
    }

    private static Plot ScatterPlot(RunRecord record, string split)
    {
        var values = record.Splits[split].PredictedVsActual!;
        var actual = values.Actual.Select(v => (double)v).ToArray();
        var predicted = values.Predicted.Select(v => (double)v).ToArray();
        var finite = actual.Concat(predicted).Where(double.IsFinite).ToArray();
        double min = finite.Length > 0 ? finite.Min() : 0, max = finite.Length > 0 ? finite.Max() : 1;
        if (max - min < 1e-9) { min -= 0.5; max += 0.5; }
        double pad = (max - min) * 0.04;
        var plot = NewPlot($"Predicted vs actual: {split} ({actual.Length.ToString("N0", CultureInfo.InvariantCulture)} examples)", "actual", "predicted", integerSteps: false);
        var diagonal = plot.Add.Line(min - pad, min - pad, max + pad, max + pad);
        diagonal.LineColor = Grey;
        diagonal.LineWidth = 1.5f;
        diagonal.LegendText = "perfect prediction (y = x)";
        var markers = plot.Add.Markers(actual, predicted, MarkerShape.FilledCircle, actual.Length > 2000 ? 3 : 5,
            new ScottPlot.Palettes.Category10().GetColor(0).WithAlpha(actual.Length > 2000 ? 0.35 : 0.6));
        markers.LegendText = "examples";
        plot.Axes.SetLimits(min - pad, max + pad, min - pad, max + pad);
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static Plot ReliabilityPlot(RunRecord record, string split)
    {
        var calibration = record.Splits[split].Calibration!;
        string ece = calibration.Ece.ToString("0.0000", CultureInfo.InvariantCulture);
        var plot = NewPlot($"Reliability: {split} (ECE {ece}, {calibration.Bins.Count} bins)", "confidence (probability of the predicted class)", "accuracy", integerSteps: false);
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LineColor = Grey;
        diagonal.LineWidth = 1.5f;   // solid: Skia's SVG backend drops dash patterns (and says so on stderr)
        diagonal.LegendText = "perfect calibration";
        var palette = new ScottPlot.Palettes.Category10();
        var bars = calibration.Bins.Where(b => b.Count > 0)
            .Select(b => new Bar { Position = (b.Lower + b.Upper) / 2, Value = b.Accuracy, Size = (b.Upper - b.Lower) * 0.9, FillColor = palette.GetColor(0).WithAlpha(0.75) })
            .ToList();
        var barPlot = plot.Add.Bars(bars);
        barPlot.LegendText = calibration.Temperature == 1 ? "accuracy per bin" : $"accuracy per bin (T = {calibration.Temperature.ToString("0.###", CultureInfo.InvariantCulture)})";
        var used = calibration.Bins.Where(b => b.Count > 0).ToList();
        var mean = plot.Add.Scatter(used.Select(b => b.Confidence).ToArray(), used.Select(b => b.Accuracy).ToArray(), palette.GetColor(0));
        mean.LineWidth = 0;
        mean.MarkerSize = 7;
        mean.LegendText = "at the bin's mean confidence";
        if (calibration.BinsUncalibrated is { } before && before.Any(b => b.Count > 0))
        {
            var shown = before.Where(b => b.Count > 0).ToList();
            var line = plot.Add.Scatter(shown.Select(b => b.Confidence).ToArray(), shown.Select(b => b.Accuracy).ToArray(), palette.GetColor(3));
            line.LineWidth = 2;
            line.MarkerSize = 7;
            line.LegendText = $"before temperature scaling (ECE {calibration.EceUncalibrated?.ToString("0.0000", CultureInfo.InvariantCulture)})";
        }
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static Plot NewPlot(string title, string xLabel, string yLabel, bool integerSteps = true)
    {
        var plot = new Plot();
        if (PlotFont.Family is { } family) plot.Font.Set(family);
        plot.Title(title, 18);
        plot.XLabel(xLabel, 15);
        plot.YLabel(yLabel, 15);
        plot.Axes.Bottom.TickLabelStyle.FontSize = 13;
        plot.Axes.Left.TickLabelStyle.FontSize = 13;
        plot.Legend.FontSize = 13;
        if (integerSteps)
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true, TickDensity = 0.6 };
        return plot;
    }

    /// <summary>Both axes from 0 (steps and non-negative values such as losses and learning rates) to a little past the largest value.</summary>
    private static void FromZero(Plot plot, IEnumerable<double> steps, IEnumerable<double> values)
    {
        double maxStep = steps.DefaultIfEmpty(1).Max();
        var v = values.ToArray();
        plot.Axes.SetLimitsX(0, Math.Max(maxStep, 1) * 1.02);
        if (v.Length > 0 && v.Min() >= 0)
            plot.Axes.SetLimitsY(0, v.Max() > 0 ? v.Max() * 1.08 : 1);
    }

    private static void MarkBestStep(Plot plot, RunRecord record)
    {
        if (record.BestStep is not { } step) return;
        var line = plot.Add.VerticalLine(step, 1.5f, Grey, LinePattern.Solid);   // solid: Skia's SVG backend drops dot patterns too
        line.LegendText = $"best model (step {step.ToString(CultureInfo.InvariantCulture)})";
    }

    /// <summary>Tick labels of small numbers (learning rates): 5e-5 rather than 0.00005.</summary>
    internal static string Scientific(double value) =>
        value == 0 ? "0" : Math.Abs(value) is >= 1e-3 and < 1e4 ? value.ToString("0.####", CultureInfo.InvariantCulture) : value.ToString("0.##e0", CultureInfo.InvariantCulture);

    private static string Shorten(string label) => label.Length <= 24 ? label : label[..23] + "…";

    /// <summary>The side of a confusion-matrix cell in pixels: large for a few classes, at least 28 for many.</summary>
    private static int ConfusionCell(IReadOnlyList<string> labels) => Math.Clamp(640 / Math.Max(labels.Count, 1), 28, 160);

    [GeneratedRegex(@"(?<=id=""|url\(#)cl_[0-9A-Fa-f]+\b")]
    private static partial Regex ClipId();

    private static string NumberIdsInOrder(string svg)
    {
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        return ClipId().Replace(svg, m =>
        {
            if (!ids.TryGetValue(m.Value, out var id))
                ids[m.Value] = id = "cl_" + (ids.Count + 1).ToString(CultureInfo.InvariantCulture);
            return id;
        });
    }
}

/// <summary>
/// The font of the plots. On Linux ScottPlot's Skia build finds no fonts by itself, so DejaVu Sans (Debian's
/// fonts-dejavu-core) is registered from its file; elsewhere the system's default sans-serif font is used.
/// </summary>
internal static class PlotFont
{
    private static readonly string[] Folders =
    [
        "/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu", "/usr/share/fonts/dejavu-sans-fonts",
        "/usr/share/fonts/truetype", "/usr/local/share/fonts", "/usr/share/fonts",
    ];

    private static readonly Lazy<string?> Registered = new(Register, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The registered family, or null to use ScottPlot's default.</summary>
    public static string? Family => Registered.Value;

    /// <summary>A warning when no font file was found on Linux (plot text may be missing), else null.</summary>
    public static string? Warning => OperatingSystem.IsLinux() && Family is null
        ? "no DejaVu Sans font found for the plots' text (install Debian's fonts-dejavu-core)"
        : null;

    private static string? Register()
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (var folder in Folders)
        {
            var regular = Path.Combine(folder, "DejaVuSans.ttf");
            if (!File.Exists(regular)) continue;
            const string family = "DejaVu Sans";
            Fonts.AddFontFile(family, regular, bold: false, italic: false);
            var bold = Path.Combine(folder, "DejaVuSans-Bold.ttf");
            if (File.Exists(bold)) Fonts.AddFontFile(family, bold, bold: true, italic: false);
            return family;
        }
        return null;
    }
}
