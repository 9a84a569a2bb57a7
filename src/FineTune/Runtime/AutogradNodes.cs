using System.Collections;
using System.Reflection;
using TorchSharp;

namespace FineTune.Runtime;

/// <summary>
/// TorchSharp 0.107 keeps, for every output of a custom autograd function (<see cref="torch.autograd.SingleTensorFunction{T}"/>,
/// <see cref="torch.autograd.MultiTensorFunction{T}"/>), an empty tensor of the output's size until the graph node is
/// destroyed after backward, to build zero gradients from when an output got none. The library's custom functions
/// (the fused block ends and attention probabilities, fast dropout, the sparse embedding lookup) set
/// <c>set_materialize_grads(false)</c> and never need those tensors, but they stay allocated through the whole forward
/// and backward pass: at 32×128 that was 190 MB of peak RSS for the block ends and the attention probabilities of
/// all-MiniLM-L6-v2. <see cref="ReleaseOutputCache{T}"/> frees them right after the function is applied. It reaches
/// TorchSharp's private fields by reflection; when a TorchSharp version lays them out differently it does nothing
/// (<see cref="CanRelease"/> says which), and the tests check it against the version in use.
/// </summary>
internal static class AutogradNodes
{
    private static readonly Type? NodeType = typeof(torch.autograd).GetNestedType("Node", BindingFlags.NonPublic);
    private static readonly FieldInfo? AliveNodes = NodeType?.GetField("AliveNodes", BindingFlags.NonPublic | BindingFlags.Static);
    private static readonly Type? GenericNode = typeof(torch.autograd).GetNestedTypes(BindingFlags.NonPublic)
        .FirstOrDefault(t => t.IsGenericTypeDefinition && t.Name.StartsWith("Node`", StringComparison.Ordinal));

    /// <summary>Whether the TorchSharp in use has the fields this relies on.</summary>
    public static bool CanRelease => AliveNodes is not null && GenericNode?.GetField("_outputCache", BindingFlags.NonPublic | BindingFlags.Instance) is not null
        && GenericNode.GetField("_context", BindingFlags.NonPublic | BindingFlags.Instance) is not null;

    /// <summary>
    /// Frees the output cache of the node that the last application of <typeparamref name="T"/> on this thread
    /// created (the newest node of that function), when its context does not materialise gradients.
    /// </summary>
    public static bool ReleaseOutputCache<T>() where T : torch.autograd.Function<T>, new()
    {
        if (NewestNode<T>() is not { } node || Fields<T>.Context!.GetValue(node) is not torch.autograd.AutogradContext context
            || context.MaterializeGrads || Fields<T>.Cache!.GetValue(node) is not List<torch.Tensor> cache)
            return false;
        for (int i = 0; i < cache.Count; i++)
        {
            cache[i]?.Dispose();
            cache[i] = null!;
        }
        return true;
    }

    /// <summary>How many output buffers the newest node of <typeparamref name="T"/> still holds; null when there is no such node.</summary>
    public static int? CachedOutputs<T>() where T : torch.autograd.Function<T>, new() =>
        NewestNode<T>() is { } node ? (Fields<T>.Cache!.GetValue(node) as List<torch.Tensor>)?.Count(t => t is not null) ?? 0 : null;

    /// <summary>The most recently created live node of <typeparamref name="T"/>, or null (also when the fields are not there).</summary>
    private static object? NewestNode<T>() where T : torch.autograd.Function<T>, new()
    {
        if (Fields<T>.Type is null || AliveNodes!.GetValue(null) is not IList nodes) return null;
        lock (nodes)
        {
            for (int i = nodes.Count - 1; i >= 0; i--)
                if (nodes[i]?.GetType() == Fields<T>.Type) return nodes[i];
        }
        return null;
    }

    /// <summary>The node type of a function and its fields, looked up once.</summary>
    private static class Fields<T> where T : torch.autograd.Function<T>, new()
    {
        public static readonly Type? Type = CanRelease ? GenericNode!.MakeGenericType(typeof(T)) : null;
        public static readonly FieldInfo? Cache = Type?.GetField("_outputCache", BindingFlags.NonPublic | BindingFlags.Instance);
        public static readonly FieldInfo? Context = Type?.GetField("_context", BindingFlags.NonPublic | BindingFlags.Instance);
    }
}
