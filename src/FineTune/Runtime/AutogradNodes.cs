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
/// (<see cref="CanRelease"/> says which), and the tests check it against the version in use. The node released is the
/// one this thread built (its forward called <see cref="WithoutZeroGradients"/>), never another thread's: two threads
/// releasing the same node's buffers at once would free the same tensors twice.
/// </summary>
internal static class AutogradNodes
{
    private static readonly Type? NodeType = typeof(torch.autograd).GetNestedType("Node", BindingFlags.NonPublic);
    private static readonly FieldInfo? AliveNodes = NodeType?.GetField("AliveNodes", BindingFlags.NonPublic | BindingFlags.Static);
    private static readonly Type? GenericNode = typeof(torch.autograd).GetNestedTypes(BindingFlags.NonPublic)
        .FirstOrDefault(t => t.IsGenericTypeDefinition && t.Name.StartsWith("Node`", StringComparison.Ordinal));
    private static readonly FieldInfo? ContextNode = typeof(torch.autograd.AutogradContext).GetField("_node", BindingFlags.NonPublic | BindingFlags.Instance);

    /// <summary>The context of the node this thread's function forward last built, until it is released.</summary>
    [ThreadStatic] private static torch.autograd.AutogradContext? t_built;

    /// <summary>Whether the TorchSharp in use has the fields this relies on.</summary>
    public static bool CanRelease => AliveNodes is not null && ContextNode is not null
        && GenericNode?.GetField("_outputCache", BindingFlags.NonPublic | BindingFlags.Instance) is not null;

    /// <summary>
    /// For a function's forward: gradients of its outputs that nothing used arrive undefined, not as zeros (so no
    /// output-sized buffers are needed), and the node being built is the one this thread's next
    /// <see cref="ReleaseOutputCache{T}"/> releases.
    /// </summary>
    public static void WithoutZeroGradients(torch.autograd.AutogradContext ctx)
    {
        ctx.set_materialize_grads(false);
        t_built = ctx;
    }

    /// <summary>
    /// Frees the output cache of the node that the last application of <typeparamref name="T"/> on this thread
    /// built, when its forward called <see cref="WithoutZeroGradients"/>.
    /// </summary>
    public static bool ReleaseOutputCache<T>() where T : torch.autograd.Function<T>, new()
    {
        var context = t_built;
        t_built = null;
        if (context is null || Fields<T>.Type is null || ContextNode!.GetValue(context) is not { } node || node.GetType() != Fields<T>.Type
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
    }
}
