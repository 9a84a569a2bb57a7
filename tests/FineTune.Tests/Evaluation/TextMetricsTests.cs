using FineTune.Evaluation;

namespace FineTune.Tests.Evaluation;

/// <summary>
/// BLEU and chrF against sacreBLEU's own published test cases (its test/test_bleu.py and test/test_chrf.py as of 2.x:
/// inputs, settings and expected scores), ROUGE against rouge-score's (google-research rouge/rouge_scorer_test.py, whose
/// expected values were taken from ROUGE-1.5.5). The tolerances are the reference tests' own.
/// </summary>
public class TextMetricsTests
{
    // sacreBLEU's README example: three hypotheses, two reference streams.
    private static readonly string[] Hypotheses = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
    private static readonly string[][] ReferenceStreams =
    [
        ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
    ];

    private static double Bleu(IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<string>> streams, CorpusBleu bleu)
    {
        for (int i = 0; i < hypotheses.Count; i++) bleu.Add(hypotheses[i], streams.Select(s => s[i]).ToArray());
        return bleu.Compute().Score;
    }

    [Theory]
    [InlineData(true, false, 48.530827)]     // default: 13a, exp smoothing
    [InlineData(false, false, 49.1919566)]   // tokenize='none'
    [InlineData(true, true, 48.530827)]      // smooth_method='none'
    public void CorpusBleuMatchesSacreBleusReadmeExample(bool tokenize, bool noSmoothing, double expected)
    {
        var smoothing = noSmoothing ? BleuSmoothing.None : BleuSmoothing.Exp;
        Assert.Equal(expected, Bleu(Hypotheses, ReferenceStreams, new CorpusBleu(tokenize: tokenize, smoothing: smoothing)), 1e-6);
    }

    [Fact]
    public void EmptyHypothesesScoreZeroAndAreNotDropped()
    {
        var bleu = new CorpusBleu();
        Assert.Equal(0.0, Bleu(["", "", ""], ReferenceStreams, bleu));
        Assert.Equal(3, bleu.Count);
    }

    // raw_corpus_bleu: no tokenization, floor smoothing, effective order.
    private static CorpusBleu Raw(double floor) => new(tokenize: false, smoothing: BleuSmoothing.Floor, smoothValue: floor, effectiveOrder: true);

    [Theory]
    [InlineData(new[] { "this is a test", "another test" }, new[] { "ref1", "ref2" }, 0.0)]   // no match at all: 0 (sacreBLEU #141)
    [InlineData(new[] { "this is a test" }, new[] { "this is a test" }, 1.0)]
    [InlineData(new[] { "this is a fest" }, new[] { "this is a test" }, 0.223606797749979)]
    [InlineData(new[] { "test" }, new[] { "a test" }, 0.3678794411714425)]
    [InlineData(new[] { "a test" }, new[] { "a test" }, 1.0)]
    [InlineData(new[] { "a little test" }, new[] { "a test" }, 0.03218297948685433)]
    public void RawCorpusBleuMatchesSacreBleu(string[] hypotheses, string[] references, double expected)
    {
        Assert.Equal(expected, Bleu(hypotheses, [references], Raw(0.01)) / 100, 1e-8);
    }

    [Fact]
    public void StatisticsAndFloorOffsetMatchSacreBleu()
    {
        var raw = Raw(0.01);
        raw.Add("am I am a character sequence", ["I am a symbol string sequence a a"]);
        var score = raw.Compute();
        Assert.Equal([4L, 2, 1, 0], score.Counts);
        Assert.Equal([6L, 5, 4, 3], score.Totals);
        Assert.Equal(0.0, Bleu(["am I am a character sequence"], [["I am a symbol string sequence a a"]], Raw(0.0)) / 100, 1e-8);
        Assert.Equal(0.1555722182, Bleu(["am I am a character sequence"], [["I am a symbol string sequence a a"]], Raw(0.1)) / 100, 1e-8);
    }

    [Fact]
    public void ScoreFromStatisticsMatchesSacreBleu()
    {
        Assert.Equal(0.8375922397, CorpusBleu.FromStatistics([9, 7, 5, 3], [10, 8, 6, 4], 11, 11, BleuSmoothing.None).Score / 100, 1e-8);
        // Degenerate statistics (floor smoothing).
        Assert.Equal(0.0, CorpusBleu.FromStatistics([0, 0, 0, 0], [4, 4, 2, 1], 0, 1, BleuSmoothing.Floor, 0).Score);
        Assert.Equal(0.0, CorpusBleu.FromStatistics([0, 0, 0, 0], [0, 0, 0, 0], 0, 0, BleuSmoothing.Floor, 0.1).Score);
        Assert.Equal(0.0, CorpusBleu.FromStatistics([6, 5, 4, 0], [6, 5, 4, 3], 6, 6, BleuSmoothing.Floor, 0).Score);
    }

