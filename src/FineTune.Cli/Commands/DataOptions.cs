using System.CommandLine;
using FineTune.Data;

namespace FineTune.Cli.Commands;

/// <summary>The options that say how to read a data file and which columns hold what; shared by train, evaluate and predict.</summary>
internal sealed class DataOptions
{
    public Option<string?> Format { get; } = new Option<string?>("--format") { Description = "csv, tsv, jsonl or parquet (default: from the file extension)." }
        .OneOf("auto", "csv", "tsv", "jsonl", "json", "ndjson", "parquet");
    public Option<string?> Encoding { get; } = new Option<string?>("--encoding") { Description = "The text files' encoding: utf-8 (default; bytes that are not UTF-8 are an error), latin-1, windows-1252 or utf-16." }
        .OneOf(EncodingNames);
    public Option<bool> ReplaceInvalidUtf8 { get; } = new("--replace-invalid-utf8") { Description = "Read bytes that are not UTF-8 as U+FFFD (the lines are counted and reported) instead of stopping." };
    public Option<string?> Columns { get; } = new("--columns") { Description = "Comma-separated column names for files without a header row (e.g. label,text)." };
    public Option<bool?> Quoting { get; } = new("--quoting") { Description = "Honour \"quoted\" fields: on for CSV, off for TSV unless given (GLUE TSVs have stray quotes)." };
    public Option<string> TextColumn { get; } = new Option<string>("--text-column") { Description = "The column with the text.", DefaultValueFactory = _ => "text" }.NotEmpty();
    public Option<string?> TextPairColumn { get; } = new Option<string?>("--text-pair-column") { Description = "A second text column: the model sees the pair (sentence-pair tasks: paraphrase, NLI, similarity)." }.NotEmpty();
    public Option<string> LabelColumn { get; } = new Option<string>("--label-column") { Description = "The column with the label (classification), labels (multi-label) or number (regression).", DefaultValueFactory = _ => "label" }.NotEmpty();
    public Option<string?> LabelColumns { get; } = new("--label-columns") { Description = "Multi-label: comma-separated 0/1 columns, one per label (instead of --label-column)." };
    public Option<string> LabelSeparator { get; } = new("--label-separator") { Description = "Multi-label: separator of the labels in --label-column.", DefaultValueFactory = _ => "," };
    public Option<bool> SkipInvalidRows { get; } = new("--skip-invalid-rows") { Description = "Skip rows that cannot be used (reporting how many and the first reasons) instead of stopping at the first." };
    public Option<bool> AllowEmptyText { get; } = new("--allow-empty-text") { Description = "Accept empty texts instead of reporting them as invalid rows." };
    public Option<string?> SliceColumn { get; } = new("--slice-column") { Description = "Report the held-out metrics per value of this column (or per token-length bucket with 'length'), the worst slice named: metrics.json's slices and the report." };

    public IEnumerable<Option> All => [Format, Columns, Quoting, Encoding, ReplaceInvalidUtf8, TextColumn, TextPairColumn, LabelColumn, LabelColumns, LabelSeparator, SkipInvalidRows, AllowEmptyText, SliceColumn];

    private static readonly string[] EncodingNames = ["utf-8", "utf8", "latin-1", "latin1", "iso-8859-1", "windows-1252", "cp1252", "utf-16"];

    public DataOptions() => FlagNames.Register(
        ("ColumnMapping.Text", TextColumn.Name), ("ColumnMapping.TextPair", TextPairColumn.Name), ("ColumnMapping.Label", LabelColumn.Name),
        ("ColumnMapping.LabelColumns", LabelColumns.Name), ("DatasetOptions.LabelSeparator", LabelSeparator.Name),
        ("DatasetOptions.SkipInvalidRows", SkipInvalidRows.Name), ("DatasetOptions.AllowEmptyText", AllowEmptyText.Name),
        ("DataFileOptions.Encoding", Encoding.Name), ("DataFileOptions.ReplaceInvalidUtf8", ReplaceInvalidUtf8.Name), ("DataFileOptions.Format", Format.Name),
        ("DataFileOptions.ColumnNames", Columns.Name), ("DatasetOptions.SliceColumn", SliceColumn.Name));

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
            Encoding = ParseEncoding(p.GetValue(Encoding)),
            ReplaceInvalidUtf8 = p.GetValue(ReplaceInvalidUtf8),
        };
    }

    /// <summary>The encoding a name stands for; null for UTF-8 (the library's default, which checks the bytes).</summary>
    public static System.Text.Encoding? ParseEncoding(string? name)
    {
        switch (name?.Replace("-", "").Replace("_", "").ToLowerInvariant())
        {
            case null or "" or "utf8": return null;
            case "latin1" or "iso88591": return System.Text.Encoding.Latin1;
            case "utf16": return System.Text.Encoding.Unicode;
            case "windows1252" or "cp1252":
                System.Text.Encoding.RegisterProvider(System.Text.CodePagesEncodingProvider.Instance);
                return System.Text.Encoding.GetEncoding(1252);
            default: throw new FineTuneException($"--encoding: expected one of {string.Join(", ", EncodingNames)}, got '{name}'");
        }
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
