using System.CommandLine;
using System.Globalization;
using FineTune.Data;
using FineTune.Inference;

namespace FineTune.Cli.Commands;

/// <summary>`finetune embed`: texts to sentence vectors (JSON Lines or a NumPy .npy matrix).</summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var model = new Option<string>("--model", "-m") { Description = "A catalog name, a similarity fine-tune (RUN/model) or any BERT-family folder.", DefaultValueFactory = _ => "all-MiniLM-L6-v2" }.NotEmpty();
        var input = new Option<string>("--input", "-i") { Description = "Texts: CSV, TSV, JSONL, Parquet, or .txt with one text per line.", Required = true }.NotEmpty();
        var output = new Option<string>("--output", "-o") { Description = ".jsonl (row, text, embedding) or .npy (float32 matrix, one row per text).", Required = true }.NotEmpty();
        output.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && Path.GetExtension(r.Tokens[0].Value).ToLowerInvariant() is not (".jsonl" or ".npy"))
                r.AddError($"--output: use a .jsonl or .npy file name, got '{r.Tokens[0].Value}'");
        });
        var normalize = new Option<bool>("--normalize") { Description = "Scale every vector to unit length (then dot product = cosine)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Texts per batch.", DefaultValueFactory = _ => 64 }.Range(1, 1 << 20);
        var device = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N with a CUDA build of libtorch.", DefaultValueFactory = _ => "cpu" }.NotEmpty();
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch." }.Range(1, 4096);
        var precision = new Option<string>("--precision") { Description = "fp32 or bf16.", DefaultValueFactory = _ => "fp32" }.OneOf("fp32", "bf16");
        FlagNames.Register("EmbedRequest.Output", "--output");
        FlagNames.Register("SentenceEmbedder", "`finetune embed`");
        var command = new Command("embed", """
            Turn texts into sentence embeddings (mean pooling over tokens, as sentence-transformers does).
            Example: finetune embed --model runs/sts/model --input sentences.txt --output vectors.npy --normalize
            """) { model, input, output, normalize, batchSize, device, threads, precision };
        foreach (var o in new Option[] { data.Format, data.Columns, data.Quoting, data.Encoding, data.ReplaceInvalidUtf8, data.TextColumn }) command.Options.Add(o);
        command.SetAction(p =>
        {
            var rows = TextInputs.Read(p.GetValue(input)!, data.FileOptions(p), p.GetValue(data.TextColumn)!);
            using var embedder = SentenceEmbedder.Load(p.GetValue(model)!, p.GetValue(device)!, TrainCommand.ParseEnum<Configuration.Precision>(p.GetValue(precision)!, "--precision"), p.GetValue(threads));
            embedder.BatchSize = p.GetValue(batchSize);
            var vectors = embedder.Embed(rows.Select(r => r.Text).ToList(), p.GetValue(normalize));
            var path = p.GetValue(output)!;
            EmbeddingFiles.Write(path, rows, vectors, embedder.Dimension);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {vectors.Length} embeddings of dimension {embedder.Dimension} to {Path.GetFullPath(path)}"));
            return 0;
        });
        return command;
    }
}