    [Theory]
    [InlineData("Hello, world.", "Hello , world .")]
    [InlineData("It costs $3.50 (or 3,000 cents).", "It costs $ 3.50 ( or 3,000 cents ) .")]
    [InlineData("1990-2000 &amp; a co-op", "1990 - 2000 & a co-op")]
    [InlineData("  a\tb  ", "a b")]
    public void Tokenizer13aSplitsAsMtevalDoes(string text, string expected) => Assert.Equal(expected, Tokenizer13a.Tokenize(text));

    private static double Chrf(string[] hypotheses, string[] references, CorpusChrf chrf)
    {
        for (int i = 0; i < hypotheses.Length; i++) chrf.Add(hypotheses[i], [references[i]]);
        return chrf.Compute();
    }

    [Theory]
    [InlineData(new[] { "abcdefg" }, new[] { "hijklmnop" }, 0.0)]
    [InlineData(new[] { "a" }, new[] { "b" }, 0.0)]
    [InlineData(new[] { "" }, new[] { "b" }, 0.0)]
    [InlineData(new[] { "" }, new[] { "reference" }, 0.0)]
    [InlineData(new[] { "aa" }, new[] { "ab" }, 8.3333)]
    [InlineData(new[] { "a", "b" }, new[] { "a", "c" }, 8.3333)]
    [InlineData(new[] { "a" }, new[] { "a" }, 16.6667)]
    [InlineData(new[] { "a b c" }, new[] { "a b c" }, 50.0)]
    [InlineData(new[] { "a b c" }, new[] { "abc" }, 50.0)]
    [InlineData(new[] { " risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ." },
        new[] { "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ." }, 63.361730)]
    [InlineData(new[] { " Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. " },
        new[] { "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich." }, 64.1302698)]
    [InlineData(new[] { "Niemand hat die Absicht, eine Mauer zu errichten" }, new[] { "Niemand hat die Absicht, eine Mauer zu errichten" }, 100.0)]
    public void ChrfWithEpsilonSmoothingMatchesSacreBleu(string[] hypotheses, string[] references, double expected)
    {
        Assert.Equal(expected, Chrf(hypotheses, references, new CorpusChrf(beta: 3, epsSmoothing: true)), 1e-4);
    }

    [Theory]
    [InlineData(new[] { "a" }, new[] { "a" }, 100.0)]
    [InlineData(new[] { "" }, new[] { "reference" }, 0.0)]
    [InlineData(new[] { "a b c" }, new[] { "a b c" }, 100.0)]
    [InlineData(new[] { "a b c" }, new[] { "abc" }, 100.0)]
    [InlineData(new[] { "" }, new[] { "c" }, 0.0)]
    [InlineData(new[] { "a", "b" }, new[] { "a", "c" }, 50.0)]
    [InlineData(new[] { "aa" }, new[] { "ab" }, 25.0)]
    public void ChrfWithEffectiveOrderMatchesSacreBleu(string[] hypotheses, string[] references, double expected)
    {
        Assert.Equal(expected, Chrf(hypotheses, references, new CorpusChrf(beta: 3)), 1e-4);
    }

    [Theory]
    [InlineData("Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.",
        "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.", 67.3481606)]
    [InlineData("risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
        "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .", 65.2414427)]
    public void ChrfKeepingWhitespaceMatchesSacreBleu(string hypothesis, string reference, double expected)
    {
        Assert.Equal(expected, Chrf([hypothesis], [reference], new CorpusChrf(beta: 3, whitespace: true)), 1e-4);
    }

    [Theory]
    [InlineData("Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
        "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.", 39.14078509)]
    [InlineData("Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
        "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.", 31.22557079)]
    [InlineData("Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
        "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.", 57.15704367)]
    public void SentenceChrfMatchesSacreBleu(string hypothesis, string reference, double expected)
    {
        Assert.Equal(expected, Chrf([hypothesis], [reference], new CorpusChrf(epsSmoothing: true)), 1e-4);
    }

    [Fact]
    public void ChrfTakesTheBestReferencePerSentence()
    {
        var one = new CorpusChrf();
        one.Add("the cat sat", ["a dog ran"]);
        var two = new CorpusChrf();
        two.Add("the cat sat", ["a dog ran", "the cat sat"]);
        Assert.True(one.Compute() < 20);
        Assert.Equal(100.0, two.Compute(), 1e-9);
    }

    // rouge-score's test cases.
    [Fact]
    public void RougeNAndLMatchRougeScoresCases()
    {
        var scorer = new RougeScorer();
        AssertScore(scorer.RougeN("testing one two", "testing", 1), 1, 1.0 / 3, 1.0 / 2);
        AssertScore(scorer.RougeN("testing one two", "testing one", 2), 1, 1.0 / 2, 2.0 / 3);
        AssertScore(scorer.RougeL("testing one two", "testing one"), 1, 2.0 / 3, 4.0 / 5);
        AssertScore(scorer.RougeL("testing one two", "testing two"), 1, 2.0 / 3, 4.0 / 5);
        foreach (var empty in new[] { scorer.RougeN("testing one two", "", 1), scorer.RougeN("testing one two", "", 2), scorer.RougeL("testing one two", ""), scorer.RougeLsum("testing one two", "") })
            AssertScore(empty, 0, 0, 0);
    }

