#:project ../../src/FineTune/FineTune.csproj
// Writes a small Parquet file (columns text, label) from a CSV with those columns, for tools/robustness/cases.sh.
// Usage: dotnet run write-parquet.cs -- <input.csv> <output.parquet>
using Parquet.Schema;

var lines = File.ReadAllLines(args[0]).Skip(1).Select(l => l.Split(',', 2)).ToArray();
var label = new DataField<string>("label");
var text = new DataField<string>("text");
await using (var stream = File.Create(args[1]))
await using (var writer = await Parquet.ParquetWriter.CreateAsync(new ParquetSchema(label, text), stream))
using (var group = writer.CreateRowGroup())
{
    await group.WriteAsync(label, lines.Select(l => l[0]).ToArray());
    await group.WriteAsync(text, lines.Select(l => l[1]).ToArray());
}
Console.WriteLine($"{args[1]}: {lines.Length} rows");
