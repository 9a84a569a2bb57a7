using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Runtime;

/// <summary>
/// libtorch's automatic mixed precision (at::autocast), which TorchSharp 0.107 does not expose, reached through its
/// exported C++ functions. Inside a scope, matrix multiplications, linear layers and attention run in the scope's
/// dtype (bf16) while weights, LayerNorm, softmax and losses stay fp32, as torch.autocast does. The state is
/// thread-local: open the scope on the thread that runs the forward pass and the loss.
/// </summary>
internal static partial class Autocast
{
    private const string Lib = "libtorch_cpu";

    [LibraryImport(Lib, EntryPoint = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb")]
    private static partial void SetEnabled(sbyte deviceType, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Lib, EntryPoint = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool IsEnabled(sbyte deviceType);

    [LibraryImport(Lib, EntryPoint = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE")]
    private static partial void SetDType(sbyte deviceType, sbyte scalarType);

    [LibraryImport(Lib, EntryPoint = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE")]
    private static partial sbyte GetDType(sbyte deviceType);

    [LibraryImport(Lib, EntryPoint = "_ZN2at8autocast17increment_nestingEv")]
    private static partial int IncrementNesting();

    [LibraryImport(Lib, EntryPoint = "_ZN2at8autocast17decrement_nestingEv")]
    private static partial int DecrementNesting();

    [LibraryImport(Lib, EntryPoint = "_ZN2at8autocast11clear_cacheEv")]
    private static partial void ClearCache();

    /// <summary>Whether autocast is on for the device type on this thread.</summary>
    public static bool IsEnabledFor(DeviceType device) => IsEnabled((sbyte)device);

    /// <summary>The dtype that autocast runs matrix products in on this thread for the device type, or null when it is off.</summary>
    public static ScalarType? LowPrecisionFor(DeviceType device) =>
        IsEnabled((sbyte)device) ? (ScalarType)GetDType((sbyte)device) : null;

    /// <summary>Turns autocast on for <paramref name="device"/> with <paramref name="dtype"/> until the scope is disposed.</summary>
    public static IDisposable Enter(DeviceType device, ScalarType dtype) => new Scope((sbyte)device, (sbyte)dtype);

    private sealed class Scope : IDisposable
    {
        private readonly sbyte _device;
        private readonly bool _previousEnabled;
        private readonly sbyte _previousDType;
        private bool _disposed;

        public Scope(sbyte device, sbyte dtype)
        {
            _device = device;
            _previousEnabled = IsEnabled(device);
            _previousDType = GetDType(device);
            SetDType(device, dtype);
            SetEnabled(device, true);
            IncrementNesting();
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (DecrementNesting() == 0) ClearCache();
            SetEnabled(_device, _previousEnabled);
            SetDType(_device, _previousDType);
        }
    }
}

/// <summary>The scope a forward pass runs in for a precision: none for fp32, bf16 autocast for bf16.</summary>
internal static class PrecisionScopes
{
    public static Func<IDisposable?>? For(Precision precision, Device device) => Resolve(precision, device) switch
    {
        Precision.Bf16 => () => Autocast.Enter(device.type, ScalarType.BFloat16),
        _ => null,
    };

    /// <summary>
    /// The concrete precision of <see cref="Precision.Auto"/> on a device: on a CPU, <see cref="ForCpu"/> of its
    /// features; fp32 on GPUs (not measured).
    /// </summary>
    public static Precision Resolve(Precision precision, Device device) => precision switch
    {
        Precision.Auto => device.type == DeviceType.CPU ? ForCpu(CpuFeatures.HasAmxBf16, CpuFeatures.HasAvx512Bf16) : Precision.Fp32,
        _ => precision,
    };

    /// <summary>
    /// What <see cref="Precision.Auto"/> trains in on a CPU, by the bf16 instructions it has and what bf16 was measured
    /// to buy there (docs/performance.md, "Precision by CPU feature"): with AMX (Intel Sapphire Rapids) bf16 — a
    /// training step at 32 × 128 about 2× faster, SST-2 and STS-B dev sets within half a point of fp32; with
    /// AVX512-BF16 and no AMX (AMD EPYC, Zen 4) bf16 — the step 2.6–3.2× faster, SST-2 and STS-B as in fp32; with
    /// neither, fp32 (no bf16 dot-product instructions for oneDNN to use; not measured).
    /// </summary>
    internal static Precision ForCpu(bool amxBf16, bool avx512Bf16) =>
        amxBf16 || avx512Bf16 ? Precision.Bf16 : Precision.Fp32;
}
