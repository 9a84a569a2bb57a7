using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace FineTune.Evaluation;

/// <summary>
/// SQuAD v1.1's official answer comparison: <see cref="NormalizeAnswer"/>, exact match and token F1 of one
/// prediction against one reference, and the maximum over several references.
/// </summary>
internal static partial class SquadScoring
{
    private const string AsciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    [GeneratedRegex(@"\b(a|an|the)\b", RegexOptions.CultureInvariant)]
    private static partial Regex Articles();

    /// <summary>
    /// Lower-cases, removes ASCII punctuation, replaces the words a, an and the by a space and collapses whitespace,
    /// in that order, as the official script does.
    /// </summary>
    public static string NormalizeAnswer(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lowered = text.ToLowerInvariant();
        var withoutPunctuation = new StringBuilder(lowered.Length);
        foreach (var c in lowered)
            if (AsciiPunctuation.IndexOf(c) < 0) withoutPunctuation.Append(c);
        var withoutArticles = Articles().Replace(withoutPunctuation.ToString(), " ");
        return string.Join(' ', SplitWhitespace(withoutArticles));
    }

    /// <summary>Whether the normalised prediction equals the normalised reference.</summary>
    public static bool ExactMatch(string prediction, string reference) =>
        string.Equals(NormalizeAnswer(prediction), NormalizeAnswer(reference), StringComparison.Ordinal);

    /// <summary>Token F1 between the normalised prediction and reference (0 when they share no token), in [0, 1].</summary>
    public static double F1(string prediction, string reference)
    {
        var predicted = SplitWhitespace(NormalizeAnswer(prediction));
        var gold = SplitWhitespace(NormalizeAnswer(reference));
        var goldCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in gold) goldCounts[token] = goldCounts.GetValueOrDefault(token) + 1;
        var common = 0;
        foreach (var token in predicted)
        {
            if (goldCounts.TryGetValue(token, out var left) && left > 0)
            {
                goldCounts[token] = left - 1;
                common++;
            }
        }
        if (common == 0) return 0;
        var precision = (double)common / predicted.Length;
        var recall = (double)common / gold.Length;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>
    /// Exact match (0 or 1) and F1 of a prediction, each the maximum over the references. With no references (an
    /// unanswerable question) both are 1 when the prediction is empty after normalisation and 0 otherwise, as in
    /// SQuAD v2's script.
    /// </summary>
    public static (double ExactMatch, double F1) Score(string prediction, IReadOnlyList<string> references)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(references);
        if (references.Count == 0)
        {
            var abstained = NormalizeAnswer(prediction).Length == 0 ? 1.0 : 0.0;
            return (abstained, abstained);
        }
        double exact = 0, f1 = 0;
        foreach (var gold in references)
        {
            if (ExactMatch(prediction, gold)) exact = 1;
            f1 = Math.Max(f1, F1(prediction, gold));
        }
        return (exact, f1);
    }

    /// <summary>Splits on whitespace as Python's <c>str.split()</c> does (which also splits on the separators U+001C–U+001F).</summary>
    private static string[] SplitWhitespace(string text)
    {
        var tokens = new List<string>();
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var space = i == text.Length || char.IsWhiteSpace(text[i]) || text[i] is >= '\u001c' and <= '\u001f';
            if (space && start >= 0)
            {
                tokens.Add(text[start..i]);
                start = -1;
            }
            else if (!space && start < 0)
            {
                start = i;
            }
        }
        return tokens.ToArray();
    }
}

/// <summary>
/// SQuAD's exact match and F1, accumulated over questions (and batches), reported on the official script's 0–100
/// scale: the mean over questions of the best score against any reference, × 100. A question without a prediction
/// (<see cref="AddUnanswered"/>) counts 0, as in the official script.
/// </summary>
public sealed class SquadMetrics
{
    private double _exactSum;
    private double _f1Sum;

    public long Questions { get; private set; }

    /// <summary>Exact match, 0–100.</summary>
    public double ExactMatch => Questions == 0 ? 0 : 100.0 * _exactSum / Questions;

    /// <summary>Token F1, 0–100.</summary>
    public double F1 => Questions == 0 ? 0 : 100.0 * _f1Sum / Questions;

    /// <summary>Adds one question: the predicted answer text and the reference answer texts.</summary>
    public void Add(string prediction, IReadOnlyList<string> references)
    {
        var (exact, f1) = SquadScoring.Score(prediction, references);
        _exactSum += exact;
        _f1Sum += f1;
        Questions++;
    }

    /// <summary>Adds a question the model gave no prediction for; it scores 0.</summary>
    public void AddUnanswered() => Questions++;

    /// <summary>The values for metrics.json: <c>exact_match</c> and <c>f1</c>, both 0–100 like the official script.</summary>
    /// <summary>The names <see cref="ToDictionary"/> reports.</summary>
    internal static IReadOnlyList<string> Names => ["exact_match", "f1"];

    public IReadOnlyDictionary<string, double> ToDictionary() => new Dictionary<string, double>(StringComparer.Ordinal)
    {
        ["exact_match"] = ExactMatch,
        ["f1"] = F1,
    };

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"exact_match {ExactMatch:F2} f1 {F1:F2} ({Questions} questions)");
}
