using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Modeling;
using FineTune.Tests.Text;
using static TorchSharp.torch;

namespace FineTune.Tests.EndToEnd;

/// <summary>
/// A tiny BERT (hidden 32, 2 layers) with the real packaged vocabulary, saved as a Hugging Face folder: the whole
/// pipeline runs on it in seconds. Built once per test run.
/// </summary>
internal static class TinyModelFolder
{
    private static readonly Lazy<string> s_folder = new(() =>
    {
        var folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "finetune-tiny-bert-" + Environment.ProcessId);
        var config = TestSupport.Tiny(vocab: 30522) with { Architectures = ["BertModel"], MaxPositionEmbeddings = 512 };
        random.manual_seed(1);
        using var encoder = new BertModel(config);
        AtomicFolder.Write(folder, tmp =>
        {
            config.Save(tmp);
            SafeTensors.Save(System.IO.Path.Combine(tmp, "model.safetensors"), encoder.state_dict());
            TestVocabulary.Uncased.Save(tmp);
        });
        return folder;
    });

    public static string Folder => s_folder.Value;
}
