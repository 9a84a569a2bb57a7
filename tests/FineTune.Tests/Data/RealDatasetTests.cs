using System.Text;
using FineTune.Configuration;
using FineTune.Data;

namespace FineTune.Tests.Data;

/// <summary>The shared, published datasets read as they are, with the counts their README verifies.</summary>
public class RealDatasetTests
{
    [Fact]
    public void Sst2_TrainAndDev_HaveTheOfficialCounts()
    {
        var data = DatasetLoader.Load(SharedData.File("sst2", "train.tsv"), SharedData.File("sst2", "dev.tsv"),
            LabelKind.Class, "sentence", "label");

        Assert.Equal(67_349, data.Train.Count);
        Assert.Equal(872, data.Validation.Count);
        Assert.Equal(["0", "1"], data.Labels!.Labels);
        Assert.Equal(29_780, data.Summary["train"]!.LabelCounts["0"]);
        Assert.Equal(37_569, data.Summary["train"]!.LabelCounts["1"]);
        Assert.Equal(428, data.Summary["validation"]!.LabelCounts["0"]);
        Assert.Equal(444, data.Summary["validation"]!.LabelCounts["1"]);

        // Row numbers are line numbers: the header is line 1.
        var first = data.Train[0];
        Assert.Equal(2, first.SourceRow);
        Assert.Equal("hide new secretions from the parental units ", first.Text);
        Assert.Equal(0, first.ClassId);
        Assert.Equal(67_350, data.Train[^1].SourceRow);
    }

    [Fact]
    public void Rte_KeepsLeadingQuotes_WithQuotingOffForTsv()
    {
        var data = DatasetLoader.Load(SharedData.File("rte", "train.tsv"), SharedData.File("rte", "dev.tsv"),
            LabelKind.Class, "sentence1", "label", textPairColumn: "sentence2");

        Assert.Equal(2_490, data.Train.Count);
        Assert.Equal(277, data.Validation.Count);
        Assert.Equal(["entailment", "not_entailment"], data.Labels!.Labels);
        Assert.Equal(1_249, data.Summary["train"]!.LabelCounts["entailment"]);
        Assert.Equal(1_241, data.Summary["train"]!.LabelCounts["not_entailment"]);
        Assert.Equal(146, data.Summary["validation"]!.LabelCounts["entailment"]);
        Assert.Equal(56, data.Train.Count(e => e.Text.StartsWith('"')));
        Assert.All(data.Train, e => Assert.False(string.IsNullOrEmpty(e.TextPair)));
    }