    [Fact]
    public void LcsTableAndUnionMatchRougeScore()
    {
        string[] reference = ["1", "2", "3", "4", "5"];
        Assert.Equal(3, RougeScorer.LcsTable(reference, ["2", "5", "3", "4"])[5, 4]);
        Assert.Equal([1, 2, 3], RougeScorer.LcsIndices(reference, ["2", "5", "3", "4"]));
        Assert.Empty(RougeScorer.LcsIndices(reference, ["8", "9"]));
        // Summary-level LCS (section 3.2 of Lin 2004): hits 4 of 5 reference tokens, 10 candidate tokens.
        var scorer = new RougeScorer();
        AssertScore(scorer.RougeLsum("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5"), 0.4, 0.8, 0.5333, 3);
        AssertScore(scorer.RougeLsum("", "w1"), 0, 0, 0);
        AssertScore(scorer.RougeLsum("w1 w2 w3 w4 w5", "/"), 0, 0, 0);
    }

    // rouge-score's testdata (target.txt, prediction.txt and pyrouge_files/*_multi.0.txt: random letter strings), whose
    // expected values come from ROUGE-1.5.5.
    private const string Target0 = "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L";
    private const string Target1 = "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN";
    private const string Prediction0 = "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi";
    private const string Prediction1 = "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD";
    private const string TargetMulti = Target0 + "\n" + Target1 + "\nNhETebUbBk'er WOvoHMTjSRizKgH'vHiing Xu,hWxfs VkNE QhgKiLHE -HidivzoM.dO anhtion jbLQiSGDTCsuhREebUaKM dv J dVN tmbOT\n" +
        "vMR HDm,xOAetion D,tion HJtodT.mHl UIv-p VjWH'BdyWjnfGU-OjT aEMdFICyLWfQMtion wEMfdOKing AwkeKbO 'DxqNOHBH qKtVvm OYJl mM\n";
    private const string PredictionMulti = Prediction0 + "\n" + Prediction1 + "\nxfs VkJE QhgKiLHE -HidivzoM.dO anhing jbLQiSGDTCsuhREebUaKM dv J\n" +
        "VjWH'BdyWjnfGU-OjTNaEMdFICyLWfQMing wEMfdOKijg AwkeKbO 'DxqNO\n";

    [Fact]
    public void RougeMatchesRouge155OnRougeScoresTestData()
    {
        var plain = new RougeScorer();
        var stemmed = new RougeScorer(useStemmer: true);
        AssertScore(plain.RougeN(Target0, Prediction0, 1), 0.68750, 0.40741, 0.51163, 5);
        AssertScore(plain.RougeN(Target1, Prediction1, 1), 0.65385, 0.40476, 0.50000, 5);
        AssertScore(stemmed.RougeN(Target0, Prediction0, 1), 0.68750, 0.40741, 0.51163, 5);
        AssertScore(stemmed.RougeN(Target1, Prediction1, 1), 0.69231, 0.42857, 0.52941, 5);
        AssertScore(plain.RougeN(Target0, Prediction0, 2), 0.53333, 0.30769, 0.39024, 5);
        AssertScore(plain.RougeN(Target1, Prediction1, 2), 0.48000, 0.29268, 0.36364, 5);
        AssertScore(stemmed.RougeN(Target1, Prediction1, 2), 0.48000, 0.29268, 0.36364, 5);
        AssertScore(plain.RougeL(Target0, Prediction0), 0.68750, 0.40741, 0.51163, 5);
        AssertScore(plain.RougeL(Target1, Prediction1), 0.65385, 0.40476, 0.50000, 5);
        AssertScore(stemmed.RougeLsum(TargetMulti, PredictionMulti), 0.66667, 0.36538, 0.47205, 5);
    }

    [Theory]
    [InlineData("caresses", "caress")]
    [InlineData("ponies", "poni")]
    [InlineData("ties", "tie")]        // NLTK: -ies of four letters
    [InlineData("cats", "cat")]
    [InlineData("agreed", "agre")]
    [InlineData("plastered", "plaster")]
    [InlineData("motoring", "motor")]
    [InlineData("hopping", "hop")]
    [InlineData("filing", "file")]
    [InlineData("happy", "happi")]
    [InlineData("enjoy", "enjoy")]     // NLTK: y -> i only after a consonant
    [InlineData("relational", "relat")]
    [InlineData("conditional", "condit")]
    [InlineData("generalization", "gener")]
    [InlineData("dying", "die")]       // NLTK's irregular forms
    [InlineData("news", "news")]
    [InlineData("controlling", "control")]
    public void PorterStemmerStemsAsNltk(string word, string expected) => Assert.Equal(expected, PorterStemmer.Stem(word));

    private static void AssertScore(RougeScore score, double precision, double recall, double fmeasure, int places = 9)
    {
        Assert.Equal(precision, score.Precision, places);
        Assert.Equal(recall, score.Recall, places);
        Assert.Equal(fmeasure, score.FMeasure, places);
    }
}
