using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FineTune.Runtime;

/// <summary>
/// Settings that libtorch's OpenMP runtime reads once, when it is loaded. They have to be in the native
/// environment (libc's environ) before the first TorchSharp call: <see cref="Environment.SetEnvironmentVariable(string, string)"/>
/// only changes .NET's copy. The module initializer applies the defaults when this assembly is first touched.
/// </summary>
public static partial class NativeEnvironment
{
    /// <summary>
    /// Defaults applied unless the variable is already set by the user. PASSIVE makes idle OpenMP threads sleep
    /// instead of spinning; on a busy 2-core machine spinning threads were measured to slow libtorch down by ~100x.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Defaults { get; } = new Dictionary<string, string>
    {
        ["OMP_WAIT_POLICY"] = "PASSIVE",
    };

#pragma warning disable CA2255 // deliberate: the native environment must be set before libtorch loads
    [ModuleInitializer]
#pragma warning restore CA2255
    public static void ApplyDefaults()
    {
        foreach (var (name, value) in Defaults)
            SetIfUnset(name, value);
        NativeMemory.TuneGlibc();
    }

    /// <summary>Sets a variable in the native environment (and .NET's) unless it is already set.</summary>
    public static void SetIfUnset(string name, string value)
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(name))) return;
        Set(name, value);
    }

    /// <summary>Sets a variable in both the native environment and .NET's view of it.</summary>
    public static void Set(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        if (!OperatingSystem.IsWindows())
            _ = setenv(name, value, 1);
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
