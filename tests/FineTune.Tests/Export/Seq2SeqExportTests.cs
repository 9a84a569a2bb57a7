using FineTune.Configuration;
using FineTune.Export;
using FineTune.Inference;
using FineTune.Modeling;
using FineTune.Tests.Seq2Seq;
using FineTune.Text;
using static TorchSharp.torch;

namespace FineTune.Tests.Export;

/// <summary>
/// An encoder-decoder's export (encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx) on ONNX Runtime
/// against the TorchSharp model it came from, on tiny configs (hidden 32, 2 layers), with and without shared weights:
/// the logits of every decoding step, with the cache of the first-step graph and then of the with-past graph, and the
/// tokens of greedy decoding and beam search over sources of different lengths.
/// </summary>
[Collection(SeededTestsCollection.Name)]
public class Seq2SeqExportTests
{
    /// <summary>A WordPiece vocabulary of the tiny config's 100 tokens.</summary>
    private static WordPieceTokenizer Tokenizer() =>
        WordPieceTokenizer.FromVocab(new StringReader(string.Join("\n",
            new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }.Concat(Enumerable.Range(0, 95).Select(i => $"w{i}")))));

    /// <summary>Three sources of 7, 5 and 3 tokens, padded: ids and mask [3, 7], row-major.</summary>
    private static (long[] Ids, long[] Mask) Sources()
    {
        int[] lengths = [7, 5, 3];
        var ids = new long[3 * 7];
        var mask = new long[3 * 7];
        var random = new Random(11);
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < lengths[r]; j++)
            {
                ids[r * 7 + j] = random.Next(5, 100);
                mask[r * 7 + j] = 1;
            }
        return (ids, mask);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void TheGraphsGiveTheModelsLogitsAtEveryStepAndTheSameTokens(bool tie, bool copy)
    {
        using var dir = new TestSupport.TempDir();
        using var model = EncoderDecoderModelTests.Model(tie, copy: copy);
        using (no_grad())
            OnnxExporter.WriteSeq2SeqFolder(dir.Path, model, Tokenizer(), null, "decoder_tokenizer", "translation", null, OnnxExporter.DefaultOpset, quantize: false);
        using var exported = ExportedSeq2Seq.Open(dir.Path, int8: false, threads: 1, "threads");
        Assert.Equal(new SpecialTokens(1, 2, 0), exported.Tokens);
        var (ids, mask) = Sources();

        using (inference_mode())
        {
            using var idsTensor = tensor(ids).view(3, 7);
            using var maskTensor = tensor(mask).view(3, 7);
            using var encoded = model.Encode(new ModelInput(idsTensor, maskTensor));
            using var torchSteps = new ModelDecoderSteps(model, encoded, maskTensor, idsTensor, beams: 1, useCache: true);
            using var onnxSteps = exported.Begin(ids, mask, 3, 7, beams: 1);
            var sequences = Enumerable.Range(0, 3).Select(_ => new List<int> { 1 }).ToList();
            double worst = 0;
            for (int step = 0; step < 8; step++)
            {
                var expected = torchSteps.NextLogits(sequences);                                  // [3, V]
                var actual = onnxSteps.NextLogits(sequences);
                Assert.Equal(expected.Length, actual.Length);
                for (int j = 0; j < expected.Length; j++) worst = Math.Max(worst, Math.Abs(expected[j] - actual[j]));
                int vocab = expected.Length / 3;
                for (int r = 0; r < 3; r++) sequences[r].Add(Decoding.ArgMax(expected.AsSpan(r * vocab, vocab)));
            }
            // fp32 through two runtimes' kernels (different summation orders): a few ulps of logits below 1 (1.2e-7
            // measured); the bound is the encoder exports' (OnnxExportTests), far below the gaps argmax decides on.
            // With the copy layer the logits are log-probabilities of a vocabulary of 100 (near −log 100 = −4.6): a
            // few ulps of 8 are still below 1e-5.
            Assert.True(worst < 1e-4, $"logits differ by {worst}");

            foreach (var settings in new[] { new GenerationSettings(MaxNewTokens: 10), new GenerationSettings(NumBeams: 3, MaxNewTokens: 10), new GenerationSettings(NumBeams: 2, NoRepeatNgramSize: 2, MaxNewTokens: 10, EarlyStopping: false) })
            {
                var torchTokens = SequenceGenerator.Generate(model, idsTensor, maskTensor, settings);
                var onnxTokens = exported.Generate(ids, mask, 3, 7, settings);
                Assert.Equal(torchTokens, onnxTokens);
                Assert.Contains(torchTokens, t => t.Length > 0);
            }
        }
    }

    [Fact]
    public void EveryWeightIsInAGraphAndTheDecoderGraphsHaveOptimumsNames()
    {
        using var model = EncoderDecoderModelTests.Model();
        using var _ = no_grad();
        var encoder = Seq2SeqGraphs.Encoder(model, OnnxExporter.DefaultOpset);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], encoder.Graph.Input.Select(i => i.Name));
        Assert.Equal(["last_hidden_state"], encoder.Graph.Output.Select(o => o.Name));
        var decoder = Seq2SeqGraphs.Decoder(model, withPast: false, OnnxExporter.DefaultOpset);
        Assert.Equal(["input_ids", "encoder_attention_mask", "encoder_hidden_states"], decoder.Graph.Input.Select(i => i.Name));
        var presents = Enumerable.Range(0, 2).SelectMany(i => new[] { $"present.{i}.decoder.key", $"present.{i}.decoder.value", $"present.{i}.encoder.key", $"present.{i}.encoder.value" });
        Assert.Equal(new[] { "logits" }.Concat(presents), decoder.Graph.Output.Select(o => o.Name));
        var withPast = Seq2SeqGraphs.Decoder(model, withPast: true, OnnxExporter.DefaultOpset);
        var pasts = Enumerable.Range(0, 2).SelectMany(i => new[] { $"past_key_values.{i}.decoder.key", $"past_key_values.{i}.decoder.value", $"past_key_values.{i}.encoder.key", $"past_key_values.{i}.encoder.value" });
        Assert.Equal(new[] { "input_ids", "encoder_attention_mask" }.Concat(pasts), withPast.Graph.Input.Select(i => i.Name));
        Assert.Equal(new[] { "logits" }.Concat(presents.Where(p => p.Contains(".decoder."))), withPast.Graph.Output.Select(o => o.Name));
        // The LM head reads the decoder's word embeddings (tied): one table in the graph, no copy.
        Assert.Single(decoder.Graph.Initializer, t => t.Name == "decoder.bert.embeddings.word_embeddings.weight");

        // A model that copies from its source: both decoder graphs also take the source's ids and the encoder's states.
        using var copying = EncoderDecoderModelTests.Model(tie: true, copy: true);
        var copyDecoder = Seq2SeqGraphs.Decoder(copying, withPast: false, OnnxExporter.DefaultOpset);
        Assert.Equal(["input_ids", "encoder_attention_mask", "encoder_hidden_states", "encoder_input_ids"], copyDecoder.Graph.Input.Select(i => i.Name));
        Assert.Equal(new[] { "logits" }.Concat(presents), copyDecoder.Graph.Output.Select(o => o.Name));
        var copyWithPast = Seq2SeqGraphs.Decoder(copying, withPast: true, OnnxExporter.DefaultOpset);
        Assert.Equal(new[] { "input_ids", "encoder_attention_mask", "encoder_hidden_states", "encoder_input_ids" }.Concat(pasts), copyWithPast.Graph.Input.Select(i => i.Name));
        Assert.Contains(copyWithPast.Graph.Initializer, t => t.Name == "copy.gate.weight");
    }
}
