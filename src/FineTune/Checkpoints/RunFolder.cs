using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Checkpoints;

/// <summary>
/// A run's output folder, held by one run at a time. <see cref="Open"/> takes an advisory lock on the folder for the
/// run's whole life (a second run into it is refused, naming the process that holds it), refuses a folder that
/// already holds files unless the run overwrites it or continues the run they belong to, and removes what killed
/// saves left behind (<see cref="Leftovers"/>). <see cref="Claim"/> (when training is about to write) clears an
/// overwritten folder and records the run's id; <see cref="Abandon"/> (when the run fails before that) removes what
/// the run added, so a failed start leaves the folder as it was.
/// </summary>
internal sealed class RunFolder : IDisposable
{
    /// <summary>Held with an exclusive lock while a run uses the folder.</summary>
    public const string LockFileName = ".finetune.lock";

    /// <summary>The process that holds the lock (for the message a second run gets).</summary>
    public const string OwnerFileName = ".finetune.owner";

    /// <summary>The id of the run the folder belongs to.</summary>
    public const string MarkerFileName = ".finetune-run.json";

    private readonly FileStream _lock;
    private readonly bool _created;
    private readonly bool _overwrite;
    private bool _claimed;

    private RunFolder(string path, FileStream lockStream, bool created, bool overwrite, string runId, string? existingRunId, IReadOnlyList<string> removed)
    {
        Path = path;
        _lock = lockStream;
        _created = created;
        _overwrite = overwrite;
        RunId = runId;
        ExistingRunId = existingRunId;
        RemovedLeftovers = removed;
    }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    /// <summary>The id of this run: new, or the id of the run it continues.</summary>
    public string RunId { get; }

    /// <summary>The id the folder's marker held when it was opened (null for a new or unmarked folder).</summary>
    public string? ExistingRunId { get; }

    /// <summary>What killed saves had left in the folder and <see cref="Open"/> removed.</summary>
    public IReadOnlyList<string> RemovedLeftovers { get; }

