using FineTune.Data;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Reports;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>A file of inputs to explain, how to read it, where to write the explanations, and what to explain.</summary>
/// <param name="Steps">Points on the integration path.</param>
/// <param name="TargetLabel">The label (class, entity type, start or end) to explain instead of the prediction, or null.</param>
/// <param name="MaxInputs">Explain only the first this many inputs (null: all).</param>
internal sealed record ExplanationInput(string InputFile, string OutputDirectory, DataFileOptions File, ColumnMapping Columns, int Steps,
    string? TargetLabel, int? MaxInputs);

/// <summary>
/// One output of the model to explain for an input: its name, and how to read it from a batch of the model's logits
/// (rows of the same input at different points of the path; one value per row, differentiable).
/// </summary>
internal sealed record ExplanationTarget(string Label, Func<Tensor, Tensor> Score);

/// <summary>
/// One input as a task explains it: its row and texts, its tokens (truncated to what the model takes), and how the
/// task reads the model's logits for it [1, …] into its prediction and the outputs to explain.
/// </summary>
internal sealed record ExplainedInput(long Row, string Text, string? TextPair, Encoding Encoding,
    Func<Tensor, (string Prediction, IReadOnlyList<ExplanationTarget> Targets)> Targets);

/// <summary>
/// The step every task's explanation shares: integrated gradients for every target of every input, merged into
/// words, written as explanations.jsonl and explanations.html. The task says what its inputs and targets are.
/// </summary>
internal static class TaskExplanations
{
    /// <summary>The baseline, as the page and the documentation describe it.</summary>
    public const string Baseline = "every token of the text replaced by [PAD] in the word embeddings; [CLS] and [SEP], positions, token types and the attention mask kept";

    /// <summary>Checks the steps and the number of inputs of a request.</summary>
    public static void Validate(ExplanationInput input)
    {
        if (input.Steps < 1) throw new OptionException("ExplainRequest.Steps", $"must be at least 1, got {input.Steps}");
        if (input.MaxInputs is < 1) throw new OptionException("ExplainRequest.MaxInputs", $"must be at least 1, got {input.MaxInputs}");
    }

    /// <summary>The rows of <paramref name="rows"/> that are explained (the first <see cref="ExplanationInput.MaxInputs"/>).</summary>
    public static IReadOnlyList<T> Take<T>(IReadOnlyList<T> rows, ExplanationInput input) =>
        input.MaxInputs is int max && max < rows.Count ? rows.Take(max).ToList() : rows;

    /// <summary>
    /// Explains every input with <paramref name="model"/> (in eval mode on <paramref name="device"/>), writes the
    /// files into the request's output folder and returns the explanations.
    /// </summary>
    public static ExplanationOutcome Run(SavedModelRequest request, ExplanationInput input, string title, TaskModel model, int padId, Device device,
        IEnumerable<ExplainedInput> inputs)
    {
        Validate(input);
        var ig = new IntegratedGradients(model, device, input.Steps, request.BatchSize);
        var explanations = new List<Explanation>();
        foreach (var x in inputs)
        {
            var encoding = x.Encoding;
            var feature = new Feature(encoding.Ids, encoding.TypeIds, explanations.Count);
            var baseline = IntegratedGradients.Baseline(encoding, padId);
            using var logits = ig.Logits(feature);
            var (prediction, targets) = x.Targets(logits);
            string[] texts = x.TextPair is null ? [x.Text] : [x.Text, x.TextPair];
            var explained = new List<TargetExplanation>(targets.Count);
            foreach (var target in targets)
            {
                var a = ig.Attribute(feature, baseline, target.Score);
                explained.Add(new TargetExplanation(target.Label, a.Score, a.BaselineScore, WordAttributions.Merge(encoding, a.Attributions, texts), a.CompletenessGap));
            }
            explanations.Add(new Explanation(x.Row, x.Text, x.TextPair, prediction, explained, encoding.WasTruncated));
            if (explanations.Count % 100 == 0) request.Say($"{explanations.Count} inputs explained ...");
        }
        var files = ExplanationFiles.Write(input.OutputDirectory, explanations,
            new ExplanationFiles.Method(request.Model, title, input.Steps, Baseline));
        var (share, count) = WordAttributions.WithinGap(explanations);
        var truncated = explanations.Count(e => e.Truncated);
        var summary = $"Explained {count} outputs of {explanations.Count} inputs ({input.Steps} steps); completeness gap ≤ 5% for {share:P1} of them"
            + (truncated > 0 ? $"; {truncated} inputs were truncated" : "") + $"\nWrote {string.Join(", ", files)}";
        return new ExplanationOutcome(explanations, files, summary);
    }
}
