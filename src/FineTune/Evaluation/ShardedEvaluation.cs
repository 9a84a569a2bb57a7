using FineTune.Modeling;
using FineTune.Runtime;
using static TorchSharp.torch;

namespace FineTune.Evaluation;

/// <summary>
/// Evaluation shared by the ranks of a data-parallel run. The batches are those one process would make, in its
/// order; in each round every rank runs the forward pass of one batch (rank r the r-th of the round), the outputs
/// are exchanged, and every rank hands all of them to the task's accumulators in the one-process order. The metrics
/// are therefore exactly those of one process (the same batches, the same sums in the same order), every rank has
/// them (so that all make the same best-model and early-stopping decisions), and no rank holds more than one
/// round's outputs.
/// </summary>
internal static class ShardedEvaluation
{
    private static readonly AsyncLocal<ICommunicator?> s_current = new();

    /// <summary>The ranks evaluation is shared with on this call path (null: evaluation runs alone).</summary>
    public static ICommunicator? Current => s_current.Value;

    /// <summary>Shares the evaluations made until the result is disposed with the ranks of <paramref name="communicator"/>.</summary>
    public static IDisposable Use(ICommunicator communicator)
    {
        var previous = s_current.Value;
        s_current.Value = communicator;
        return new Restore(() => s_current.Value = previous);
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    public static void Run<TFeature>(ICommunicator ranks, IForwardModel model, IReadOnlyList<TFeature> features, int[] order, int batchSize,
        Func<IReadOnlyList<TFeature>, Device, ModelInput> collate, Device device, Func<IDisposable?>? precisionScope,
        Action<int[], List<TFeature>, ModelOutput> onBatch)
    {
        using var _ = inference_mode();
        int round = batchSize * ranks.Size;
        for (int roundStart = 0; roundStart < order.Length; roundStart += round)
        {
            int[] Batch(int rank)
            {
                int start = Math.Min(order.Length, roundStart + rank * batchSize);
                return order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
            }
            byte[] mine = [];
            var myBatch = Batch(ranks.Rank);
            if (myBatch.Length > 0)
            {
                using var scope = NewDisposeScope();
                var input = collate(myBatch.Select(i => features[i]).ToList(), device);
                ModelOutput output;
                using (precisionScope?.Invoke())
                    output = model.Forward(input);
                mine = OutputBytes.Write(output);
            }
            var outputs = ranks.AllGather(mine, $"the evaluation outputs of examples {roundStart}-{Math.Min(order.Length, roundStart + round) - 1}");
            for (int rank = 0; rank < ranks.Size; rank++)
            {
                var indices = Batch(rank);
                if (indices.Length == 0) continue;
                using var scope = NewDisposeScope();
                onBatch(indices, indices.Select(i => features[i]).ToList(), OutputBytes.Read(outputs[rank]));
            }
        }
    }
}

/// <summary>A <see cref="ModelOutput"/> as bytes: each tensor's dtype, shape and values as they are (no conversion), on the CPU.</summary>
internal static class OutputBytes
{
    public static byte[] Write(ModelOutput output)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        foreach (var t in new[] { output.Logits, output.Loss, output.LossSum })
        {
            writer.Write(t is not null);
            if (t is null) continue;
            using var cpu = t.detach().cpu().contiguous();
            writer.Write((int)cpu.dtype);
            writer.Write(cpu.shape.Length);
            foreach (var d in cpu.shape) writer.Write(d);
            writer.Write(cpu.bytes);
        }
        writer.Write(output.LossDenominator);
        writer.Flush();
        return stream.ToArray();
    }

    public static ModelOutput Read(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        var tensors = new Tensor?[3];
        for (int i = 0; i < tensors.Length; i++)
        {
            if (!reader.ReadBoolean()) continue;
            var dtype = (ScalarType)reader.ReadInt32();
            var shape = new long[reader.ReadInt32()];
            for (int d = 0; d < shape.Length; d++) shape[d] = reader.ReadInt64();
            var t = empty(shape, dtype);
            var data = reader.ReadBytes((int)(t.NumberOfElements * t.ElementSize));
            t.bytes = data;
            tensors[i] = t;
        }
        return new ModelOutput(tensors[0]!, tensors[1], tensors[2], reader.ReadDouble());
    }
}
