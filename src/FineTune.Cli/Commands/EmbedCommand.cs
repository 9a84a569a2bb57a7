using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FineTune.Inference;
using FineTune.Training;

namespace FineTune.Cli.Commands;

/// <summary>`finetune embed`: texts to sentence vectors (JSON Lines or a NumPy .npy matrix).</summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var model = new Option<string>("--model", "-m") { Description = "A catalog name, a similarity fine-tune (RUN/model) or any BERT-family folder.", DefaultValueFactory = _ => "all-MiniLM-L6-v2" };
        var input = new Option<string>("--input", "-i") { Description = "Texts: CSV, TSV, JSONL, Parquet, or .txt with one text per line.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = ".jsonl (row, text, embedding) or .npy (float32 matrix, one row per text).", Required = true };
        var normalize = new Option<bool>("--normalize") { Description = "Scale every vector to unit length (then dot product = cosine)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Texts per batch.", DefaultValueFactory = _ => 64 };
        var device = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N with a CUDA build of libtorch.", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch." };
        var precision = new Option<string>("--precision") { Description = "fp32 or bf16.", DefaultValueFactory = _ => "fp32" };
        var command = new Command("embed", """
            Turn texts into sentence embeddings (mean pooling over tokens, as sentence-transformers does).
            Example: finetune embed --model runs/sts/model --input sentences.txt --output vectors.npy --normalize
            """) { model, input, output, normalize, batchSize, device, threads, precision };
        foreach (var o in new Option[] { data.Format, data.Columns, data.Quoting, data.TextColumn }) command.Options.Add(o);
        command.SetAction(p =>
        {
            Runtime.TorchRuntime.SetThreads(p.GetValue(threads));
            using var embedder = SentenceEmbedder.Load(p.GetValue(model)!, p.GetValue(device)!, TrainCommand.ParseEnum<Precision>(p.GetValue(precision)!, "--precision"));
            embedder.BatchSize = p.GetValue(batchSize);
            var rows = PredictCommand.ReadInputs(p.GetValue(input)!, data, p);
            var vectors = embedder.Embed(rows.Select(r => r.Text).ToList(), p.GetValue(normalize));
            var path = p.GetValue(output)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                Npy.WriteFloat32Matrix(path, vectors, embedder.Dimension);
            else if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
            {
                using var writer = new StreamWriter(path, false, new UTF8Encoding(false));
                for (int i = 0; i < rows.Count; i++)
                    writer.WriteLine(JsonSerializer.Serialize(new { row = rows[i].SourceRow, text = rows[i].Text, embedding = vectors[i] }));
            }
            else
                throw new FineTuneException($"--output {path}: use a .jsonl or .npy file name");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {vectors.Length} embeddings of dimension {embedder.Dimension} to {Path.GetFullPath(path)}"));
            return 0;
        });
        return command;
    }
}

/// <summary>NumPy's .npy format (version 1.0) for a float32 matrix.</summary>
internal static class Npy
{
    public static void WriteFloat32Matrix(string path, IReadOnlyList<float[]> rows, int columns)
    {
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows.Count}, {columns}), }}";
        int preamble = 6 + 2 + 2;
        int total = (preamble + header.Length + 1 + 63) / 64 * 64;
        header = header.PadRight(total - preamble - 1) + "\n";
        var tmp = path + ".tmp";
        using (var stream = File.Create(tmp))
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 });
            writer.Write((ushort)header.Length);
            writer.Write(Encoding.ASCII.GetBytes(header));
            foreach (var row in rows)
                foreach (var v in row) writer.Write(v);
        }
        File.Move(tmp, path, overwrite: true);
    }
}
