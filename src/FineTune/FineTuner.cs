using FineTune.Checkpoints;
using FineTune.Data;
using FineTune.Inference;
using FineTune.Tasks;
using TorchSharp;

namespace FineTune;

/// <summary>
/// The front door. Fine-tunes a pretrained encoder on labelled text: reads and splits the data, tokenizes it, loads
/// the model with the task's head, trains with validation, restores the best model, evaluates it on validation and
/// test, and writes the run folder (the model in Hugging Face's layout, metrics, predictions, logs, plots and a
/// report). Evaluates and predicts with the saved model. Every step that depends on the task is the task's own
/// (<c>Tasks/</c>); this class is the same for all of them.
/// </summary>
public static partial class FineTuner
{
    /// <summary>The tasks, in the order help texts list them.</summary>
    public static IReadOnlyList<TaskInfo> Tasks { get; } = TaskRegistry.All
        .Select(t => new TaskInfo(t.Name, t.Aliases, t.Title, t.Description, t.DefaultOptions, t.DefaultMaxLength, t.DefaultMetricForBest)).ToList();

    /// <summary>
    /// The simple overload: single-label classification of <paramref name="textColumn"/> by <paramref name="labelColumn"/>,
    /// 10% of the training file held out for validation, default hyperparameters.
    /// </summary>
    public static FineTuneResult Train(string model, string trainFile, string outputDirectory,
        string textColumn = "text", string labelColumn = "label", string? testFile = null) =>
        Train(new FineTuneRequest
        {
            Model = model,
            Data = new DatasetFiles(trainFile, null, testFile),
            Dataset = new DatasetOptions { Columns = new ColumnMapping { Text = textColumn, Label = labelColumn }, ValidationFraction = 0.1 },
            OutputDirectory = outputDirectory,
        });

    /// <summary>Fine-tunes as <paramref name="request"/> says; see <see cref="FineTuneRequest"/>.</summary>
    public static FineTuneResult Train(FineTuneRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var task = TaskRegistry.Get(request.Task);
        var run = Begin(request, task);
        var data = task.Prepare(run.Context);
        run = WithoutValidationIfEmpty(run, data.Validation is not null);
        var (model, loadReport) = data.LoadModel();
        using var _ = model;
        run.Context.Info(loadReport.Describe());
        if (loadReport.PoolingReason is { } reason)
            run.Context.Info(model.Config.MeanPooling
                ? $"The head reads the mean of the token states ({reason}; ModelLoadOptions.ClassifierPooling cls for the [CLS] token)."
                : $"The head reads the [CLS] token ({reason}; ModelLoadOptions.ClassifierPooling mean for the mean of the token states).");
        model.to(run.Context.Device);
        data.BeforeTraining(model);
        var (result, metricForBest) = Fit(run, task, data, model);
        var (splits, validation, test) = EvaluateSplits(run, data, model);
        return Finish(run, task, data, result, metricForBest, loadReport, splits, validation, test);
    }

    /// <summary>The name of the task a saved model folder was fine-tuned for (its finetune.json, else its config.json's head).</summary>
    public static string DetectTask(string modelFolder) => TaskRegistry.DetectOrThrow(ModelCatalog.Resolve(modelFolder)).Name;

    /// <summary>
    /// Evaluates a saved model on a labelled file (the task comes from the model folder) and, with an output folder,
    /// writes metrics.json ({"test": …}) and the predictions as a run writes them for its test set.
    /// </summary>
    public static EvaluationOutcome Evaluate(EvaluateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (task, saved) = SavedModel(request);
        return task.Evaluate(saved, new EvaluationInput(request.Data, request.Dataset, request.OutputDirectory));
    }

    /// <summary>Predicts every input of a file with a saved model (the task comes from the model folder) and writes the predictions.</summary>
    public static PredictionOutcome Predict(PredictRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (task, saved) = SavedModel(request);
        return task.Predict(saved, new PredictionInput(request.Input, request.Output, request.File, request.Columns));
    }

    /// <summary>The task of a saved model, and the request with the model's folder (a catalog name resolved).</summary>
    private static (FineTuneTask Task, SavedModelRequest Request) SavedModel(SavedModelRequest request)
    {
        var folder = ModelCatalog.Resolve(request.Model);
        return (TaskRegistry.DetectOrThrow(folder), request with { Model = folder });
    }
}
