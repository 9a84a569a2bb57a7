using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FineTune.Runtime;

/// <summary>
/// The MPI world (all the ranks <c>mpirun</c> started) through Open MPI's C library, libmpi.so.40 (Debian's
/// openmpi-bin and libopenmpi-dev). The calls are bound here, a dozen functions: MPI.NET 1.4.0 binds MS-MPI
/// (<c>msmpi.dll</c>) with MPICH's integer handles, while Open MPI's handles are pointers to objects the library
/// exports (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_float</c>, …), so MPI.NET's calls crash against Open MPI
/// (measured: a segmentation fault in its first call). Every exchange is a non-blocking collective polled with
/// MPI_Test against a deadline, so a rank that waits for a dead or hung peer fails with a message instead of
/// waiting forever. Only the thread that opened the world calls MPI (MPI_THREAD_FUNNELED).
/// </summary>
internal sealed unsafe class MpiCommunicator : ICommunicator
{
    private const int ThreadFunneled = 1;
    private static readonly nint InPlace = 1;   // Open MPI's MPI_IN_PLACE
    /// <summary>Elements per call: MPI counts are ints.</summary>
    private const int MaxCount = 1 << 30;

    private static MpiCommunicator? s_world;

    private readonly Api _api;
    private readonly TimeSpan _timeout;
    private bool _abandoned, _disposed;
    private readonly int _thread = Environment.CurrentManagedThreadId;