    [Fact]
    public void Mrpc_HeaderIsReadPastTheByteOrderMark()
    {
        var train = SharedData.File("mrpc", "train.tsv");
        var reader = DataFileReader.Open(train);
        Assert.Equal(["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"], reader.Columns);

        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "#1 String", TextPair = "#2 String", Label = "Quality" },
            DataFile = new DataFileOptions { Format = DataFormat.Tsv }, // the test file ends in .txt
        };
        var data = DatasetLoader.Load(new DatasetFiles(train, SharedData.File("mrpc", "dev.tsv"), SharedData.File("mrpc", "msr_paraphrase_test.txt")), options, LabelKind.Class);

        Assert.Equal(3_668, data.Train.Count);
        Assert.Equal(408, data.Validation.Count);
        Assert.Equal(1_725, data.Test.Count);
        Assert.Equal(2_474, data.Summary["train"]!.LabelCounts["1"]);
        Assert.Equal(1_194, data.Summary["train"]!.LabelCounts["0"]);
        Assert.Equal(279, data.Summary["validation"]!.LabelCounts["1"]);
        Assert.Equal(1_147, data.Summary["test"]!.LabelCounts["1"]);
        Assert.Contains(data.Train, e => e.Text.Contains('"'));
    }

    [Fact]
    public void StsB_ScoresAreRegressionTargets()
    {
        var data = DatasetLoader.Load(SharedData.File("stsb", "train.tsv"), SharedData.File("stsb", "dev.tsv"),
            LabelKind.Number, "sentence1", "score", textPairColumn: "sentence2");

        Assert.Null(data.Labels);
        Assert.Equal(5_749, data.Train.Count);
        Assert.Equal(1_500, data.Validation.Count);
        var train = data.Summary["train"]!.Values!;
        Assert.Equal(0.0, train.Min);
        Assert.Equal(5.0, train.Max);
        Assert.Equal(2.701, train.Mean, 3);
        Assert.Equal(2.364, data.Summary["validation"]!.Values!.Mean, 3);
        Assert.Equal(new RegressionTarget(5f), data.Train[0].Label);
        Assert.Equal(new RegressionTarget(3.8f), data.Train[1].Label);
    }

    [Fact]
    public void StsBenchmarkTest_HasNoHeaderAndSomeLongerRows()
    {
        var file = SharedData.File("stsb", "sts-test.tsv");
        string[] names = ["genre", "filename", "year", "id", "score", "sentence1", "sentence2"];
        var firstLongLine = File.ReadLines(file).Select((line, i) => (line, number: i + 1)).First(l => l.line.Split('\t').Length == 9).number;

        var strict = new DataFileOptions { HasHeader = false, ColumnNames = names };
        var bad = DataFileReader.Open(file, strict).ReadRows().First(r => r.Error is not null);
        Assert.Equal($"{file}:{firstLongLine}: expected 7 fields (genre, filename, year, id, score, sentence1, sentence2), found 9", bad.Error!.Message);

        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "sentence1", TextPair = "sentence2", Label = "score" },
            DataFile = strict with { ExtraFields = ExtraFieldsHandling.Ignore },
        };
        var test = DatasetLoader.ReadExamples(file, options, LabelKind.Number, labels: null).Examples;
        Assert.Equal(1_379, test.Count);
        Assert.Equal(1, test[0].SourceRow);
        Assert.All(test, e => Assert.InRange(((RegressionTarget)e.Label!).Value, 0f, 5f));
    }

    [Fact]
    public void GoEmotions_IsMultiLabelWithCsvStyleQuotingInATsv()
    {
        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "text", Label = "labels" },
            DataFile = new DataFileOptions { HasHeader = false, ColumnNames = ["text", "labels", "id"], Quoting = true },
        };
        var data = DatasetLoader.Load(new DatasetFiles(SharedData.File("goemotions", "train.tsv"), SharedData.File("goemotions", "dev.tsv"), SharedData.File("goemotions", "test.tsv")), options, LabelKind.Classes);

        Assert.Equal(43_410, data.Train.Count);
        Assert.Equal(5_426, data.Validation.Count);
        Assert.Equal(5_427, data.Test.Count);

        // Label ids sort numerically, so "27" (neutral) keeps id 27 and the emotions.txt names line up.
        var names = File.ReadAllLines(SharedData.File("goemotions", "emotions.txt"));
        Assert.Equal(28, names.Length);
        Assert.Equal(Enumerable.Range(0, 28).Select(i => i.ToString()), data.Labels!.Labels);
        var counts = data.Summary["train"]!.LabelCounts;
        Assert.Equal(14_219, counts[Array.IndexOf(names, "neutral").ToString()]);
        Assert.Equal(4_130, counts[Array.IndexOf(names, "admiration").ToString()]);
        Assert.Equal(2_939, counts[Array.IndexOf(names, "approval").ToString()]);

        var perRow = data.Train.GroupBy(e => ((MultiLabelTargets)e.Label!).PositiveIds().Count()).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(36_308, perRow[1]);
        Assert.Equal(6_541, perRow[2]);
        Assert.Equal(532, perRow[3]);
        Assert.Equal(28, perRow[4]);
        Assert.Equal(1, perRow[5]);

        // A quoted text is unescaped: outer quotes gone, doubled quotes single.
        Assert.Contains(data.Train, e => e.Text == "Three words, no subtlety. \"Dude. Stop. Seriously.\" ");
        Assert.Contains(data.Train, e => e.Text == "Little kids are the best because they're just like \"Wtf?!?!?\"\"");
        Assert.Equal(2, data.Train.Count(e => e.Text.Contains("\"\""))); // the two rows whose text really holds "" after unescaping
    }

    [Fact]
    public void Trec_LabelThenQuestionOnALatin1Line()
    {
        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "question", Label = "label" },
            DataFile = new DataFileOptions
            {
                Format = DataFormat.Tsv,
                Separator = ' ',
                HasHeader = false,
                ColumnNames = ["label", "question"],
                ExtraFields = ExtraFieldsHandling.JoinIntoLastColumn,
                Encoding = Encoding.Latin1,
            },
        };
        var data = DatasetLoader.Load(new DatasetFiles(SharedData.File("trec", "train_5500.label"), Test: SharedData.File("trec", "TREC_10.label")), options, LabelKind.Class);

        Assert.Equal(5_452, data.Train.Count);
        Assert.Equal(500, data.Test.Count);
        Assert.Equal(50, data.Labels!.Count);
        Assert.Equal("DESC:manner", data.Labels[data.Train[0].ClassId]);
        Assert.Equal("How did serfdom develop in and then leave Russia ?", data.Train[0].Text);
        Assert.Contains("sister\u00F0city", data.Train.Single(e => e.SourceRow == 66).Text);

        var coarse = data.Train.GroupBy(e => data.Labels[e.ClassId].Split(':')[0]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new Dictionary<string, int> { ["ABBR"] = 86, ["DESC"] = 1_162, ["ENTY"] = 1_250, ["HUM"] = 1_223, ["LOC"] = 835, ["NUM"] = 896 }, coarse);
        var testCoarse = data.Test.GroupBy(e => data.Labels[e.ClassId].Split(':')[0]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(138, testCoarse["DESC"]);
    }

    [Fact]
    public void SmsSpam_LabelFirstThenTextWithQuotes()
    {
        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "text", Label = "label" },
            DataFile = new DataFileOptions { Format = DataFormat.Tsv, HasHeader = false, ColumnNames = ["label", "text"] },
            ValidationFraction = 0.1,
            TestFraction = 0.1,
            Seed = 7,
        };
        var data = DatasetLoader.Load(new DatasetFiles(SharedData.File("sms_spam", "SMSSpamCollection")), options, LabelKind.Class);

        Assert.Equal(["ham", "spam"], data.Labels!.Labels);
        Assert.Equal(5_574, data.Train.Count + data.Validation.Count + data.Test.Count);
        Assert.Equal(558, data.Validation.Count);
        Assert.Equal(558, data.Test.Count);
        var all = data.Train.Concat(data.Validation).Concat(data.Test).ToArray();
        Assert.Equal(4_827, all.Count(e => e.ClassId == 0));
        Assert.Equal(747, all.Count(e => e.ClassId == 1));
        Assert.Contains(all, e => e.Text.Contains('"'));
        // Stratified: spam is 13.4 % of every split.
        Assert.Equal(75, data.Validation.Count(e => e.ClassId == 1));
        Assert.Equal(75, data.Test.Count(e => e.ClassId == 1));
    }

    [Fact]
    public void AgNews_QuotedCsvWithoutHeader()
    {
        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "title", TextPair = "description", Label = "class" },
            DataFile = new DataFileOptions { HasHeader = false, ColumnNames = ["class", "title", "description"] },
        };
        var data = DatasetLoader.Load(new DatasetFiles(SharedData.File("ag_news", "test.csv")), options, LabelKind.Class);

        Assert.Equal(7_600, data.Train.Count);
        Assert.Equal(["1", "2", "3", "4"], data.Labels!.Labels);
        Assert.All(data.Summary["train"]!.LabelCounts.Values, c => Assert.Equal(1_900, c));
        Assert.Equal("Fears for T N pension after talks", data.Train[0].Text);
        Assert.Equal("3", data.Labels[data.Train[0].ClassId]);
        Assert.DoesNotContain(data.Train, e => e.Text.StartsWith("\"\"") || e.TextPair!.StartsWith("\"\""));
        var quoted = data.Train.Single(e => e.Text == "RNC Protesters Using Text Messages to Plan");
        Assert.StartsWith("\"Multiple reports of provocateurs setting trash fires in midtown,\" read one text message", quoted.TextPair);
    }

    [Fact]
    public void UciImdb_QuotingOffKeepsEveryLine()
    {
        var file = SharedData.File("uci_sentiment", "imdb_labelled.txt");
        var unquoted = new DataFileOptions { Format = DataFormat.Tsv, HasHeader = false, ColumnNames = ["sentence", "label"] };
        Assert.Equal(1_000, DataFileReader.Open(file, unquoted).ReadRows().Count(r => r.Error is null));

        // With quote handling on, quoted spans swallow separators and line ends: the well-known short count.
        var quoted = unquoted with { Quoting = true };
        Assert.True(DataFileReader.Open(file, quoted).ReadRows().Count() < 1_000);
    }
}
