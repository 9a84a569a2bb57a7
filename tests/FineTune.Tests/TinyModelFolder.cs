using FineTune.Checkpoints;
using FineTune.Configuration;
using FineTune.Data;
using FineTune.Modeling;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tests;

/// <summary>
/// A tiny pretrained-looking model folder (hidden 32, 2 layers, random weights, 512 positions) with the real
/// all-MiniLM-L6-v2 tokenizer, so that runs take seconds but tokenize real text exactly as the real model does.
/// </summary>
public sealed class TinyModelFolder : IDisposable
{
    private readonly TestSupport.TempDir _dir = new();

    public TinyModelFolder()
    {
        Tokenizer = WordPieceTokenizer.FromFolder(ModelCatalog.Resolve("all-MiniLM-L6-v2"));
        Path = _dir.File("tiny-bert");
        random.manual_seed(3);
        using var encoder = TestSupport.Create(Config, "similarity");
        ModelFolder.Save(encoder, Path, Tokenizer.Save);
    }

    private static readonly Lazy<TinyModelFolder> s_shared = new(() => new TinyModelFolder());

    /// <summary>One folder shared by the tests of a run (never modified by them).</summary>
    public static string Shared => s_shared.Value.Path;

    public static EncoderConfig Config { get; } = TestSupport.Tiny(vocab: 30522) with { MaxPositionEmbeddings = 512 };

    internal WordPieceTokenizer Tokenizer { get; }

    /// <summary>The encoder folder, as a pretrained checkpoint would be (BertModel, no head).</summary>
    public string Path { get; }

    public string File(string name) => _dir.File(name);

    /// <summary>
    /// A token-classification model folder whose head always predicts <paramref name="tag"/> (zero weights, a large
    /// bias), for tests that need known predictions.
    /// </summary>
    public string ConstantTagger(IReadOnlyList<string> tags, string tag)
    {
        var folder = _dir.File("tagger-" + tag);
        var config = Config.WithLabels(tags, null);
        using var model = TestSupport.Create(config, "token-classification");
        using (no_grad())
        {
            var state = model.state_dict();
            state["classifier.weight"].zero_();
            state["classifier.bias"].zero_();
            state["classifier.bias"][tags.ToList().IndexOf(tag)] = tensor(10f);
        }
        ModelFolder.Save(model, folder, Tokenizer.Save);
        return folder;
    }

    /// <summary>
    /// An extractive-QA model folder (BertForQuestionAnswering) with a seeded random head, for tests that need a QA
    /// model without training one; with <paramref name="trainedMaxLength"/>, its finetune.json says it was trained
    /// with windows of that many tokens.
    /// </summary>
    public string AnswerModel(int? trainedMaxLength = null)
    {
        var folder = _dir.File($"qa-{trainedMaxLength}");
        if (Directory.Exists(folder)) return folder;
        random.manual_seed(5);
        using var model = TestSupport.Create(Config, "question-answering");
        ModelFolder.Save(model, folder, f =>
        {
            Tokenizer.Save(f);
            if (trainedMaxLength is int length) new FineTuneMetadata { Task = "question-answering", MaxLength = length }.Save(f);
        });
        return folder;
    }

    /// <summary>
    /// A fine-tuned-looking sequence model folder of <paramref name="task"/> (classification and multi-label with
    /// <paramref name="labels"/>, regression with none) whose head is drawn at random after seeding torch with
    /// <paramref name="seed"/>, with its finetune.json: predictions without training.
    /// </summary>
    public string SequenceModel(string task, IReadOnlyList<string>? labels = null, int seed = 7)
    {
        var folder = _dir.File($"{task}-{seed}");
        if (Directory.Exists(folder)) return folder;
        random.manual_seed(seed);
        var config = labels is null ? Config with { ProblemType = TestSupport.ProblemType(task) } : Config.WithLabels(labels, TestSupport.ProblemType(task));
        using var model = TestSupport.Create(config, task);
        ModelFolder.Save(model, folder, f =>
        {
            Tokenizer.Save(f);
            new FineTuneMetadata { Task = task, MaxLength = 64 }.Save(f);
        });
        return folder;
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>Small real slices of the shared datasets, written once per test class.</summary>
internal static class Slices
{
    /// <summary>The first <paramref name="sentences"/> sentences of a CoNLL file (document lines dropped), as a new file.</summary>
    public static string Conll(string source, int sentences, string destination)
    {
        var lines = new List<string>();
        int count = 0;
        foreach (var line in System.IO.File.ReadLines(source))
        {
            if (line.StartsWith(ConllReader.DocumentStart, StringComparison.Ordinal)) continue;
            if (line.Trim().Length == 0)
            {
                if (lines.Count > 0 && lines[^1].Length > 0)
                {
                    lines.Add("");
                    if (++count == sentences) break;
                }
                continue;
            }
            lines.Add(line);
        }
        System.IO.File.WriteAllLines(destination, lines);
        return destination;
    }
}
