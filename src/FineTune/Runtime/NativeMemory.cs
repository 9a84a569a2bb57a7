using System.Runtime.InteropServices;

namespace FineTune.Runtime;

/// <summary>
/// The native heap that libtorch's tensors live in. Under glibc's malloc, a training loop's large, short-lived
/// tensors (activations freed and re-allocated every step, by several threads) leave the heap fragmented and RSS
/// climbing long after the working set stopped growing; tcmalloc keeps it flat and is faster. These helpers choose
/// and report the allocator: <see cref="PreferTcmalloc"/> restarts a program under tcmalloc when it is installed;
/// <see cref="Trim"/> hands free glibc heap memory back to the system.
/// </summary>
public static partial class NativeMemory
{
    /// <summary>Where Debian and Ubuntu install tcmalloc (libtcmalloc-minimal4 / google-perftools).</summary>
    public static IReadOnlyList<string> TcmallocCandidates { get; } =
    [
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib64/libtcmalloc_minimal.so.4",
        "/usr/lib/libtcmalloc_minimal.so.4",
    ];

    /// <summary>The environment variable that chooses the allocator: "tcmalloc" (default when installed) or "glibc".</summary>
    public const string AllocatorVariable = "FINETUNE_ALLOCATOR";

    /// <summary>The allocator this process runs on: "tcmalloc" when it is preloaded, else "glibc" (on Linux).</summary>
    public static string Current =>
        !OperatingSystem.IsLinux() ? "system"
        : IsLoaded("tcmalloc") ? "tcmalloc"
        : "glibc";

    /// <summary>The installed tcmalloc library, or null.</summary>
    public static string? FindTcmalloc() =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64
            ? TcmallocCandidates.FirstOrDefault(File.Exists)
            : null;

    /// <summary>
    /// Call first thing in Main (a call from anywhere else does nothing). On Linux, when tcmalloc is installed, not yet loaded, and <see cref="AllocatorVariable"/>
    /// is not "glibc", replaces this process (execve, same process id, same arguments and standard streams) by itself
    /// with tcmalloc preloaded; it returns only when nothing was done (or the exec failed).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void PreferTcmalloc()
    {
        if (!OperatingSystem.IsLinux()) return;
        // Only a program's own Main may replace the process (not a test host that invokes that Main).
        if (System.Reflection.Assembly.GetEntryAssembly() != System.Reflection.Assembly.GetCallingAssembly()) return;
        var choice = Environment.GetEnvironmentVariable(AllocatorVariable);
        if (string.Equals(choice, "glibc", StringComparison.OrdinalIgnoreCase)) return;
        if (IsLoaded("tcmalloc")) return;
        var library = FindTcmalloc();
        if (library is null) return;
        // Guard against a loop if the preload does not take (e.g. a secure-execution binary ignores LD_PRELOAD).
        if (Environment.GetEnvironmentVariable("FINETUNE_REEXEC") == "1") return;
        string[] argv;
        try { argv = File.ReadAllText("/proc/self/cmdline").TrimEnd('\0').Split('\0'); }
        catch (IOException) { return; }
        if (argv.Length == 0) return;
        var preload = Environment.GetEnvironmentVariable("LD_PRELOAD");
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => (string)e.Key is not ("LD_PRELOAD" or "FINETUNE_REEXEC"))
            .Select(e => $"{e.Key}={e.Value}")
            .Append("LD_PRELOAD=" + (string.IsNullOrEmpty(preload) ? library : library + ":" + preload))
            .Append("FINETUNE_REEXEC=1")
            .ToArray();
        Console.Out.Flush();
        Console.Error.Flush();
        _ = execve("/proc/self/exe", [.. argv, null], [.. environment, null]);
        // Only reached when exec failed: carry on under glibc.
    }

    /// <summary>Gives free memory at the top of glibc's heaps back to the system (malloc_trim); false when not on glibc.</summary>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux() || Current != "glibc") return false;
        try { return malloc_trim(0) != 0; }
        catch (EntryPointNotFoundException) { return false; }
        catch (DllNotFoundException) { return false; }
    }

    private static bool IsLoaded(string name)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
                if (line.Contains(name, StringComparison.Ordinal)) return true;
        }
        catch (IOException) { }
        return false;
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int execve(string path, string?[] argv, string?[] envp);

    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);
}
