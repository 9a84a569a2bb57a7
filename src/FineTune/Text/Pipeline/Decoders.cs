using System.Text;
using System.Text.RegularExpressions;

namespace FineTune.Text.Pipeline;

/// <summary>A tokenizer.json decoder: token strings back to text (Hugging Face's decode_chain, then joined).</summary>
internal abstract class Decoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    public string Decode(List<string> tokens) => string.Concat(DecodeChain(tokens));
}

internal sealed class SequenceDecoder(IReadOnlyList<Decoder> decoders) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var d in decoders) tokens = d.DecodeChain(tokens);
        return tokens;
    }
}

/// <summary>ByteLevel: the byte-level characters of all tokens back to bytes, read as UTF-8 (invalid sequences as U+FFFD).</summary>
internal sealed class ByteLevelDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens)
        {
            if (t.All(ByteLevel.IsByteChar))
                foreach (var c in t) bytes.Add((byte)ByteLevel.CharToByte[c]);
            else bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(t));
        }
        return [System.Text.Encoding.UTF8.GetString(bytes.ToArray())];
    }
}

/// <summary>Metaspace: the replacement character becomes a space, except in the first token when a prefix was added.</summary>
internal sealed class MetaspaceDecoder(char replacement, bool prefixAdded) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            var sb = new StringBuilder(tokens[i].Length);
            foreach (var c in tokens[i])
            {
                if (c != replacement) sb.Append(c);
                else if (!(i == 0 && prefixAdded)) sb.Append(' ');
            }
            result.Add(sb.ToString());
        }
        return result;
    }
}

/// <summary>WordPiece: continuation pieces lose their prefix, others get a space before them; optional clean-up of spaces before punctuation.</summary>
internal sealed class WordPieceDecoder(string prefix, bool cleanup) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (i != 0) t = t.StartsWith(prefix, StringComparison.Ordinal) ? t[prefix.Length..] : " " + t;
            if (cleanup) t = CleanUp(t);
            result.Add(t);
        }
        return result;
    }

    public static string CleanUp(string s) => s
        .Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
        .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" do not", " don't").Replace(" 's", "'s")
        .Replace(" 've", "'ve").Replace(" 're", "'re");
}

/// <summary>BPEDecoder: the end-of-word suffix becomes a space (nothing in the last token).</summary>
internal sealed class BpeSuffixDecoder(string suffix) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) =>
        tokens.Select((t, i) => t.Replace(suffix, i == tokens.Count - 1 ? "" : " ")).ToList();
}

/// <summary>Replace: a string or regular expression replaced in every token.</summary>
internal sealed class ReplaceDecoder(string? literal, Regex? regex, string content) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) =>
        tokens.Select(t => literal is not null ? (literal.Length == 0 ? t : t.Replace(literal, content)) : regex!.Replace(t, content)).ToList();
}

/// <summary>ByteFallback: runs of &lt;0xXX&gt; tokens become their UTF-8 text, or one U+FFFD per byte when invalid.</summary>
internal sealed class ByteFallbackDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>();
        var pending = new List<byte>();
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        foreach (var t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out var b))
            {
                pending.Add(b);
                continue;
            }
            Flush();
            result.Add(t);
        }
        Flush();
        return result;

        void Flush()
        {
            if (pending.Count == 0) return;
            try
            {
                result.Add(strict.GetString(pending.ToArray()));
            }
            catch (DecoderFallbackException)
            {
                for (int i = 0; i < pending.Count; i++) result.Add("\uFFFD");
            }
            pending.Clear();
        }
    }
}

/// <summary>Fuse: all tokens in one string.</summary>
internal sealed class FuseDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>Strip: up to <c>start</c> leading and <c>stop</c> trailing occurrences of a character removed from each token.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(t =>
    {
        int s = 0;
        while (s < start && s < t.Length && t[s] == content) s++;
        int e = t.Length;
        for (int i = 0; i < stop && e > s && t[e - 1] == content; i++) e--;
        return t[s..e];
    }).ToList();
}
