using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Text;

/// <summary>Encodings as JSON: one object per input with its ids, tokens, offsets and word ids (the tokenize command's JSON Lines).</summary>
public static class EncodingJson
{
    /// <summary>
    /// An encoding as a JSON object: <c>input_ids</c>, <c>type_ids</c>, <c>tokens</c>, <c>offsets</c> ([start, end]
    /// UTF-16 indices into the input, [0, 0] for special tokens), <c>sequence_ids</c> and <c>word_ids</c> (null for
    /// special tokens); <c>row</c> first when given.
    /// </summary>
    public static JsonObject ToJson(Encoding encoding, long? row = null)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        var json = new JsonObject();
        if (row is long r) json["row"] = r;
        json["input_ids"] = new JsonArray(encoding.Ids.Select(i => (JsonNode)i).ToArray());
        json["type_ids"] = new JsonArray(encoding.TypeIds.Select(i => (JsonNode)i).ToArray());
        json["tokens"] = new JsonArray(encoding.Tokens.Select(t => (JsonNode)t).ToArray());
        json["offsets"] = new JsonArray(encoding.Offsets.Select(o => (JsonNode)new JsonArray(o.Start, o.End)).ToArray());
        json["sequence_ids"] = new JsonArray(encoding.SequenceIds.Select(i => i is int v ? (JsonNode)v : null).ToArray());
        json["word_ids"] = new JsonArray(encoding.WordIds.Select(i => i is int v ? (JsonNode)v : null).ToArray());
        return json;
    }

    /// <summary>
    /// Tokenizes every input and writes one JSON object per line to <paramref name="path"/> (through a temporary file,
    /// so a failure leaves nothing half-written). Returns the number of inputs and of tokens written.
    /// </summary>
    public static (int Inputs, long Tokens) WriteJsonl(string path, ITokenizer tokenizer, IEnumerable<(long Row, string Text, string? Pair)> inputs,
        EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(inputs);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        int count = 0;
        long tokens = 0;
        var compact = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        try
        {
            using (var writer = new StreamWriter(tmp, false, new System.Text.UTF8Encoding(false)))
            {
                foreach (var (row, text, pair) in inputs)
                {
                    var encoding = tokenizer.Encode(text, pair, options);
                    writer.WriteLine(ToJson(encoding, row).ToJsonString(compact));
                    count++;
                    tokens += encoding.Length;
                }
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        return (count, tokens);
    }
}
