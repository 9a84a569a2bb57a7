namespace FineTune.Configuration;

/// <summary>How a run is spread over processes: one process (the default), or data-parallel over MPI.</summary>
public enum DistributedBackend { None, Mpi }

/// <summary>
/// Data-parallel training: every process (rank) holds the whole model, trains on its share of each batch, and the
/// gradients are summed over the ranks before every optimizer step, so that all ranks take the same step. Start
/// the ranks with MPI's launcher (<c>mpirun -np N</c>); only rank 0 writes the run folder.
/// </summary>
public sealed record DistributedOptions
{
    /// <summary>None: this process trains alone. Mpi: the processes started together by <c>mpirun</c> train together.</summary>
    public DistributedBackend Backend { get; init; } = DistributedBackend.None;

    /// <summary>
    /// Compare a checksum of the parameters over the ranks every this many optimizer steps (and at the last); ranks
    /// whose parameters differ stop with an error. 0: only after the last step.
    /// </summary>
    public int ChecksumSteps { get; init; } = 100;

    /// <summary>
    /// The longest a rank waits for the others in one exchange; past it the rank stops with an error saying where it
    /// waited (a rank died, hangs, or is far behind). It must exceed what rank 0 does alone between two exchanges
    /// (writing a checkpoint).
    /// </summary>
    public double TimeoutSeconds { get; init; } = 600;

    /// <summary>Checks ranges; throws an <see cref="OptionException"/> naming the property.</summary>
    public void Validate()
    {
        if (ChecksumSteps < 0)
            throw new OptionException($"{nameof(DistributedOptions)}.{nameof(ChecksumSteps)}", $"must not be negative, got {ChecksumSteps}");
        if (!(TimeoutSeconds > 0))
            throw new OptionException($"{nameof(DistributedOptions)}.{nameof(TimeoutSeconds)}", $"must be positive, got {TimeoutSeconds}");
    }
}
