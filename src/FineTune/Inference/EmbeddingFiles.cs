using System.Text;
using System.Text.Json;
using FineTune.Checkpoints;
using FineTune.Data;

namespace FineTune.Inference;

/// <summary>Sentence embeddings as files: NumPy's .npy (a float32 matrix, one row per text) or JSON Lines (row, text, embedding).</summary>
public static class EmbeddingFiles
{
    /// <summary>Writes the vectors of <paramref name="rows"/> to <paramref name="path"/> (.npy or .jsonl), through a temporary file.</summary>
    public static void Write(string path, IReadOnlyList<TextInput> rows, IReadOnlyList<float[]> vectors, int dimension)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            WriteNpy(path, vectors, dimension);
        else if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            AtomicFile.Write(path, stream =>
            {
                using var writer = new StreamWriter(stream, new UTF8Encoding(false));
                for (int i = 0; i < rows.Count; i++)
                    writer.WriteLine(JsonSerializer.Serialize(new { row = rows[i].SourceRow, text = rows[i].Text, embedding = vectors[i] }));
            });
        }
        else
            throw new OptionException("EmbedRequest.Output", $"{path}: use a .jsonl or .npy file name");
    }

    /// <summary>NumPy's .npy format (version 1.0) for a float32 matrix.</summary>
    public static void WriteNpy(string path, IReadOnlyList<float[]> rows, int columns)
    {
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows.Count}, {columns}), }}";
        int preamble = 6 + 2 + 2;
        int total = (preamble + header.Length + 1 + 63) / 64 * 64;
        header = header.PadRight(total - preamble - 1) + "\n";
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream);
            writer.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 });
            writer.Write((ushort)header.Length);
            writer.Write(Encoding.ASCII.GetBytes(header));
            foreach (var row in rows)
                foreach (var v in row) writer.Write(v);
        });
    }
}
