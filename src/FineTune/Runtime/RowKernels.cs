using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace FineTune.Runtime;

/// <summary>What the row-wise kernels (<see cref="SoftmaxDropout"/>, <see cref="ResidualLayerNorm"/>) share: splitting rows over the threads, and dropout masks kept as bits.</summary>
internal static class RowKernels
{
    private const int ElementsPerTask = 1 << 15;

    /// <summary>Whether the row kernels can run on <paramref name="like"/>'s device (a CPU with AVX-512).</summary>
    public static bool IsAvailable(Tensor like) =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported && like.device_type == TorchSharp.DeviceType.CPU;

    /// <summary>
    /// Splits the rows into one range per thread (none smaller than about <see cref="ElementsPerTask"/> elements) and
    /// runs them in parallel; the body gets the range's index (0 to the number of ranges − 1) and its rows.
    /// </summary>
    public static int ForRows(long rows, long width, Action<int, long, long> body)
    {
        int threads = Threads(rows, width);
        if (threads == 1)
        {
            body(0, 0, rows);
            return 1;
        }
        long perThread = (rows + threads - 1) / threads;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
            i => body(i, Math.Min(rows, i * perThread), Math.Min(rows, (i + 1) * perThread)));
        return threads;
    }

    /// <inheritdoc cref="ForRows(long, long, Action{int, long, long})"/>
    public static void ForRows(long rows, long width, Action<long, long> body) => ForRows(rows, width, (_, first, end) => body(first, end));

    /// <summary>How many ranges <see cref="ForRows(long, long, Action{int, long, long})"/> splits these rows into.</summary>
    public static int Threads(long rows, long width)
    {
        long minRows = Math.Max(1, ElementsPerTask / Math.Max(1, width));
        return (int)Math.Max(1, Math.Min(get_num_threads(), rows / minRows));
    }

    /// <summary>Which of a row's <paramref name="n"/> factors are non-zero, as bits: one 16-bit word per 16 elements.</summary>
    public static unsafe void StoreBits(float* factors, ushort* bits, int n)
    {
        int j = 0;
        for (; j + 16 <= n; j += 16)
            bits[j >> 4] = (ushort)Vector512.GreaterThan(Vector512.Load(factors + j), Vector512<float>.Zero).ExtractMostSignificantBits();
        if (j < n)
        {
            uint word = 0;
            for (int i = j; i < n; i++)
                if (factors[i] != 0) word |= 1u << (i - j);
            bits[j >> 4] = (ushort)word;
        }
    }

    /// <summary>The 16 factors (<paramref name="keepScale"/> where the bit is set, else 0) of the bits word for elements j … j + 15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Factors(ushort word, Vector512<float> keepScale)
    {
        var lanes = Vector512.Create(1u, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
        return keepScale & Vector512.Equals(Vector512.Create((uint)word) & lanes, lanes).AsSingle();
    }

    /// <summary>The factor of element j of a row from its bits.</summary>
    public static unsafe float Factor(ushort* rowBits, int j, float keepScale) => (rowBits[j >> 4] >> (j & 15) & 1) != 0 ? keepScale : 0f;
}

/// <summary>Loads and stores of 16 elements (or one) as fp32, whatever the tensor's dtype.</summary>
internal interface IElements
{
    static abstract int Size { get; }
    static abstract unsafe Vector512<float> Load(byte* row, int i);
    static abstract unsafe void Store(Vector512<float> v, byte* row, int i);
    static abstract unsafe float Get(byte* row, int i);
    static abstract unsafe void Set(byte* row, int i, float value);
    /// <summary>The values as this dtype holds them (rounded to it), still as fp32.</summary>
    static abstract Vector512<float> Round(Vector512<float> v);
    static abstract float Round(float value);
}

internal struct Fp32 : IElements
{
    public static int Size => 4;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector512<float> Load(byte* row, int i) => Vector512.Load((float*)row + i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store(Vector512<float> v, byte* row, int i) => v.Store((float*)row + i);
    public static unsafe float Get(byte* row, int i) => ((float*)row)[i];
    public static unsafe void Set(byte* row, int i, float value) => ((float*)row)[i] = value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Round(Vector512<float> v) => v;
    public static float Round(float value) => value;
}

/// <summary>bf16 as the upper half of fp32's bits; stores round to nearest even (finite values, as <see cref="DropoutMask"/>).</summary>
internal struct Bf16 : IElements
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector512<float> Load(byte* row, int i) =>
        Vector512.ShiftLeft(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)row + i)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store(Vector512<float> v, byte* row, int i) =>
        Avx512F.ConvertToVector256UInt16(Upper(v)).Store((ushort*)row + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Round(Vector512<float> v) => Vector512.ShiftLeft(Upper(v), 16).AsSingle();

    public static unsafe float Round(float value)
    {
        ushort b;
        Set((byte*)&b, 0, value);
        return Get((byte*)&b, 0);
    }

    /// <summary>The bf16 bits (round to nearest even) in the low half of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Upper(Vector512<float> v)
    {
        var bits = v.AsUInt32();
        return Vector512.ShiftRightLogical(bits + Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(bits, 16) & Vector512.Create(1u)), 16);
    }

    public static unsafe float Get(byte* row, int i) => BitConverter.UInt32BitsToSingle((uint)((ushort*)row)[i] << 16);

    public static unsafe void Set(byte* row, int i, float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        ((ushort*)row)[i] = float.IsNaN(value) ? (ushort)((bits >> 16) | 0x40) : (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }
}