    /// <summary>
    /// Opens <paramref name="path"/> for a run. <paramref name="overwrite"/>: a folder with files is cleared at
    /// <see cref="Claim"/>. <paramref name="resumeCheckpoint"/>: the checkpoint the run continues from, of run
    /// <paramref name="resumeRunId"/> (null for a checkpoint that did not record one); the folder may then hold that
    /// run's files (its marker names the run, or the checkpoint is inside it). Otherwise the folder must be missing or
    /// empty.
    /// </summary>
    public static RunFolder Open(string path, bool overwrite, string? resumeCheckpoint = null, string? resumeRunId = null)
    {
        path = System.IO.Path.GetFullPath(path);
        if (File.Exists(path))
            throw new OptionException("FineTuneRequest.OutputDirectory", $"{path} is a file; the run's output must be a folder");
        bool created = !Directory.Exists(path);
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EnvironmentException($"cannot create the output folder {path}: {FileErrors.Reason(e)}", e);
        }
        var lockStream = TakeLock(path, created);
        try
        {
            var removed = Leftovers.Remove(path);
            var existing = ReadMarker(path);
            var content = Content(path);
            if (content.Count > 0 && !overwrite)
            {
                if (resumeCheckpoint is null)
                    throw new OptionException("FineTuneRequest.OutputDirectory",
                        $"{path} already holds {Describe(content)}; choose an empty folder, overwrite it (FineTuneRequest.Overwrite) or continue its run (FineTuneRequest.ResumeFrom)");
                bool inside = System.IO.Path.GetFullPath(resumeCheckpoint).StartsWith(path + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal);
                bool sameRun = existing is not null && existing == resumeRunId;
                if (!sameRun && !(inside && (existing is null || resumeRunId is null)))
                    throw new OptionException("FineTuneRequest.OutputDirectory", existing is null
                        ? $"{path} already holds {Describe(content)}, which are not of the run of {resumeCheckpoint}; continue into an empty folder or into that run's folder"
                        : $"{path} holds run {existing}, and {resumeCheckpoint} belongs to {(resumeRunId is null ? "another run" : "run " + resumeRunId)}; continue into an empty folder or into that run's folder");
            }
            var runId = resumeCheckpoint is null ? NewRunId() : resumeRunId ?? existing ?? NewRunId();
            var folder = new RunFolder(path, lockStream, created, overwrite && content.Count > 0, runId, existing, removed);
            WriteOwner(path, runId);
            return folder;
        }
        catch
        {
            ReleaseLock(lockStream, path);
            if (created) TryDelete(path);
            throw;
        }
    }

    /// <summary>
    /// Makes the folder this run's, just before training writes into it: an overwritten folder is cleared (through a
    /// trash folder, so a kill midway leaves only a leftover), and the marker records the run id.
    /// </summary>
    public void Claim()
    {
        if (_claimed) return;
        if (_overwrite)
        {
            var content = Content(Path);
            var trash = Trash.NewName(Path, "overwritten");
            Directory.CreateDirectory(trash);
            foreach (var entry in content)
            {
                var source = System.IO.Path.Combine(Path, entry);
                var target = System.IO.Path.Combine(trash, entry);
                if (Directory.Exists(source)) Directory.Move(source, target);
                else File.Move(source, target);
            }
            Trash.DeleteNow(trash);
        }
        var marker = new JsonObject { ["run_id"] = RunId, ["created"] = DateTimeOffset.UtcNow.ToString("O") };
        AtomicFile.WriteAllText(System.IO.Path.Combine(Path, MarkerFileName), marker.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        _claimed = true;
    }

    /// <summary>
    /// The run failed before <see cref="Claim"/>: removes the folder when the run created it, else what the run
    /// added (the lock and owner files); the folder is as it was.
    /// </summary>
    public void Abandon()
    {
        if (_claimed) return;
        ReleaseLock(_lock, Path);
        if (_created) TryDelete(Path);
    }

    /// <summary>Releases the lock (the folder keeps the run's files).</summary>
    public void Dispose()
    {
        if (_lock.SafeFileHandle.IsClosed) return;
        ReleaseLock(_lock, Path);
    }

    /// <summary>The entries of a run folder that belong to some run: everything but the lock, the owner and the marker.</summary>
    public static IReadOnlyList<string> Content(string path) =>
        Directory.EnumerateFileSystemEntries(path)
            .Select(e => System.IO.Path.GetFileName(e))
            .Where(n => n is not (LockFileName or OwnerFileName or MarkerFileName))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>The run id a folder's marker records, or null.</summary>
    public static string? ReadMarker(string path)
    {
        var file = System.IO.Path.Combine(path, MarkerFileName);
        if (!File.Exists(file)) return null;
        try { return JsonNode.Parse(File.ReadAllText(file))?["run_id"]?.GetValue<string>(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { return null; }
    }

    private static string NewRunId() => DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") + "-" + Guid.NewGuid().ToString("N")[..8];

    private static string Describe(IReadOnlyList<string> content)
    {
        var shown = string.Join(", ", content.Take(4));
        return content.Count > 4 ? $"{content.Count} entries ({shown}, ...)" : shown;
    }

    private static FileStream TakeLock(string path, bool created)
    {
        var lockPath = System.IO.Path.Combine(path, LockFileName);
        try
        {
            // FileShare.None is an exclusive advisory lock (flock on Unix), held until the stream is closed; it goes
            // with the process, so a killed run leaves no stale lock.
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (FileErrors.IsSharingViolation(e))
        {
            throw new EnvironmentException($"{path} is in use by another run{Owner(path)}; wait for it to finish or choose another folder", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (created) TryDelete(path);
            throw new EnvironmentException($"cannot write in the output folder {path}: {FileErrors.Reason(e)}", e);
        }
    }

    private static string Owner(string path)
    {
        try
        {
            var owner = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(path, OwnerFileName)));
            return $" (process {owner?["pid"]} on {owner?["host"]}, started {owner?["started"]})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
        {
            return "";
        }
    }

    private static void WriteOwner(string path, string runId)
    {
        var owner = new JsonObject
        {
            ["pid"] = Environment.ProcessId,
            ["host"] = Environment.MachineName,
            ["started"] = DateTimeOffset.Now.ToString("yyyy-MM-dd HH:mm:ss zzz"),
            ["run_id"] = runId,
        };
        File.WriteAllText(System.IO.Path.Combine(path, OwnerFileName), owner.ToJsonString());
    }

    private static void ReleaseLock(FileStream lockStream, string path)
    {
        if (lockStream.SafeFileHandle.IsClosed) return;
        // Files go while the lock is held, so a run that takes the folder next finds neither.
        try { File.Delete(System.IO.Path.Combine(path, OwnerFileName)); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        try { File.Delete(System.IO.Path.Combine(path, LockFileName)); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        lockStream.Dispose();
    }

    private static void TryDelete(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// What killed saves leave in a run folder: the temporary folders of atomic writes (<c>.NAME.tmp-*</c>), replaced
/// versions on their way out (<c>.NAME.old-*</c>) and trash folders (<c>.trash-*</c>). None of them is ever read.
/// </summary>
internal static class Leftovers
{
    /// <summary>Whether a file or folder name is a leftover.</summary>
    public static bool IsLeftover(string name) =>
        name.StartsWith('.') && (name.Contains(".tmp-", StringComparison.Ordinal) || name.Contains(".old-", StringComparison.Ordinal)
                                 || name.StartsWith(Trash.Prefix, StringComparison.Ordinal));

    /// <summary>
    /// Removes the leftovers in a run folder and in its checkpoints folder; returns them with their sizes. A replaced
    /// version whose replacement never arrived (killed between the two renames of an atomic write) is put back first.
    /// </summary>
    public static IReadOnlyList<string> Remove(string runFolder)
    {
        var removed = new List<string>();
        foreach (var folder in new[] { runFolder, Path.Combine(runFolder, "checkpoints") })
        {
            if (!Directory.Exists(folder)) continue;
            foreach (var old in Directory.EnumerateDirectories(folder, ".*.old-*").ToList())
            {
                var name = Path.GetFileName(old);
                var original = Path.Combine(folder, name[1..name.LastIndexOf(".old-", StringComparison.Ordinal)]);
                if (!Directory.Exists(original) && !File.Exists(original)) Directory.Move(old, original);
            }
            foreach (var entry in Directory.EnumerateFileSystemEntries(folder).ToList())
            {
                if (!IsLeftover(Path.GetFileName(entry))) continue;
                long bytes = Trash.Size(entry);
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
                removed.Add($"{Path.GetRelativePath(runFolder, entry)} ({bytes / 1e6:0.#} MB)");
            }
        }
        return removed;
    }
}

/// <summary>
/// Deletes folders by renaming them to a trash name first: a kill during the delete leaves a <c>.trash-*</c> folder
/// (removed at the next start, <see cref="Leftovers"/>), never a half-deleted folder under its real name.
/// </summary>
internal static class Trash
{
    public const string Prefix = ".trash-";

    public static string NewName(string parent, string what) =>
        Path.Combine(parent, Prefix + what + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Renames <paramref name="folder"/> to a trash name beside it, then deletes it.</summary>
    public static void Delete(string folder)
    {
        var trash = NewName(Path.GetDirectoryName(Path.GetFullPath(folder))!, Path.GetFileName(folder));
        Directory.Move(folder, trash);
        DeleteNow(trash);
    }

    /// <summary>Deletes a folder that already has a trash name.</summary>
    public static void DeleteNow(string trash) => Directory.Delete(trash, recursive: true);

    /// <summary>The bytes of the files in a file or folder.</summary>
    public static long Size(string path)
    {
        try
        {
            return File.Exists(path)
                ? new FileInfo(path).Length
                : new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        }
        catch (IOException) { return 0; }
    }
}

/// <summary>
/// Writes a file under a temporary name beside it (<c>.NAME.tmp-*</c>) and renames it into place: readers see the old
/// file or the whole new one, and a failed write (a full disk) leaves neither a partial file nor the temporary one.
/// </summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".tmp-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using (var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                write(stream);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); }
            catch (IOException) { }
        }
    }

    /// <summary>UTF-8 without a byte order mark.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, stream => stream.Write(new System.Text.UTF8Encoding(false).GetBytes(text)));

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, stream => stream.Write(bytes));
}

/// <summary>What an I/O error means, in words a user can act on.</summary>
internal static class FileErrors
{
    // errno values (Linux; .NET reports them as the HResult of an IOException on Unix).
    private const int EAGAIN = 11, ENOSPC = 28, EROFS = 30, EDQUOT = 122;
    // Windows HRESULTs.
    private const int ErrorDiskFull = unchecked((int)0x80070070), ErrorHandleDiskFull = unchecked((int)0x80070027),
        ErrorSharingViolation = unchecked((int)0x80070020), ErrorLockViolation = unchecked((int)0x80070021);

    /// <summary>Whether the error is a full disk (or an exhausted quota).</summary>
    public static bool IsDiskFull(Exception e) =>
        e is IOException io && io.HResult is ENOSPC or EDQUOT or ErrorDiskFull or ErrorHandleDiskFull;

    public static bool IsSharingViolation(IOException e) =>
        e.HResult is EAGAIN or ErrorSharingViolation or ErrorLockViolation;

    /// <summary>The reason of an I/O error without the path .NET appends to it.</summary>
    public static string Reason(Exception e) => e switch
    {
        _ when IsDiskFull(e) => "no space left on the device",
        IOException { HResult: EROFS } => "the file system is read-only",
        UnauthorizedAccessException => "permission denied",
        _ => e.Message,
    };
}

/// <summary>Free space on the disk that holds a folder.</summary>
internal static class DiskSpace
{
    /// <summary>The bytes available to this user on the file system of <paramref name="path"/> (or of its nearest existing parent); null when unknown.</summary>
    public static long? FreeBytes(string path)
    {
        try
        {
            var existing = Path.GetFullPath(path);
            while (!Directory.Exists(existing)) existing = Path.GetDirectoryName(existing) ?? "/";
            return new DriveInfo(existing).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }
}
