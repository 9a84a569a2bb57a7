namespace FineTune.Configuration;

/// <summary>What the model learns to predict.</summary>
public enum TaskKind
{
    /// <summary>One label per text (or text pair), cross-entropy.</summary>
    SingleLabelClassification,
    /// <summary>Any number of labels per text, binary cross-entropy with logits per label.</summary>
    MultiLabelClassification,
    /// <summary>One number per text (or pair): MSE, MAE or Huber.</summary>
    Regression,
    /// <summary>One label per word (NER), cross-entropy over labelled sub-tokens.</summary>
    TokenClassification,
    /// <summary>Extractive question answering: start and end of the answer span.</summary>
    QuestionAnswering,
    /// <summary>Sentence similarity as a bi-encoder: cosine of mean-pooled embeddings against a score.</summary>
    Similarity,
}
