using FineTune.Onnx;

// Usage: OnnxClassify EXPORT_FOLDER [--int8] TEXT...   (or texts on standard input, one per line)
// EXPORT_FOLDER is what `finetune export --model RUN/model --output EXPORT_FOLDER [--quantize int8]` wrote.
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: OnnxClassify EXPORT_FOLDER [--int8] [TEXT...]  (texts from standard input when none are given)");
    return 2;
}
bool int8 = args.Contains("--int8");
var texts = args.Skip(1).Where(a => a != "--int8").ToList();
if (texts.Count == 0)
    for (string? line; (line = Console.ReadLine()) is not null;)
        if (line.Length > 0) texts.Add(line);

using var classifier = TextClassifier.Load(args[0], new OnnxPredictorOptions { Precision = int8 ? OnnxPrecision.Int8 : OnnxPrecision.Fp32 });
var predictions = classifier.Predict(texts.Select(t => (t, (string?)null)).ToList());
for (int i = 0; i < texts.Count; i++)
{
    var p = predictions[i];
    var answer = p.Label is not null ? $"{p.Label} ({p.Confidence:0.000})"
        : p.Labels is not null ? string.Join(", ", p.Labels)
        : $"{p.Value:0.000}";
    Console.WriteLine($"{answer}\t{texts[i]}");
}
return 0;
