using System.CommandLine;
using FineTune.Configuration;
using FineTune.Inference;

namespace FineTune.Cli.Commands;

/// <summary>
/// `finetune evaluate`: the metrics of a fine-tuned model on a labelled file. The task comes from the model folder:
/// sequence models read columns (--text-column, --label-column ...), NER models CoNLL or JSONL, QA models SQuAD.
/// </summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var taskOptions = new TaskOptionFlags(prediction: true);
        var model = new Option<string>("--model", "-m") { Description = "The fine-tuned model folder (RUN/model), or an export folder (finetune export; runs on ONNX Runtime).", Required = true }.NotEmpty();
        var file = new Option<string>("--data") { Description = "A labelled file like the training data: the same columns; NER: CoNLL columns or JSONL; QA: SQuAD JSON or JSONL with answers.", Required = true }.NotEmpty();
        FlagNames.Register("EvaluateRequest.Data", file.Name);
        var output = new Option<string?>("--output", "-o") { Description = "A folder for metrics.json and predictions.csv (QA: also predictions.json) (optional)." }.NotEmpty();
        var saved = new SavedModelOptions();
        var command = new Command("evaluate", """
            Evaluate a fine-tuned model on a labelled file: accuracy, precision/recall/F1, MCC (classification), F1 and subset accuracy (multi-label), MSE/MAE/R²/Pearson/Spearman (regression, similarity),
            entity precision/recall/F1 per type and token accuracy (NER), exact match and F1 (QA).
            Example: finetune evaluate --model runs/spam/model --data holdout.csv --output runs/spam/holdout
            NER:     finetune evaluate --model runs/conll/model --data eng.testb --output runs/conll/testb
            QA:      finetune evaluate --model runs/squad/model --data xquad.en.json --output runs/squad/xquad
            """) { model, file, output };
        foreach (var o in saved.All) command.Options.Add(o);
        foreach (var o in data.All) command.Options.Add(o);
        foreach (var o in taskOptions.Options) command.Options.Add(o);
        command.SetAction(p =>
        {
            var folder = p.GetValue(model)!;
            var request = saved.Apply(p, new EvaluateRequest
            {
                Model = folder,
                Data = p.GetValue(file)!,
                Dataset = data.Dataset(p),
                OutputDirectory = p.GetValue(output),
                TaskOptions = taskOptions.Bind(p, FineTuner.DetectTask(folder)),
                Info = m => Console.WriteLine(FlagNames.InFlags(m)),
            });
            Output.PrintEvaluation(FineTuner.Evaluate(request));
            return 0;
        });
        return command;
    }
}

/// <summary>The options of running a saved model, shared by evaluate and predict.</summary>
internal sealed class SavedModelOptions
{
    public Option<int> BatchSize { get; } = new Option<int>("--batch-size") { Description = "Model inputs per forward pass (texts; NER: sentences; QA: windows).", DefaultValueFactory = _ => 64 }.Range(1, 1 << 20);
    public Option<int?> MaxLength { get; } = new Option<int?>("--max-length") { Description = "Tokens per input (default: the length the model was trained with, so the scores match the run's; NER prediction cuts longer texts at word boundaries; QA: per window)." }.Range(8, 8192);
    public Option<string> Device { get; } = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N with a CUDA build of libtorch.", DefaultValueFactory = _ => "cpu" }.NotEmpty();
    public Option<int?> Threads { get; } = new Option<int?>("--threads") { Description = "CPU threads for libtorch (or ONNX Runtime, for an export folder)." }.Range(1, 4096);
    public Option<string> Precision { get; } = new Option<string>("--precision") { Description = "fp32, bf16 (faster on CPUs with AMX), or int8 (an export folder's quantized model).", DefaultValueFactory = _ => "fp32" }.OneOf("fp32", "bf16", "int8");

    public IEnumerable<Option> All => [BatchSize, MaxLength, Device, Threads, Precision];

    public SavedModelOptions() => FlagNames.Register(
        ("SavedModelRequest.BatchSize", BatchSize.Name), ("SavedModelRequest.MaxLength", MaxLength.Name), ("SavedModelRequest.Threads", Threads.Name),
        ("SavedModelRequest.Model", "--model"));

    public T Apply<T>(ParseResult p, T request) where T : SavedModelRequest => request with
    {
        BatchSize = p.GetValue(BatchSize),
        MaxLength = p.GetValue(MaxLength),
        Device = p.GetValue(Device)!,
        Threads = p.GetValue(Threads),
        Precision = TrainCommand.ParseEnum<Configuration.Precision>(p.GetValue(Precision)!, "--precision"),
    };
}
