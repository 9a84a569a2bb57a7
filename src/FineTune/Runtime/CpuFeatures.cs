namespace FineTune.Runtime;

/// <summary>What the processor offers that changes which precision is fastest.</summary>
internal static class CpuFeatures
{
    private static readonly Lazy<HashSet<string>> Flags = new(ReadFlags);

    /// <summary>Intel AMX with bf16 tiles (Sapphire Rapids and later): bf16 matrix products several times faster than fp32.</summary>
    public static bool HasAmxBf16 => Flags.Value.Contains("amx_bf16");

    /// <summary>AVX-512 bf16 dot products (Cooper Lake, Sapphire Rapids, Zen 4).</summary>
    public static bool HasAvx512Bf16 => Flags.Value.Contains("avx512_bf16");

    private static HashSet<string> ReadFlags()
    {
        var flags = new HashSet<string>(StringComparer.Ordinal);
        if (!OperatingSystem.IsLinux()) return flags;
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (!line.StartsWith("flags", StringComparison.Ordinal)) continue;
                foreach (var f in line.Split(':', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)) flags.Add(f);
                break;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return flags;
    }
}
