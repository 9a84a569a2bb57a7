namespace FineTune.Modeling;

/// <summary>
/// A model as evaluation and prediction run it: a forward pass over a padded batch, and the config it was built from.
/// A <see cref="TaskModel"/> is one; an export folder run by ONNX Runtime (<c>Inference.ExportedTaskModel</c>) is
/// another, with the same outputs (logits, start and end logits, embeddings or pair cosines) and no loss.
/// </summary>
internal interface IForwardModel : IDisposable
{
    EncoderConfig Config { get; }

    /// <summary>The model's outputs for a batch (its loss too when the batch has labels and the model computes one).</summary>
    ModelOutput Forward(ModelInput input);

    /// <summary>Evaluation mode (dropout off) until the returned scope ends, which restores the model's mode.</summary>
    IDisposable EvaluationMode();
}
