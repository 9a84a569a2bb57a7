namespace FineTune.Checkpoints;

/// <summary>
/// A float32 tensor held in managed memory, row-major (C order), in the layout PyTorch uses for the same parameter.
/// </summary>
/// <param name="Shape">The dimensions, outermost first.</param>
/// <param name="Data">The elements; its length is the product of <paramref name="Shape"/>.</param>
internal sealed record HostTensor(long[] Shape, float[] Data)
{
    /// <summary>The number of elements the shape describes.</summary>
    public long ElementCount => Shape.Aggregate(1L, (n, d) => n * d);

    /// <summary>The shape written like PyTorch prints it, e.g. "[384, 1536]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
