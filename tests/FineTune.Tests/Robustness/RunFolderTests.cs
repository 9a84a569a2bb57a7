using System.Text.Json.Nodes;
using FineTune.Checkpoints;

namespace FineTune.Tests.Robustness;

/// <summary>A run folder belongs to one run: the lock, the check that it is empty, overwrite, leftovers, abandon.</summary>
public class RunFolderTests
{
    [Fact]
    public void ASecondRunIntoAFolderInUseIsRefusedNamingTheProcess()
    {
        using var dir = new TestSupport.TempDir();
        using var first = RunFolder.Open(dir.File("run"), overwrite: false);
        var e = Assert.Throws<EnvironmentException>(() => RunFolder.Open(dir.File("run"), overwrite: false));
        Assert.Contains("is in use by another run", e.Message);
        Assert.Contains($"process {Environment.ProcessId}", e.Message);
        first.Dispose();
        // Released: the folder can be taken again, and the lock and owner files are gone.
        Assert.False(File.Exists(Path.Combine(dir.File("run"), RunFolder.LockFileName)));
        Assert.False(File.Exists(Path.Combine(dir.File("run"), RunFolder.OwnerFileName)));
        using var again = RunFolder.Open(dir.File("run"), overwrite: false);
    }

    [Fact]
    public void AFolderWithFilesIsAnErrorUnlessOverwrittenAndOverwriteClearsItAtClaim()
    {
        using var dir = new TestSupport.TempDir();
        var run = dir.File("run");
        Directory.CreateDirectory(Path.Combine(run, "checkpoints", "checkpoint-000006"));
        File.WriteAllText(Path.Combine(run, "metrics.json"), "{}");

        var e = Assert.Throws<OptionException>(() => RunFolder.Open(run, overwrite: false));
        Assert.Equal("FineTuneRequest.OutputDirectory", e.Option);
        Assert.Contains("already holds checkpoints, metrics.json", e.Message);
        Assert.True(File.Exists(Path.Combine(run, "metrics.json"))); // untouched

        using (var folder = RunFolder.Open(run, overwrite: true))
        {
            Assert.True(File.Exists(Path.Combine(run, "metrics.json"))); // not cleared before the run claims it
            folder.Claim();
            Assert.Equal([], RunFolder.Content(run));
            Assert.Equal(folder.RunId, RunFolder.ReadMarker(run));
            Assert.Empty(Directory.GetDirectories(run, ".trash-*"));
        }
    }

    [Fact]
    public void AbandonLeavesTheFolderAsItWas()
    {
        using var dir = new TestSupport.TempDir();
        var created = dir.File("new");
        RunFolder.Open(created, overwrite: false).Abandon();
        Assert.False(Directory.Exists(created));

        var existing = dir.File("empty");
        Directory.CreateDirectory(existing);
        RunFolder.Open(existing, overwrite: false).Abandon();
        Assert.True(Directory.Exists(existing));
        Assert.Empty(Directory.EnumerateFileSystemEntries(existing));

        var kept = dir.File("kept");
        Directory.CreateDirectory(kept);
        File.WriteAllText(Path.Combine(kept, "notes.txt"), "mine");
        RunFolder.Open(kept, overwrite: true).Abandon();
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(kept).Select(Path.GetFileName));
    }

    [Fact]
    public void AResumedRunMayUseItsOwnFolderButNotAnotherRuns()
    {
        using var dir = new TestSupport.TempDir();
        var run = dir.File("run");
        string id;
        using (var folder = RunFolder.Open(run, overwrite: false))
        {
            folder.Claim();
            id = folder.RunId;
        }
        var checkpoint = Path.Combine(run, "checkpoints", "checkpoint-000004");
        Directory.CreateDirectory(checkpoint);

        using (var same = RunFolder.Open(run, overwrite: false, checkpoint, id))
            Assert.Equal(id, same.RunId);
        var e = Assert.Throws<OptionException>(() => RunFolder.Open(run, overwrite: false, "/elsewhere/checkpoint-000004", "20260101-000000-other"));
        Assert.Contains($"holds run {id}", e.Message);
        // A checkpoint of an older version (no run id) may continue in the folder it lies in.
        using (var legacy = RunFolder.Open(run, overwrite: false, checkpoint, null))
            Assert.Equal(id, legacy.RunId);
    }

    [Fact]
    public void LeftoversOfKilledSavesAreRemovedAndAReplacedVersionWithoutItsReplacementIsPutBack()
    {
        using var dir = new TestSupport.TempDir();
        var run = dir.File("run");
        var tmp = Path.Combine(run, "checkpoints", ".checkpoint-000012.tmp-0123abcd");
        Directory.CreateDirectory(tmp);
        File.WriteAllBytes(Path.Combine(tmp, "optimizer.safetensors"), new byte[2_000_000]);
        Directory.CreateDirectory(Path.Combine(run, "checkpoints", ".trash-checkpoint-000004-89abcdef"));
        Directory.CreateDirectory(Path.Combine(run, ".model.tmp-00000000"));
        // Killed between the two renames of replacing best-model: the old version is all there is.
        var old = Path.Combine(run, "checkpoints", ".best-model.old-11111111");
        Directory.CreateDirectory(old);
        File.WriteAllText(Path.Combine(old, "step.txt"), "8");
        Directory.CreateDirectory(Path.Combine(run, "checkpoints", "checkpoint-000008"));
        File.WriteAllText(Path.Combine(run, RunFolder.MarkerFileName), new JsonObject { ["run_id"] = "r1" }.ToJsonString());

        using var folder = RunFolder.Open(run, overwrite: false, Path.Combine(run, "checkpoints", "checkpoint-000008"), "r1");
        Assert.Equal(3, folder.RemovedLeftovers.Count);
        Assert.Contains(folder.RemovedLeftovers, l => l.StartsWith(Path.Combine("checkpoints", ".checkpoint-000012.tmp-0123abcd") + " (2 MB)", StringComparison.Ordinal));
        Assert.Equal(["best-model", "checkpoint-000008"], Directory.GetDirectories(Path.Combine(run, "checkpoints")).Select(Path.GetFileName).Order());
        Assert.Equal("8", File.ReadAllText(Path.Combine(run, "checkpoints", "best-model", "step.txt")));
        Assert.Equal(["checkpoints"], RunFolder.Content(run));
    }

    [Fact]
    public void AnOutputThatIsAFileIsAnOptionError()
    {
        using var dir = new TestSupport.TempDir();
        File.WriteAllText(dir.File("a-file"), "x");
        var e = Assert.Throws<OptionException>(() => RunFolder.Open(dir.File("a-file"), overwrite: false));
        Assert.Contains("is a file", e.Message);
    }
}
