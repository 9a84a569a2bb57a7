namespace FineTune.Configuration;

/// <summary>What the model learns to predict for each example.</summary>
public enum TaskKind
{
    /// <summary>One class out of several (sentiment, topic, entailment). Softmax over the classes, cross-entropy loss.</summary>
    SingleLabelClassification,

    /// <summary>Any number of classes at once (emotions, tags). One sigmoid per label, binary cross-entropy loss.</summary>
    MultiLabelClassification,

    /// <summary>A real number (a similarity score, a rating). Mean squared error loss.</summary>
    Regression,
}
