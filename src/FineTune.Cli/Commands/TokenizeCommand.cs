using System.CommandLine;
using System.Globalization;
using FineTune.Data;
using FineTune.Text;

namespace FineTune.Cli.Commands;

/// <summary>`finetune tokenize`: every input of a file through a model folder's tokenizer, as JSON Lines.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var model = new Option<string>("--model", "-m") { Description = "A model folder (config.json and the tokenizer files are enough) or a catalog name.", Required = true };
        var input = new Option<string>("--input", "-i") { Description = "Texts: CSV, TSV, JSONL, Parquet, or .txt with one text per line.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "The .jsonl file to write: one object per input with input_ids, type_ids, tokens, offsets, sequence_ids, word_ids.", Required = true };
        var maxLength = new Option<int?>("--max-length") { Description = "Cut each input to this many tokens, special tokens included (default: no cut)." };
        var noSpecial = new Option<bool>("--no-special-tokens") { Description = "Leave out the template's special tokens (<s> … </s>, [CLS] … [SEP])." };
        FlagNames.Register("TokenizeRequest.Output", "--output");
        var command = new Command("tokenize", """
            Tokenize texts as the model's tokenizer does (ids, tokens, offsets into the text, word ids), without loading the model.
            Example: finetune tokenize --model runs/xlmr/model --input sentences.txt --output tokens.jsonl
            """) { model, input, output, maxLength, noSpecial };
        foreach (var o in new Option[] { data.Format, data.Columns, data.Quoting, data.TextColumn, data.TextPairColumn }) command.Options.Add(o);
        FlagNames.Register(("EncodeOptions.MaxLength", "--max-length"));
        command.SetAction(p =>
        {
            var mapping = data.Mapping(p);
            var result = FineTuner.Tokenize(new TokenizeRequest
            {
                Model = p.GetValue(model)!,
                Input = p.GetValue(input)!,
                Output = p.GetValue(output)!,
                Columns = new ColumnMapping { Text = mapping.Text, TextPair = mapping.TextPair },
                File = data.FileOptions(p),
                Encode = new EncodeOptions { MaxLength = p.GetValue(maxLength), AddSpecialTokens = !p.GetValue(noSpecial) },
            });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Wrote {result.Inputs} encodings ({result.Tokens} tokens, {result.TokenizerModel} tokenizer) to {result.Output}"));
            return 0;
        });
        return command;
    }
}
