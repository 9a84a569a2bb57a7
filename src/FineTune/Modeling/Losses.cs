using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FineTune.Modeling;

/// <summary>
/// A loss over one batch, returned as a sum and the denominator of its mean, so that gradient accumulation over
/// several batches divides by the true total (DESIGN.md: Hugging Face shipped several bugs here).
/// </summary>
internal interface ILossFunction
{
    /// <returns>The summed loss (a scalar tensor) and the denominator of the mean.</returns>
    (Tensor Sum, double Denominator) Compute(Tensor logits, Tensor labels);
}

/// <summary>Cross-entropy over classes [B, C] or tokens [B, T, C]; labels equal to <see cref="IgnoreIndex"/> are left out.</summary>
internal sealed class CrossEntropyLoss(float[]? classWeights = null, double labelSmoothing = 0.0) : ILossFunction
{
    public const long IgnoreIndex = -100;

    public float[]? ClassWeights { get; } = classWeights;
    public double LabelSmoothing { get; } = labelSmoothing;

    public (Tensor Sum, double Denominator) Compute(Tensor logits, Tensor labels)
    {
        var flatLogits = logits.reshape(-1, logits.shape[^1]);                               // [B(, T), C] -> [N, C]
        var flatLabels = labels.reshape(-1);                                                 // [B(, T)] -> [N]
        using var weight = ClassWeights is null ? null : tensor(ClassWeights, device: logits.device).to(flatLogits.dtype);
        var sum = functional.cross_entropy(flatLogits, flatLabels, weight, IgnoreIndex, Reduction.Sum, LabelSmoothing);
        var valid = flatLabels.ne(IgnoreIndex);
        double denominator = weight is null
            ? valid.sum().item<long>()
            : weight.index_select(0, flatLabels.masked_select(valid)).sum().item<float>();
        return (sum, denominator);
    }
}

/// <summary>Binary cross-entropy with logits per label, for multi-label classification; the mean is over examples × labels.</summary>
internal sealed class BceWithLogitsLoss(float[]? positiveWeights = null) : ILossFunction
{
    public float[]? PositiveWeights { get; } = positiveWeights;

    public (Tensor Sum, double Denominator) Compute(Tensor logits, Tensor labels)
    {
        using var posWeight = PositiveWeights is null ? null : tensor(PositiveWeights, device: logits.device).to(logits.dtype);
        var sum = functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), null, Reduction.Sum, posWeight);
        return (sum, labels.NumberOfElements);
    }
}

/// <summary>The regression losses: mean squared error (default), mean absolute error, Huber.</summary>
public enum RegressionLossKind { Mse, Mae, Huber }

/// <summary>Regression loss over [B, 1] or [B] predictions.</summary>
internal sealed class RegressionLoss(RegressionLossKind kind = RegressionLossKind.Mse, double huberDelta = 1.0) : ILossFunction
{
    public RegressionLossKind Kind { get; } = kind;
    public double HuberDelta { get; } = huberDelta;

    public (Tensor Sum, double Denominator) Compute(Tensor logits, Tensor labels)
    {
        var predictions = logits.reshape(-1);
        var targets = labels.reshape(-1).to(predictions.dtype);
        var sum = Kind switch
        {
            RegressionLossKind.Mae => functional.l1_loss(predictions, targets, Reduction.Sum),
            RegressionLossKind.Huber => functional.huber_loss(predictions, targets, HuberDelta, Reduction.Sum),
            _ => functional.mse_loss(predictions, targets, Reduction.Sum),
        };
        return (sum, predictions.shape[0]);
    }
}
