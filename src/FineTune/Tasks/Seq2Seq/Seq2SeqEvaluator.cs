using FineTune.Data;
using FineTune.Evaluation;
using FineTune.Modeling;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tasks;

/// <summary>Which metrics of generated text a task reports.</summary>
internal enum Seq2SeqMetricSet
{
    /// <summary>BLEU and chrF (sacreBLEU's defaults, case-sensitive), and both lowercased (bleu_lc, chrf_lc).</summary>
    Translation,
    /// <summary>ROUGE-1, ROUGE-2 and ROUGE-Lsum F-measures (rouge-score).</summary>
    Summarization,
}

/// <summary>The metrics of a set's generated texts, the texts (in example order) and their lengths in tokens.</summary>
internal sealed record Seq2SeqEvaluation(IReadOnlyDictionary<string, double> Metrics, IReadOnlyList<string> Outputs, IReadOnlyList<int> Lengths);

/// <summary>Generation over features in batches of similar length, and the metrics of what it generated.</summary>
internal static class Seq2SeqGeneration
{
    /// <summary>
    /// The generated ids of every feature's source (in feature order), batches longest first, the model in evaluation
    /// mode (its mode restored), in inference mode and in <paramref name="precision"/>.
    /// </summary>
    public static int[][] Run(EncoderDecoderModel model, IReadOnlyList<Seq2SeqFeature> features, GenerationSettings settings, int batchSize, int padId,
        Device device, Func<IDisposable?>? precision)
    {
        var outputs = new int[features.Count][];
        var order = ModelBatches.LongestFirst(features, f => f.Length);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = inference_mode();
            for (int start = 0; start < order.Length; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var indices = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
                var input = InputPadding.Collate(indices.Select(i => (Feature)features[i]).ToList(), padId, device);
                List<int[]> generated;
                using (precision?.Invoke())
                    generated = SequenceGenerator.Generate(model, input.InputIds, input.AttentionMask, settings);
                for (int i = 0; i < indices.Length; i++) outputs[indices[i]] = generated[i];
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return outputs;
    }

    /// <summary>The metrics of <paramref name="outputs"/> against <paramref name="references"/> (0–100 for BLEU and chrF, 0–1 for ROUGE).</summary>
    public static Dictionary<string, double> Score(Seq2SeqMetricSet set, IReadOnlyList<string> references, IReadOnlyList<string> outputs, bool useStemmer)
    {
        var metrics = new Dictionary<string, double>();
        if (set == Seq2SeqMetricSet.Translation)
        {
            var bleu = new CorpusBleu();
            var bleuLower = new CorpusBleu(lowercase: true);
            var chrf = new CorpusChrf();
            var chrfLower = new CorpusChrf(lowercase: true);
            for (int i = 0; i < outputs.Count; i++)
            {
                string[] refs = [references[i]];
                bleu.Add(outputs[i], refs);
                bleuLower.Add(outputs[i], refs);
                chrf.Add(outputs[i], refs);
                chrfLower.Add(outputs[i], refs);
            }
            metrics[Seq2SeqMetricNames.Bleu] = bleu.Compute().Score;
            metrics[Seq2SeqMetricNames.Chrf] = chrf.Compute();
            metrics[Seq2SeqMetricNames.BleuLowercase] = bleuLower.Compute().Score;
            metrics[Seq2SeqMetricNames.ChrfLowercase] = chrfLower.Compute();
        }
        else
        {
            var rouge = new CorpusRouge(useStemmer);
            for (int i = 0; i < outputs.Count; i++) rouge.Add(references[i], outputs[i]);
            var (r1, r2, rl) = rouge.Compute();
            metrics[Seq2SeqMetricNames.Rouge1] = r1;
            metrics[Seq2SeqMetricNames.Rouge2] = r2;
            metrics[Seq2SeqMetricNames.RougeLsum] = rl;
        }
        return metrics;
    }

    /// <summary>How well one output matches its reference, 0–1, for picking the report's worst examples: sentence chrF, or ROUGE-1 F.</summary>
    public static double SentenceScore(Seq2SeqMetricSet set, string reference, string output, bool useStemmer)
    {
        if (set == Seq2SeqMetricSet.Summarization) return new RougeScorer(useStemmer).RougeN(reference, output, 1).FMeasure;
        var chrf = new CorpusChrf();
        chrf.Add(output, [reference]);
        return chrf.Compute() / 100;
    }
}

/// <summary>The names of the metrics of generated text in metrics.json.</summary>
internal static class Seq2SeqMetricNames
{
    public const string Bleu = "bleu";
    public const string Chrf = "chrf";
    public const string BleuLowercase = "bleu_lc";
    public const string ChrfLowercase = "chrf_lc";
    public const string Rouge1 = "rouge1";
    public const string Rouge2 = "rouge2";
    public const string RougeLsum = "rougeLsum";
    /// <summary>The mean number of generated tokens (end-of-sequence excluded).</summary>
    public const string GenerationLength = "gen_len";

    /// <summary>Every name an evaluation with <paramref name="set"/> reports.</summary>
    public static IReadOnlyList<string> For(Seq2SeqMetricSet set) =>
    [
        .. set == Seq2SeqMetricSet.Translation ? new[] { Bleu, Chrf, BleuLowercase, ChrfLowercase } : [Rouge1, Rouge2, RougeLsum],
        GenerationLength, MetricNames.Loss,
    ];
}

/// <summary>
/// Evaluation of a sequence-to-sequence model on pairs: the teacher-forced loss of the targets, then generation from
/// each source and the metrics of the generated texts against the targets, as the trainer's validation set too (the
/// best model is the one whose generated text scores best).
/// </summary>
internal sealed class Seq2SeqEvaluator(ITokenizer decoderTokenizer, GenerationSettings generation, Seq2SeqMetricSet metricSet, bool useStemmer,
    int batchSize, int padId, Func<IDisposable?>? precision)
{
    public IValidationSet AsValidation(IReadOnlyList<Seq2SeqFeature> features, IReadOnlyList<TextPair> pairs) =>
        new ValidationSet<Seq2SeqFeature>(features, Seq2SeqMetricNames.For(metricSet), (m, f, d) => Run(m, f, pairs, d).Metrics);

    public Seq2SeqEvaluation Run(TaskModel model, IReadOnlyList<Seq2SeqFeature> features, IReadOnlyList<TextPair> pairs, Device device)
    {
        var encoderDecoder = (EncoderDecoderModel)model;
        var loss = new LossTotal();
        var order = ModelBatches.LongestFirst(features, f => f.Length);
        ModelBatches.Evaluate(model, features, order, batchSize, (batch, d) => Seq2SeqFeatures.Collate(batch, padId, d), device, precision,
            (_, _, output) => loss.Add(output));
        var ids = Seq2SeqGeneration.Run(encoderDecoder, features, generation, batchSize, padId, device, precision);
        var outputs = ids.Select(o => GeneratedText.Decode(decoderTokenizer, o)).ToList();
        var references = features.Select(f => pairs[f.ExampleIndex].Target).ToList();
        var metrics = Seq2SeqGeneration.Score(metricSet, references, outputs, useStemmer);
        metrics[Seq2SeqMetricNames.GenerationLength] = ids.Length == 0 ? 0 : ids.Average(o => o.Length);
        loss.WriteTo(metrics);
        return new Seq2SeqEvaluation(metrics, outputs, ids.Select(o => o.Length).ToList());
    }
}
