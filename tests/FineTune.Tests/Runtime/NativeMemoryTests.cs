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

    [Theory]
    [InlineData(null, "Tcmalloc")]
    [InlineData("", "Tcmalloc")]
    [InlineData("tcmalloc", "Tcmalloc")]
    [InlineData("glibc", "Glibc")]
    [InlineData(" GLIBC ", "Glibc")]
    [InlineData("system", "System")]
    public void TheAllocatorVariableChooses(string? value, string expected) =>
        Assert.Equal(Enum.Parse<AllocatorChoice>(expected), NativeMemory.ParseChoice(value));

    [Fact]
    public void MallocSettingsReadAndWriteTheSameText()
    {
        var settings = GlibcMallocSettings.Parse("arena=2:mmap=4M:trim=64M:pad=16M:maps=0:guard=256M");
        Assert.Equal(2, settings.ArenaMax);
        Assert.Equal(4 << 20, settings.MmapThreshold);
        Assert.Equal(64 << 20, settings.TrimThreshold);
        Assert.Equal(16 << 20, settings.TopPad);
        Assert.Equal(0, settings.MmapMax);
        Assert.Equal(256 << 20, settings.TrimMargin);
        Assert.Equal("arena=2:mmap=4M:trim=64M:pad=16M:maps=0:guard=256M", settings.ToString());
        Assert.Equal(settings, GlibcMallocSettings.Parse(settings.ToString()));
        Assert.Equal("mmap=1536K", GlibcMallocSettings.Parse("mmap=1572864").ToString());
        Assert.Throws<FormatException>(() => GlibcMallocSettings.Parse("arenas=2"));
        Assert.Throws<FormatException>(() => GlibcMallocSettings.Parse("arena"));
    }

    [Fact]
    public void GlibcAcceptsTheDefaultSettings()
    {
        // The library applied them when it was loaded (NativeEnvironment); applying them again must not be refused by
        // glibc (each mallopt call reports whether it took the value). Elsewhere nothing is applied.
        var rejected = NativeMemory.ApplyGlibcSettings(NativeMemory.GlibcDefaults);
        if (NativeMemory.Current == "glibc") Assert.Empty(rejected!);
        else Assert.Null(rejected);
    }
}
