using FineTune.Runtime;

namespace FineTune.Tests.Runtime;

public class NativeMemoryTests
{
    [Fact]
    public void ReportsTheAllocatorAndDoesNothingOutsideAProgramsMain()
    {
        string current = NativeMemory.Current;
        Assert.Contains(current, new[] { "glibc", "tcmalloc", "system" });
        // Called from a test (not the entry assembly's Main) it must return without replacing the process.
        NativeMemory.PreferTcmalloc();
        Assert.Equal(current, NativeMemory.Current);
        // malloc_trim is only called under glibc (it may or may not find memory to release).
        if (current != "glibc") Assert.False(NativeMemory.Trim());
        else NativeMemory.Trim();
    }
}
