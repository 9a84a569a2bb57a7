using FineTune.Configuration;
using FineTune.Data;

namespace FineTune.Tests.Data;

public class DatasetLoaderTests
{
    private static DatasetOptions Classification(string text = "sentence", string label = "label") => new()
    {
        Columns = new ColumnMapping { Text = text, Label = label },
    };

    [Fact]
    public void MissingColumnListsTheColumnsThatExist()
    {
        var dev = SharedData.File("sst2", "dev.tsv");
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(dev), Classification(text: "sentense"), LabelKind.Class));
        Assert.Equal($"{dev}: column 'sentense': no such column; the file's columns are: sentence, label", e.Message);
        Assert.Equal(("sentense", (long?)null), (e.Column, e.Row));
    }

    [Fact]
    public void WrongFieldCountStopsWithFileLineAndCounts()
    {
        using var dir = new TempFolder();
        var file = dir.Write("train.tsv", "sentence\tlabel\na fine film\t1\nbad\tfilm\t0\n");
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(file), Classification(), LabelKind.Class));
        Assert.Equal($"{file}:3: expected 2 fields (sentence, label), found 3", e.Message);
    }

    [Fact]
    public void UnknownLabelInDevNamesFileRowAndKnownLabels()
    {
        using var dir = new TempFolder();
        var train = dir.Write("train.csv", "sentence,label\ngreat,pos\nawful,neg\nnice,pos\n");
        var dev = dir.Write("dev.csv", "sentence,label\nok,pos\nmeh,neg\nhmm,neutral\n");
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(train, dev), Classification(), LabelKind.Class));
        Assert.Equal($"{dev}:4: column 'label': unknown label 'neutral'; the training data's labels are: neg, pos", e.Message);
        Assert.Equal((dev, 4L, "label"), (e.FilePath, e.Row!.Value, e.Column));
    }

    [Fact]
    public void UnknownLabelAgainstAGivenLabelMapSaysSo()
    {
        using var dir = new TempFolder();
        var test = dir.Write("test.csv", "sentence,label\nok,pos\nhmm,neutral\n");
        var options = Classification() with { Labels = LabelMap.FromOrdered(["neg", "pos"]) };
        var e = Assert.Throws<DataException>(() => DatasetLoader.ReadExamples(test, options, LabelKind.Class, labels: null));
        Assert.Equal($"{test}:3: column 'label': unknown label 'neutral'; the known labels are: neg, pos", e.Message);
    }

    [Theory]
    [InlineData("NaN", "'NaN' is not a finite number")]
    [InlineData("Infinity", "'Infinity' is not a finite number")]
    [InlineData("1e40", "'1e40' is not a finite number")]
    [InlineData("high", "'high' is not a number")]
    [InlineData("", "empty value; a regression target must be a number")]
    [InlineData("3,5", "'3,5' is not a number")]
    public void BadRegressionTargetNamesFileRowAndColumn(string value, string reason)
    {
        using var dir = new TempFolder();
        var file = dir.Write("train.tsv", $"s1\ts2\tscore\na\tb\t4.5\nc\td\t{value}\n");
        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "s1", TextPair = "s2", Label = "score" },
        };
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(file), options, LabelKind.Number));
        Assert.Equal($"{file}:3: column 'score': {reason}", e.Message);
    }

    [Fact]
    public void RegressionParsesInvariantCulture()
    {
        using var dir = new TempFolder();
        var file = dir.Write("train.csv", "text,score\na,4.5\nb, -1.25e0 \nc,3\n");
        var options = new DatasetOptions { Columns = new ColumnMapping { Text = "text", Label = "score" } };
        var data = DatasetLoader.Load(new DatasetFiles(file), options, LabelKind.Number);
        Assert.Equal([4.5f, -1.25f, 3f], data.Train.Select(e => ((RegressionTarget)e.Label!).Value));
    }

    [Fact]
    public void BadJsonLineStopsWithItsLineNumber()
    {
        using var dir = new TempFolder();
        var file = dir.Write("train.jsonl", "{\"text\": \"good\", \"label\": \"pos\"}\n{\"text\": \"bad\" \"label\": \"neg\"}\n");
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(file), Classification(text: "text"), LabelKind.Class));
        Assert.StartsWith($"{file}:2: invalid JSON: ", e.Message);
        Assert.Equal(2L, e.Row);
    }

    [Fact]
    public void JsonLinesKeyMissingOnALaterLine()
    {
        using var dir = new TempFolder();
        var file = dir.Write("train.jsonl", "{\"text\": \"good\", \"label\": \"pos\"}\n{\"text\": \"no label\"}\n");
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(file), Classification(text: "text"), LabelKind.Class));
        Assert.Equal($"{file}:2: column 'label': missing label", e.Message);
    }

    [Fact]
    public void EmptyTextIsAnErrorUnlessAllowed()
    {
        using var dir = new TempFolder();
        var file = dir.Write("train.tsv", "sentence\tpair\tlabel\nfine\tx\t1\n \tx\t0\nok\t\t1\nbad\ty\t0\n");
        var options = Classification() with { Columns = new ColumnMapping { Text = "sentence", TextPair = "pair", Label = "label" } };
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(file), options, LabelKind.Class));
        Assert.Equal($"{file}:3: column 'sentence': empty text (AllowEmptyText accepts it)", e.Message);

        var skipped = DatasetLoader.Load(new DatasetFiles(file), options with { SkipInvalidRows = true }, LabelKind.Class);
        Assert.Equal(
            [$"{file}:3: column 'sentence': empty text (AllowEmptyText accepts it)", $"{file}:4: column 'pair': empty text (AllowEmptyText accepts it)"],
            skipped.Summary.Skipped[0].FirstReasons);

        var allowed = DatasetLoader.Load(new DatasetFiles(file), options with { AllowEmptyText = true }, LabelKind.Class);
        Assert.Equal(4, allowed.Train.Count);
        Assert.Equal("", allowed.Train[2].TextPair);
    }

    [Fact]
    public void SkipInvalidRowsCountsThemAndKeepsTheFirstReasons()
    {
        using var dir = new TempFolder();
        var train = dir.Write("train.tsv",
            "sentence\tlabel\n" +
            "good\t1\n" +
            "broken\trow\t1\n" +   // line 3: 3 fields
            "\t0\n" +              // line 4: empty text
            "bad\t0\n" +
            "x\n" +                // line 6: 1 field
            "also good\t1\n");
        var dev = dir.Write("dev.tsv", "sentence\tlabel\nfine\t1\nodd\t7\n");
        var options = Classification() with { SkipInvalidRows = true, ReportedInvalidRows = 2 };
        var data = DatasetLoader.Load(new DatasetFiles(train, dev), options, LabelKind.Class);

        Assert.Equal([2L, 5L, 7L], data.Train.Select(e => e.SourceRow));
        var trainSkips = data.Summary.Skipped[0];
        Assert.Equal((train, 3), (trainSkips.File, trainSkips.Count));
        Assert.Equal([$"{train}:3: expected 2 fields (sentence, label), found 3", $"{train}:4: column 'sentence': empty text (AllowEmptyText accepts it)"],
            trainSkips.FirstReasons);
        var devSkips = data.Summary.Skipped[1];
        Assert.Equal(1, devSkips.Count);
        Assert.Equal($"{dev}:3: column 'label': unknown label '7'; the training data's labels are: 0, 1", Assert.Single(devSkips.FirstReasons));
        Assert.Single(data.Validation);
        Assert.Equal(4, data.Summary.SkippedCount);
        Assert.Contains("3 invalid rows skipped", data.Summary.Describe());
    }

    [Fact]
    public void LabelsAreTrimmedAndEmptyLabelsAreErrors()
    {
        using var dir = new TempFolder();
        var file = dir.Write("train.csv", "sentence,label\na, pos\nb,neg \nc,\n");
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(file), Classification(), LabelKind.Class));
        Assert.Equal($"{file}:4: column 'label': empty label", e.Message);
        var data = DatasetLoader.Load(new DatasetFiles(file), Classification() with { SkipInvalidRows = true }, LabelKind.Class);
        Assert.Equal(["neg", "pos"], data.Labels!.Labels);
    }

    [Fact]
    public void MultiLabel_DelimitedColumnWithSeparatorOption()
    {
        using var dir = new TempFolder();
        var train = dir.Write("train.tsv", "text\tlabels\nyay\tjoy|love\nugh\tanger\nhm\t\nboth\tlove | joy\n");
        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "text", Label = "labels" },
            LabelSeparator = "|",
        };
        var data = DatasetLoader.Load(new DatasetFiles(train), options, LabelKind.Classes);
        Assert.Equal(["anger", "joy", "love"], data.Labels!.Labels);
        Assert.Equal(new MultiLabelTargets([0, 1, 1]), data.Train[0].Label);
        Assert.Equal(new MultiLabelTargets([1, 0, 0]), data.Train[1].Label);
        Assert.Equal(new MultiLabelTargets([0, 0, 0]), data.Train[2].Label);
        Assert.Equal(new MultiLabelTargets([0, 1, 1]), data.Train[3].Label);
        Assert.Equal(2, data.Summary["train"]!.LabelCounts["joy"]);
    }

    [Fact]
    public void MultiLabel_OneZeroOneColumnPerLabel()
    {
        using var dir = new TempFolder();
        var train = dir.Write("train.csv", "text,toxic,insult,threat\na,1,0,0\nb,0,1,1\nc,0.0,1.0,false\n");
        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "text", LabelColumns = ["toxic", "insult", "threat"] },
        };
        var data = DatasetLoader.Load(new DatasetFiles(train), options, LabelKind.Classes);
        Assert.Equal(["toxic", "insult", "threat"], data.Labels!.Labels);
        Assert.Equal([new MultiLabelTargets([1, 0, 0]), new MultiLabelTargets([0, 1, 1]), new MultiLabelTargets([0, 1, 0])],
            data.Train.Select(e => e.Label));

        var bad = dir.Write("bad.csv", "text,toxic,insult,threat\na,1,0,2\n");
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(bad), options, LabelKind.Classes));
        Assert.Equal($"{bad}:2: column 'threat': '2' is not 0 or 1", e.Message);
    }

    [Fact]
    public void MultiLabel_JsonListsAndUnknownLabelInDev()
    {
        using var dir = new TempFolder();
        var train = dir.Write("train.jsonl", "{\"text\": \"a\", \"labels\": [\"x\", \"y\"]}\n{\"text\": \"b\", \"labels\": [\"z\"]}\n");
        var dev = dir.Write("dev.jsonl", "{\"text\": \"c\", \"labels\": [\"x\"]}\n{\"text\": \"d\", \"labels\": [\"x\", \"w\"]}\n");
        var options = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "text", Label = "labels" },
        };
        var e = Assert.Throws<DataException>(() => DatasetLoader.Load(new DatasetFiles(train, dev), options, LabelKind.Classes));
        Assert.Equal($"{dev}:2: column 'labels': unknown label 'w'; the training data's labels are: x, y, z", e.Message);
    }

    [Fact]
    public async Task Parquet_SingleLabelRegressionAndListColumns()
    {
        using var dir = new TempFolder();
        var file = dir.File("train.parquet");
        await DataFileReaderTests.WriteParquet(file);

        var classification = Classification(text: "text") with { SkipInvalidRows = true };
        var data = DatasetLoader.Load(new DatasetFiles(file), classification, LabelKind.Class);
        Assert.Equal([1L, 2L, 3L], data.Train.Select(e => e.SourceRow));
        Assert.Equal([1, 0, 1], data.Train.Select(e => e.ClassId));
        Assert.Equal($"{file}:4: column 'text': missing text", Assert.Single(data.Summary.Skipped[0].FirstReasons));

        var regression = new DatasetOptions { Columns = new ColumnMapping { Text = "text", Label = "score" }, SkipInvalidRows = true };
        Assert.Equal([4.5f, 1.25f, 3f], DatasetLoader.Load(new DatasetFiles(file), regression, LabelKind.Number).Train.Select(e => ((RegressionTarget)e.Label!).Value));

        var multi = new DatasetOptions { Columns = new ColumnMapping { Text = "text", Label = "tags" }, SkipInvalidRows = true };
        var m = DatasetLoader.Load(new DatasetFiles(file), multi, LabelKind.Classes);
        Assert.Equal(["anger", "joy", "love"], m.Labels!.Labels);
        Assert.Equal(new MultiLabelTargets([0, 1, 1]), m.Train[0].Label);
    }

    [Fact]
    public void UnlabelledPredictionInput()
    {
        using var dir = new TempFolder();
        var file = dir.Write("predict.csv", "id,text\n1,hello\n2,bye\n");
        var options = new DatasetOptions { Columns = new ColumnMapping { Text = "text" } };
        var read = DatasetLoader.ReadExamples(file, options, LabelKind.Class, labels: null);
        Assert.Equal(["hello", "bye"], read.Examples.Select(e => e.Text));
        Assert.All(read.Examples, e => Assert.Null(e.Label));
        Assert.Throws<OptionException>(() => DatasetLoader.Load(new DatasetFiles(file), options, LabelKind.Class));
    }

    [Fact]
    public void MaxTrainExamplesTakesTheFirstRows()
    {
        var options = Classification() with { MaxTrainExamples = 100 };
        var data = DatasetLoader.Load(new DatasetFiles(SharedData.File("sst2", "train.tsv")), options, LabelKind.Class);
        Assert.Equal(100, data.Train.Count);
        Assert.Equal(Enumerable.Range(2, 100).Select(i => (long)i), data.Train.Select(e => e.SourceRow));
        Assert.Equal(["0", "1"], data.Labels!.Labels);
    }

    [Fact]
    public void FractionSplitOfTheTrainingFile()
    {
        var options = Classification() with { ValidationFraction = 0.2, Seed = 3 };
        var dev = SharedData.File("sst2", "dev.tsv");
        var a = DatasetLoader.Load(new DatasetFiles(dev), options, LabelKind.Class);
        var b = DatasetLoader.Load(new DatasetFiles(dev), options, LabelKind.Class);

        Assert.Equal(175, a.Validation.Count); // ceil(872 × 0.2)
        Assert.Equal(697, a.Train.Count);
        Assert.Empty(a.Test);
        Assert.Equal(a.Validation.Select(e => e.SourceRow), b.Validation.Select(e => e.SourceRow));
        Assert.Equal(86, a.Summary["validation"]!.LabelCounts["0"]); // 428 × 175 / 872 = 85.9
        Assert.Equal(89, a.Summary["validation"]!.LabelCounts["1"]); // 444 × 175 / 872 = 89.1
        Assert.True(a.Train.Zip(a.Train.Skip(1)).All(p => p.First.SourceRow < p.Second.SourceRow));

        Assert.Throws<OptionException>(() => DatasetLoader.Load(new DatasetFiles(dev, dev), options, LabelKind.Class));
    }

    [Fact]
    public void OptionsThatContradictEachOtherAreRejected()
    {
        var multiColumns = new DatasetOptions
        {
            Columns = new ColumnMapping { Text = "t", LabelColumns = ["a", "b"] },
        };
        Assert.Throws<OptionException>(() => DatasetLoader.Load(new DatasetFiles("x.csv"), multiColumns, LabelKind.Class));
        var both = multiColumns with { Columns = multiColumns.Columns with { Label = "l" } };
        Assert.Throws<OptionException>(() => DatasetLoader.Load(new DatasetFiles("x.csv"), both, LabelKind.Classes));
    }

    [Fact]
    public void SummaryTruncatedCountsAreFilledLater()
    {
        var data = DatasetLoader.Load(SharedData.File("sst2", "dev.tsv"), null, LabelKind.Class, "sentence", "label");
        Assert.Null(data.Summary["train"]!.Truncated);
        var withTruncation = data.Summary.WithTruncated("train", 3);
        Assert.Equal(3, withTruncation["train"]!.Truncated);
        Assert.Contains("train: 872 examples (0: 428, 1: 444), 3 truncated", withTruncation.Describe());
    }
}
