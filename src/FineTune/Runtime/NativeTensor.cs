using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace FineTune.Runtime;

/// <summary>Small additions over TorchSharp's native library that its managed API does not expose.</summary>
internal static partial class NativeTensor
{
    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_data(IntPtr handle);

    /// <summary>The address of a tensor's first element (as torch's Tensor.data_ptr()).</summary>
    public static IntPtr DataPointer(Tensor t) => THSTensor_data(t.Handle);
}
