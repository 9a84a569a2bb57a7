using FineTune.Configuration;

namespace FineTune.Runtime;

/// <summary>
/// The processes (ranks) of a data-parallel run and what they exchange: sums of flat buffers, rank 0's bytes, and
/// everyone's bytes. Every rank makes the same calls in the same order; each call returns when all ranks have made
/// it, or fails after the run's timeout with a message naming <c>context</c> (what was being exchanged).
/// A single process is <see cref="SingleProcess"/>, whose calls do nothing.
/// </summary>
internal interface ICommunicator : IDisposable
{
    /// <summary>This process's rank, 0 to <see cref="Size"/> − 1; rank 0 writes the run's files.</summary>
    int Rank { get; }

    /// <summary>The number of ranks.</summary>
    int Size { get; }

    /// <summary>Replaces <paramref name="count"/> floats at <paramref name="data"/> by their sum over the ranks (the same on every rank).</summary>
    unsafe void AllReduceSum(float* data, long count, string context);

    /// <summary>Replaces <paramref name="values"/> by their sum over the ranks.</summary>
    void AllReduceSum(Span<double> values, string context);

    /// <summary>Copies rank 0's <paramref name="count"/> bytes at <paramref name="data"/> to every rank.</summary>
    unsafe void Broadcast(byte* data, long count, string context);

    /// <summary>Every rank's <paramref name="local"/> bytes, in rank order (the lengths may differ).</summary>
    byte[][] AllGather(ReadOnlySpan<byte> local, string context);

    /// <summary>
    /// Marks the run as failed: disposing then leaves without the orderly goodbye to the other ranks (which would
    /// wait for a rank that is gone), so the process can exit with its error and the launcher stops the others.
    /// </summary>
    void Abandon();
}

/// <summary>One process alone: nothing to exchange.</summary>
internal sealed class SingleProcess : ICommunicator
{
    public static SingleProcess Instance { get; } = new();

    public int Rank => 0;
    public int Size => 1;
    public unsafe void AllReduceSum(float* data, long count, string context) { }
    public void AllReduceSum(Span<double> values, string context) { }
    public unsafe void Broadcast(byte* data, long count, string context) { }
    public byte[][] AllGather(ReadOnlySpan<byte> local, string context) => [local.ToArray()];
    public void Abandon() { }
    public void Dispose() { }
}

/// <summary>Opening the communicator a run asks for, and what every rank's code needs around it.</summary>
internal static class Communicators
{
    /// <summary>The communicator of <paramref name="options"/>: <see cref="SingleProcess"/>, or the MPI world (initialising MPI).</summary>
    public static ICommunicator Open(DistributedOptions options)
    {
        options.Validate();
        return options.Backend switch
        {
            DistributedBackend.Mpi => MpiCommunicator.OpenWorld(TimeSpan.FromSeconds(options.TimeoutSeconds)),
            _ => SingleProcess.Instance,
        };
    }

    public static bool IsRoot(this ICommunicator communicator) => communicator.Rank == 0;

    /// <summary>
    /// The examples of <paramref name="batch"/> that <paramref name="rank"/> of <paramref name="size"/> trains on: a
    /// contiguous run, sizes differing by at most one, rank order covering the batch in order (a rank may get none).
    /// </summary>
    public static int[] Shard(int[] batch, int rank, int size)
    {
        if (size == 1) return batch;
        int start = (int)((long)batch.Length * rank / size), end = (int)((long)batch.Length * (rank + 1) / size);
        return batch[start..end];
    }

    /// <summary>
    /// libtorch threads per rank when the run does not say: the processors this process may use, divided among the
    /// ranks that share this machine (as the launcher says; 1 when it does not).
    /// </summary>
    public static int DefaultThreads(ICommunicator communicator)
    {
        if (communicator.Size == 1) return Environment.ProcessorCount;
        int local = int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE"), out var n) && n > 0 ? n : 1;
        return Math.Max(1, Environment.ProcessorCount / local);
    }
}
