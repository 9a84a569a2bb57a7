using System.CommandLine;

namespace FineTune.Cli.Commands;

/// <summary>`finetune export`: a model folder (or a catalog model) to ONNX in Optimum's layout.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "A run's model folder (any task) or a catalog name (exported for feature extraction).", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "The export folder: onnx/model.onnx (translation, summarization: onnx/encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx), config.json and the tokenizer files.", Required = true };
        var quantize = new Option<string?>("--quantize") { Description = "int8: also onnx/model_quantized.onnx (and each graph's *_quantized.onnx), int8 weights with activations quantized at run time." };
        var opset = new Option<int>("--opset") { Description = "The ONNX operator set (17 to 21).", DefaultValueFactory = _ => 18 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing, non-empty output folder." };
        FlagNames.Register(("ExportRequest.Output", "--output"), ("ExportRequest.Opset", "--opset"), ("ExportRequest.Overwrite", "--overwrite"),
            ("ExportRequest.Quantize", "--quantize"));
        var command = new Command("export", """
            Export a fine-tuned model (or a catalog model) to ONNX, to run wherever ONNX Runtime runs.
            Example: finetune export --model runs/spam/model --output exports/spam --quantize int8
            """) { model, output, quantize, opset, overwrite };
        command.SetAction(p =>
        {
            var result = FineTuner.Export(new ExportRequest
            {
                Model = p.GetValue(model)!,
                Output = p.GetValue(output)!,
                Quantize = p.GetValue(quantize) is { } q ? TrainCommand.ParseEnum<ExportQuantization>(q, "--quantize") : ExportQuantization.None,
                Opset = p.GetValue(opset),
                Overwrite = p.GetValue(overwrite),
            });
            Console.WriteLine($"Exported a {result.Task} model to {result.OutputDirectory}:");
            foreach (var file in result.Files)
                Console.WriteLine($"  {file} ({new FileInfo(Path.Combine(result.OutputDirectory, file)).Length / 1e6:0.0} MB)");
            return 0;
        });
        return command;
    }
}
