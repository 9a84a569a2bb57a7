namespace FineTune.Tests.Ner;

/// <summary>Finds the shared datasets: $FINETUNE_DATA_DIR, or a shared/data folder beside or above the test binaries or the working directory.</summary>
internal static class DataFiles
{
    private static readonly Lazy<string> Root = new(Find);

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);

    public static string ConllTrain => Path("conll2003", "eng.train");
    public static string ConllTestA => Path("conll2003", "eng.testa");
    public static string ConllTestB => Path("conll2003", "eng.testb");
    public static string SquadDev => Path("squad_v1.1", "dev-v1.1.json");
    public static string XquadEn => Path("xquad", "xquad.en.json");

    private static string Find()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("FINETUNE_DATA_DIR");
        if (!string.IsNullOrEmpty(fromEnvironment) && Directory.Exists(fromEnvironment)) return fromEnvironment;
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = System.IO.Path.Combine(dir.FullName, "shared", "data");
                if (Directory.Exists(System.IO.Path.Combine(candidate, "conll2003"))) return candidate;
            }
        }
        throw new InvalidOperationException("The shared datasets were not found: set FINETUNE_DATA_DIR or keep shared/data beside the repository.");
    }
}

/// <summary>A temporary file deleted on dispose.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(string extension, string content)
    {
        FilePath = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"finetune-test-{Guid.NewGuid():N}{extension}");
        File.WriteAllText(FilePath, content);
    }

    public string FilePath { get; }

    public void Dispose() => File.Delete(FilePath);
}
