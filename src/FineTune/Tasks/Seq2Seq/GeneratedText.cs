using System.Text.RegularExpressions;
using FineTune.Text;

namespace FineTune.Tasks;

/// <summary>
/// Generated token ids as text. A BERT-family tokenizer splits every punctuation mark off its word, so its decoded
/// text has spaces where the training targets had none ("a man ' s t - shirt ( red )"); the text is joined back as
/// written English has it ("a man's t-shirt (red)"): an apostrophe before s, t, re, ve, m, ll or d and a hyphen between
/// two words or numbers are joined to both sides, closing brackets and colons, semicolons and percent signs to the
/// word before, opening brackets and currency signs to the word after, and a pair of double quotes to what they
/// enclose. BLEU and chrF compare this text with the references as written.
/// </summary>
internal static partial class GeneratedText
{
    [GeneratedRegex(@"(\w) ' (s|t|re|ve|m|ll|d)\b")] private static partial Regex Contraction();
    [GeneratedRegex(@"(\w) - (?=\w)")] private static partial Regex Hyphen();
    [GeneratedRegex(@" ([)\]}:;%])")] private static partial Regex Closing();
    [GeneratedRegex(@"([(\[{$£€]) ")] private static partial Regex Opening();
    [GeneratedRegex("\" ([^\"]*?) \"")] private static partial Regex Quoted();

    public static string Decode(ITokenizer tokenizer, IEnumerable<int> ids) => Join(tokenizer.Decode(ids, skipSpecialTokens: true));

    public static string Join(string text)
    {
        text = Contraction().Replace(text, "$1'$2");
        text = Hyphen().Replace(text, "$1-");
        text = Closing().Replace(text, "$1");
        text = Opening().Replace(text, "$1");
        text = Quoted().Replace(text, "\"$1\"");
        return text.Trim();
    }
}
