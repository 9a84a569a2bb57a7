using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Runtime;

/// <summary>Threads and devices: the explicit choices a run makes before it touches a tensor.</summary>
internal static class TorchRuntime
{
    /// <summary>
    /// The number of threads libtorch uses for intra-op parallelism. Default: one per processor the process may
    /// use (with OMP_WAIT_POLICY=PASSIVE, see <see cref="NativeEnvironment"/>).
    /// </summary>
    public static void SetThreads(int? threads)
    {
        int n = threads ?? Environment.ProcessorCount;
        if (n < 1) throw new OptionException("TorchRuntime.Threads", $"must be at least 1, got {n}");
        if (torch.get_num_threads() != n) torch.set_num_threads(n);
    }

    /// <summary>
    /// Parses "cpu", "cuda" or "cuda:N". CUDA needs a CUDA build of libtorch (TorchSharp-cuda-linux or
    /// libtorch-cuda-*), which this build does not reference by default: asking for it without one is a clear error.
    /// </summary>
    public static Device ParseDevice(string? name)
    {
        name = string.IsNullOrWhiteSpace(name) ? "cpu" : name.Trim().ToLowerInvariant();
        if (name == "cpu") return CPU;
        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw new OptionException("TorchRuntime.Device",
                    $"{name}: CUDA is not available. This build runs on libtorch's CPU package; for a GPU, build with " +
                    "-p:LibTorchPackage=libtorch-cuda-12.8-linux-x64 (or reference TorchSharp-cuda-linux) on a machine with an NVIDIA driver");
            int index = name.Length > 5 && int.TryParse(name[5..], out var i) ? i : 0;
            if (index >= cuda.device_count())
                throw new OptionException("TorchRuntime.Device", $"{name}: there are {cuda.device_count()} CUDA devices");
            return new Device(DeviceType.CUDA, index);
        }
        throw new OptionException("TorchRuntime.Device", $"expected cpu, cuda or cuda:N, got '{name}'");
    }
}
