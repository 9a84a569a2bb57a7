using System.CommandLine;
using FineTune.Data;

namespace FineTune.Cli.Commands;

/// <summary>The options that say how to read a data file and which columns hold what; shared by train, evaluate and predict.</summary>
internal sealed class DataOptions
{
    public Option<string?> Format { get; } = new("--format") { Description = "csv, tsv, jsonl or parquet (default: from the file extension)." };
    public Option<string?> Columns { get; } = new("--columns") { Description = "Comma-separated column names for files without a header row (e.g. label,text)." };
    public Option<bool?> Quoting { get; } = new("--quoting") { Description = "Honour \"quoted\" fields: on for CSV, off for TSV unless given (GLUE TSVs have stray quotes)." };
    public Option<string> TextColumn { get; } = new("--text-column") { Description = "The column with the text.", DefaultValueFactory = _ => "text" };
    public Option<string?> TextPairColumn { get; } = new("--text-pair-column") { Description = "A second text column: the model sees the pair (sentence-pair tasks: paraphrase, NLI, similarity)." };
    public Option<string> LabelColumn { get; } = new("--label-column") { Description = "The column with the label (classification), labels (multi-label) or number (regression).", DefaultValueFactory = _ => "label" };
    public Option<string?> LabelColumns { get; } = new("--label-columns") { Description = "Multi-label: comma-separated 0/1 columns, one per label (instead of --label-column)." };
    public Option<string> LabelSeparator { get; } = new("--label-separator") { Description = "Multi-label: separator of the labels in --label-column.", DefaultValueFactory = _ => "," };
    public Option<bool> SkipInvalidRows { get; } = new("--skip-invalid-rows") { Description = "Skip rows that cannot be used (reporting how many and the first reasons) instead of stopping at the first." };
    public Option<bool> AllowEmptyText { get; } = new("--allow-empty-text") { Description = "Accept empty texts instead of reporting them as invalid rows." };
    public Option<string?> SliceColumn { get; } = new("--slice-column") { Description = "Report the held-out metrics per value of this column (or per token-length bucket with 'length'), the worst slice named: metrics.json's slices and the report." };

    public IEnumerable<Option> All => [Format, Columns, Quoting, TextColumn, TextPairColumn, LabelColumn, LabelColumns, LabelSeparator, SkipInvalidRows, AllowEmptyText, SliceColumn];

    public DataOptions() => FlagNames.Register(
        ("ColumnMapping.Text", TextColumn.Name), ("ColumnMapping.TextPair", TextPairColumn.Name), ("ColumnMapping.Label", LabelColumn.Name),
        ("ColumnMapping.LabelColumns", LabelColumns.Name), ("DatasetOptions.LabelSeparator", LabelSeparator.Name),
        ("DatasetOptions.SkipInvalidRows", SkipInvalidRows.Name), ("DatasetOptions.AllowEmptyText", AllowEmptyText.Name),
        ("DatasetOptions.SliceColumn", SliceColumn.Name));

    /// <summary>How the file is read and which columns hold what, as the library takes it.</summary>
    public DatasetOptions Dataset(ParseResult p) => new()
    {
        Columns = Mapping(p),
        DataFile = FileOptions(p),
        LabelSeparator = p.GetValue(LabelSeparator)!,
        AllowEmptyText = p.GetValue(AllowEmptyText),
        SkipInvalidRows = p.GetValue(SkipInvalidRows),
        SliceColumn = p.GetValue(SliceColumn),
    };

    public DataFileOptions FileOptions(ParseResult p)
    {
        var names = p.GetValue(Columns)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return new DataFileOptions
        {
            Format = ParseFormat(p.GetValue(Format)),
            HasHeader = names is null,
            ColumnNames = names,
            Quoting = p.GetValue(Quoting),
        };
    }

    public ColumnMapping Mapping(ParseResult p)
    {
        var labelColumns = p.GetValue(LabelColumns)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return new ColumnMapping
        {
            Text = p.GetValue(TextColumn)!,
            TextPair = p.GetValue(TextPairColumn),
            Label = labelColumns is null ? p.GetValue(LabelColumn) : null,
            LabelColumns = labelColumns,
        };
    }

    public static DataFormat ParseFormat(string? value) => value?.ToLowerInvariant() switch
    {
        null or "" or "auto" => DataFormat.Auto,
        "csv" => DataFormat.Csv,
        "tsv" => DataFormat.Tsv,
        "jsonl" or "json" or "ndjson" => DataFormat.JsonLines,
        "parquet" => DataFormat.Parquet,
        _ => throw new FineTuneException($"--format: expected csv, tsv, jsonl or parquet, got '{value}'"),
    };
}
