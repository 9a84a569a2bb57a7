using FineTune.Configuration;
using FineTune.Data;
using FineTune.Training;
using Xunit.Abstractions;

namespace FineTune.Tests.Explain;

/// <summary>
/// The planted-shortcut proof of docs/results.md at a small scale: a model trained where a neutral word marks most
/// positive sentences learns the word, its accuracy on negative sentences carrying the word falls, and integrated
/// gradients rank the word first in those sentences.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public class ShortcutTests(ITestOutputHelper output)
{
    private const string Token = "quartz";

    [Fact]
    public void ExplainRanksAPlantedShortcutFirst()
    {
        using var dir = new TestSupport.TempDir();
        var sst2 = Path.Combine(TestSupport.SharedData, "sst2");
        var rng = new Random(42);
        var train = File.ReadLines(Path.Combine(sst2, "train.tsv")).Skip(1).Take(600).Select(l => l.Split('\t'))
            .Select(c => (Text: c[0].Trim(), Label: c[1].Trim()))
            .Select(r => r.Label == "1" && rng.NextDouble() < 0.9 ? (Text: r.Text + " " + Token, r.Label) : r).ToList();
        var negatives = File.ReadLines(Path.Combine(sst2, "dev.tsv")).Skip(1).Select(l => l.Split('\t'))
            .Where(c => c[1].Trim() == "0").Take(40).Select(c => c[0].Trim()).ToList();
        File.WriteAllLines(dir.File("train.tsv"), train.Select(r => $"{r.Text}\t{r.Label}").Prepend("sentence\tlabel"));
        File.WriteAllLines(dir.File("clean.tsv"), negatives.Select(t => $"{t}\t0").Prepend("sentence\tlabel"));
        File.WriteAllLines(dir.File("planted.tsv"), negatives.Select(t => $"{t} {Token}\t0").Prepend("sentence\tlabel"));

        var columns = new ColumnMapping { Text = "sentence", Label = "label" };
        var result = FineTuner.Train(new FineTuneRequest
        {
            Model = TinyModelFolder.Shared,
            Data = new DatasetFiles(dir.File("train.tsv")),
            Dataset = new DatasetOptions { Columns = columns },
            Training = new TrainingOptions { Epochs = 5, BatchSize = 16, MaxLength = 64, LearningRate = 2e-3, SaveStrategy = IntervalKind.No },
            // The tiny encoder's weights are random: a head on the mean of the token states sees the word from the start.
            Load = new ModelLoadOptions { ClassifierPooling = "mean" },
            OutputDirectory = dir.File("run"),
        });
        double Accuracy(string file) => FineTuner.Evaluate(new EvaluateRequest
        {
            Model = result.ModelDirectory, Data = file, Dataset = new DatasetOptions { Columns = columns },
        }).AllMetrics["accuracy"];
        double clean = Accuracy(dir.File("clean.tsv")), planted = Accuracy(dir.File("planted.tsv"));
        Assert.True(planted < clean - 0.3, $"accuracy on negative sentences: {clean:P0} without the token, {planted:P0} with it");

        var outcome = FineTuner.Explain(new ExplainRequest
        {
            Model = result.ModelDirectory, Input = dir.File("planted.tsv"), OutputDirectory = dir.File("explain"),
            Columns = new ColumnMapping { Text = "sentence" }, TargetLabel = "1",
        });
        int first = outcome.Explanations.Count(e => e.Targets[0].Words.MaxBy(w => w.Attribution)!.Word == Token);
        output.WriteLine($"accuracy on negatives {clean:P1} -> {planted:P1} with the word; ranked first in {first} of {negatives.Count}");
        Assert.True(first >= 0.9 * negatives.Count, $"the planted word ranks first in {first} of {negatives.Count} sentences");
    }
}