    private MpiCommunicator(Api api, TimeSpan timeout)
    {
        _api = api;
        _timeout = timeout;
        int rank, size;
        Check(api.CommRank(api.CommWorld, &rank), "MPI_Comm_rank");
        Check(api.CommSize(api.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
    }

    public int Rank { get; }
    public int Size { get; }

    /// <summary>Seconds spent in exchanges since the world was opened (waiting included).</summary>
    public double ExchangeSeconds { get; private set; }

    /// <summary>Bytes passed to all-reduce calls since the world was opened (one rank's buffer, not the traffic).</summary>
    public long BytesReduced { get; private set; }

    /// <summary>
    /// Initialises MPI (once per process: MPI cannot start again after it finished) and returns the world. Fails with
    /// a clear message when Open MPI's library is missing.
    /// </summary>
    public static MpiCommunicator OpenWorld(TimeSpan timeout)
    {
        if (s_world is { _disposed: false }) throw new FineTuneException("MPI is already in use by another run in this process");
        if (s_world is not null) throw new FineTuneException("MPI was finished by an earlier run in this process; a process can run one distributed training");
        var api = Api.Load();
        int initialized;
        api.Check(api.Initialized(&initialized), "MPI_Initialized");
        if (initialized == 0)
        {
            int provided;
            api.Check(api.InitThread(null, null, ThreadFunneled, &provided), "MPI_Init_thread");
        }
        s_world = new MpiCommunicator(api, timeout);
        return s_world;
    }

    public void AllReduceSum(float* data, long count, string context)
    {
        BytesReduced += count * sizeof(float);
        for (long done = 0; done < count; done += MaxCount)
        {
            nint request;
            int n = (int)Math.Min(MaxCount, count - done);
            Wait(_api.Iallreduce(InPlace, (nint)(data + done), n, _api.Float, _api.Sum, _api.CommWorld, &request), &request, context);
        }
    }

    /// <summary>
    /// MPI's blocking all-reduce, without a timeout: only for the benchmark, which compares it with the polled
    /// non-blocking one the trainer uses.
    /// </summary>
    internal void AllReduceSumBlocking(float* data, long count)
    {
        for (long done = 0; done < count; done += MaxCount)
            Check(_api.Allreduce(InPlace, (nint)(data + done), (int)Math.Min(MaxCount, count - done), _api.Float, _api.Sum, _api.CommWorld), "MPI_Allreduce");
    }

    public void AllReduceSum(Span<double> values, string context)
    {
        nint request;
        fixed (double* data = values)
            Wait(_api.Iallreduce(InPlace, (nint)data, values.Length, _api.Double, _api.Sum, _api.CommWorld, &request), &request, context);
    }

    public void Broadcast(byte* data, long count, string context)
    {
        for (long done = 0; done < count; done += MaxCount)
        {
            nint request;
            int n = (int)Math.Min(MaxCount, count - done);
            Wait(_api.Ibcast((nint)(data + done), n, _api.Byte, 0, _api.CommWorld, &request), &request, context);
        }
    }

    public byte[][] AllGather(ReadOnlySpan<byte> local, string context)
    {
        var lengths = new long[Size];
        long mine = local.Length;
        nint request;
        fixed (long* all = lengths)
            Wait(_api.Iallgather((nint)(&mine), sizeof(long), _api.Byte, (nint)all, sizeof(long), _api.Byte, _api.CommWorld, &request), &request, context);
        if (lengths.Sum() > int.MaxValue) throw new FineTuneException($"{context}: {lengths.Sum()} bytes to gather, more than one exchange carries");
        var counts = lengths.Select(l => (int)l).ToArray();
        var offsets = new int[Size];
        for (int r = 1; r < Size; r++) offsets[r] = offsets[r - 1] + counts[r - 1];
        var gathered = new byte[Math.Max(1, counts.Sum())];
        fixed (byte* send = local)
        fixed (byte* receive = gathered)
        fixed (int* c = counts)
        fixed (int* o = offsets)
            Wait(_api.Iallgatherv((nint)send, local.Length, _api.Byte, (nint)receive, (nint)c, (nint)o, _api.Byte, _api.CommWorld, &request), &request, context);
        return Enumerable.Range(0, Size).Select(r => gathered.AsSpan(offsets[r], counts[r]).ToArray()).ToArray();
    }

    /// <summary>Polls a started non-blocking collective until it completes or the timeout passes.</summary>
    private void Wait(int startCode, nint* request, string context)
    {
        if (_disposed) throw new ObjectDisposedException(nameof(MpiCommunicator));
        if (Environment.CurrentManagedThreadId != _thread)
            throw new InvalidOperationException("MPI is called from the thread that opened it only");
        Check(startCode, context);
        var clock = Stopwatch.StartNew();
        int flag = 0;
        for (long polls = 0; ; polls++)
        {
            Check(_api.Test(request, &flag, 0), context);
            if (flag != 0) break;
            // MPI moves the exchange on inside MPI_Test: poll without sleeping, now and then yielding the core.
            if ((polls & 1023) == 1023)
            {
                if (clock.Elapsed > _timeout)
                {
                    _abandoned = true;
                    throw new FineTuneException(
                        $"rank {Rank} of {Size}: no answer from the other ranks within {_timeout.TotalSeconds:0.#} s in {context}: " +
                        "a rank died, hangs or is far behind (DistributedOptions.TimeoutSeconds)");
                }
                Thread.Yield();
            }
        }
        ExchangeSeconds += clock.Elapsed.TotalSeconds;
    }

    private void Check(int code, string context) => _api.Check(code, context);

    public void Abandon() => _abandoned = true;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // After a failure the other ranks may be gone or stuck: MPI_Finalize would wait for them. The process exits
        // with its error instead, and mpirun ends the job.
        if (!_abandoned) _api.End();
    }

    /// <summary>The bound functions and Open MPI's predefined handles.</summary>
    private sealed class Api
    {
        public required nint CommWorld, Float, Double, Byte, Sum;
        public required delegate* unmanaged<int*, int> Initialized;
        public required delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
        public required delegate* unmanaged<nint, int*, int> CommRank, CommSize;
        public required delegate* unmanaged<nint, nint, int, nint, nint, nint, nint*, int> Iallreduce;
        public required delegate* unmanaged<nint, nint, int, nint, nint, nint, int> Allreduce;
        public required delegate* unmanaged<nint, int, nint, int, nint, nint*, int> Ibcast;
        public required delegate* unmanaged<nint, int, nint, nint, int, nint, nint, nint*, int> Iallgather;
        public required delegate* unmanaged<nint, int, nint, nint, nint, nint, nint, nint, nint*, int> Iallgatherv;
        public required delegate* unmanaged<nint*, int*, nint, int> Test;
        public required delegate* unmanaged<int> FinalizeFunction;
        public required delegate* unmanaged<int, byte*, int*, int> ErrorString;

        public void End() => FinalizeFunction();

        public void Check(int code, string context)
        {
            if (code == 0) return;
            var text = stackalloc byte[512];
            int length = 0;
            string message = ErrorString(code, text, &length) == 0 ? Marshal.PtrToStringUTF8((nint)text, length) : $"error {code}";
            throw new FineTuneException($"MPI failed in {context}: {message}");
        }

        private const int RtldNow = 2, RtldGlobal = 0x100;

        [DllImport("libc", EntryPoint = "dlopen")]
        private static extern nint DlOpen(string file, int mode);

        /// <summary>
        /// Loads libmpi with its symbols global (Open MPI's plug-ins, loaded by MPI_Init, resolve them there) and
        /// binds the functions.
        /// </summary>
        public static Api Load()
        {
            nint lib = 0;
            foreach (var name in new[] { "libmpi.so.40", "libmpi.so" })
                if ((lib = DlOpen(name, RtldNow | RtldGlobal)) != 0) break;
            if (lib == 0)
                throw new FineTuneException("distributed training over MPI needs Open MPI's libmpi.so.40 (Debian: apt-get install openmpi-bin libopenmpi-dev), and the ranks started by mpirun");
            nint F(string name) => NativeLibrary.TryGetExport(lib, name, out var f)
                ? f
                : throw new FineTuneException($"libmpi has no {name}: distributed training needs Open MPI 4 or later");
            return new Api
            {
                CommWorld = F("ompi_mpi_comm_world"), Float = F("ompi_mpi_float"), Double = F("ompi_mpi_double"), Byte = F("ompi_mpi_byte"),
                Sum = F("ompi_mpi_op_sum"),
                Initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized"),
                InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)F("MPI_Init_thread"),
                CommRank = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_rank"),
                CommSize = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_size"),
                Iallreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, nint*, int>)F("MPI_Iallreduce"),
                Allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)F("MPI_Allreduce"),
                Ibcast = (delegate* unmanaged<nint, int, nint, int, nint, nint*, int>)F("MPI_Ibcast"),
                Iallgather = (delegate* unmanaged<nint, int, nint, nint, int, nint, nint, nint*, int>)F("MPI_Iallgather"),
                Iallgatherv = (delegate* unmanaged<nint, int, nint, nint, nint, nint, nint, nint, nint*, int>)F("MPI_Iallgatherv"),
                Test = (delegate* unmanaged<nint*, int*, nint, int>)F("MPI_Test"),
                FinalizeFunction = (delegate* unmanaged<int>)F("MPI_Finalize"),
                ErrorString = (delegate* unmanaged<int, byte*, int*, int>)F("MPI_Error_string"),
            };
        }
    }
}
