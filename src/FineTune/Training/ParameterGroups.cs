using TorchSharp.Modules;

namespace FineTune.Training;

/// <summary>Which parameters get weight decay.</summary>
internal static class ParameterGroups
{
    /// <summary>
    /// Matrices (dim ≥ 2: dense weights and embeddings) decay; vectors (biases, LayerNorm weights and biases) don't.
    /// For BERT-family models this is the same split as Hugging Face's name rule ("bias", "LayerNorm.weight").
    /// </summary>
    public static bool Decays(Parameter parameter) => parameter.dim() >= 2;

    /// <summary>Trainable parameters split into (decay, no decay), in module order.</summary>
    public static (List<(string Name, Parameter Parameter)> Decay, List<(string Name, Parameter Parameter)> NoDecay) Split(
        IEnumerable<(string Name, Parameter Parameter)> parameters)
    {
        var decay = new List<(string, Parameter)>();
        var noDecay = new List<(string, Parameter)>();
        foreach (var (name, p) in parameters)
        {
            if (!p.requires_grad) continue;
            (Decays(p) ? decay : noDecay).Add((name, p));
        }
        return (decay, noDecay);
    }
}
