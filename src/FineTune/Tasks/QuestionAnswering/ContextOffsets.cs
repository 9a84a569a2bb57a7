namespace FineTune.Tasks;

/// <summary>Where a window's tokens are in the context (the part of the QA features the ONNX predictors share).</summary>
internal static partial class QuestionAnsweringFeatures
{
    /// <summary>Per token its character range in the context (sequence 1), null for the question and special tokens.</summary>
    public static (int Start, int End)?[] ContextOffsets(Text.Encoding encoding)
    {
        var offsets = new (int Start, int End)?[encoding.Length];
        for (int t = 0; t < offsets.Length; t++)
            if (encoding.SequenceIds[t] == 1)
                offsets[t] = (encoding.Offsets[t].Start, encoding.Offsets[t].End);
        return offsets;
    }
}
