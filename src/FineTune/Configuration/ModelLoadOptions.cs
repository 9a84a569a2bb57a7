namespace FineTune.Configuration;

/// <summary>Options for loading a model folder.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Allow pytorch_model.bin (a Python pickle, which can run code when read). Off by default.</summary>
    public bool AllowPickle { get; init; }

    /// <summary>Re-initialise a head whose shape differs from the checkpoint's (another number of labels).</summary>
    public bool IgnoreMismatchedSizes { get; init; }

    /// <summary>
    /// What a sequence head (classification, multi-label, regression) reads: "cls" or "mean" (see
    /// <see cref="EncoderConfig.ClassifierPooling"/>). Null: config.json's classifier_pooling when it has one, else
    /// "mean" for a sentence-transformers folder whose pooling is mean, else "cls".
    /// </summary>
    public string? ClassifierPooling { get; init; }
}
