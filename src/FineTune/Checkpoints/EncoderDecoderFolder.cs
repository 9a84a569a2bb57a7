using FineTune.Modeling;
using static TorchSharp.torch;

namespace FineTune.Checkpoints;

/// <summary>
/// Encoder-decoder models and their folders: warm-started from pretrained encoder folders (the decoder's
/// cross-attention and LM-head transform new, as Hugging Face's from_encoder_decoder_pretrained does), and a saved
/// EncoderDecoderModel folder (config.json with the encoder's and decoder's configs, model.safetensors) loaded back.
/// </summary>
internal static class EncoderDecoderFolder
{
    /// <summary>Whether a folder's config.json is an encoder-decoder's.</summary>
    public static bool Holds(string folder)
    {
        var path = Path.Combine(folder, "config.json");
        return File.Exists(path) && EncoderDecoderConfig.Describes(File.ReadAllText(path));
    }

    /// <summary>The config of a saved encoder-decoder folder, read and validated.</summary>
    public static EncoderDecoderConfig LoadConfig(string folder)
    {
        var path = Path.Combine(folder, "config.json");
        return EncoderDecoderConfig.Parse(EncoderConfig.ReadText(path), path);
    }

    /// <summary>
    /// A new encoder-decoder of <paramref name="config"/> with the weights of <paramref name="encoderFolder"/> in its encoder
    /// and those of <paramref name="decoderFolder"/> in its decoder (with shared weights: the decoder's folder for both,
    /// as Hugging Face ties the encoder to the decoder); <paramref name="fromScratch"/> loads none (every weight as
    /// Hugging Face initialises it). Reports what was loaded and what is new.
    /// </summary>
    public static (EncoderDecoderModel Model, LoadReport Report) WarmStart(string encoderFolder, string decoderFolder, EncoderDecoderConfig config,
        KernelOptions kernels, ModelLoadOptions load, bool fromScratch)
    {
        var model = new EncoderDecoderModel(config, kernels);
        try
        {
            if (fromScratch)
                return (model, new LoadReport("no checkpoint: every weight initialised at random (initializer_range " +
                    $"{config.Decoder.InitializerRange})", 0, [], [], []));
            var reports = new List<(string Prefix, LoadReport Report)>();
            if (!config.TieEncoderDecoder)
                reports.Add(("encoder.", LoadInto(model.Encoder, encoderFolder, load, null)));
            var decoderReport = LoadInto(model.Decoder.Bert, decoderFolder, load, k => k.Contains(".crossattention.", StringComparison.Ordinal));
            reports.Add(("decoder.bert.", decoderReport));
            var (headLoaded, headNew) = LoadLmHead(model, decoderFolder, load);
            var copyNew = model.Copy is null ? [] : model.Copy.named_parameters().Select(p => CopyLayer.Prefix + p.name);
            var report = new LoadReport(
                config.TieEncoderDecoder ? $"{decoderReport.Source} (encoder and decoder share its weights)"
                    : reports[0].Report.Source == decoderReport.Source ? $"{decoderReport.Source} (into the encoder and into the decoder)"
                    : $"{reports[0].Report.Source} (encoder) and {decoderReport.Source} (decoder)",
                reports.Sum(r => r.Report.LoadedCount) + headLoaded,
                reports.SelectMany(r => r.Report.NewlyInitialized.Select(k => r.Prefix + k)).Concat(headNew).Concat(copyNew).ToList(),
                reports.SelectMany(r => r.Report.Unused).Distinct().Where(k => !headLoadedKeys.Contains(k)).ToList(),
                []);
            return (model, report);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    // The checkpoint keys of BERT's MLM head that a decoder's LM head takes (the output projection is tied to the embeddings).
    private static readonly HashSet<string> headLoadedKeys =
    [
        "cls.predictions.bias", "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
    ];

    private static LoadReport LoadInto(TransformerEncoder target, string folder, ModelLoadOptions load, Func<string, bool>? isNew)
    {
        var checkpoint = WeightFiles.Load(folder, load.AllowPickle);
        try
        {
            return WeightLoader.Load(target, checkpoint, SourceName(folder, load), isNew: isNew);
        }
        finally
        {
            foreach (var t in checkpoint.Values) t.Dispose();
        }
    }

    /// <summary>BERT's MLM head transform and bias when the decoder's checkpoint has them (a pre-training checkpoint); new otherwise.</summary>
    private static (int Loaded, List<string> New) LoadLmHead(EncoderDecoderModel model, string folder, ModelLoadOptions load)
    {
        var checkpoint = WeightFiles.Load(folder, load.AllowPickle);
        try
        {
            var state = model.state_dict();
            int loaded = 0;
            var fresh = new List<string>();
            using var _ = no_grad();
            foreach (var key in headLoadedKeys.Order(StringComparer.Ordinal))
            {
                var target = state["decoder." + key];
                var found = checkpoint.GetValueOrDefault(key) ?? checkpoint.GetValueOrDefault(key.Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta"));
                if (found is null || !found.shape.SequenceEqual(target.shape))
                {
                    fresh.Add("decoder." + key);
                    continue;
                }
                target.copy_(found.to(target.dtype));
                loaded++;
            }
            return (loaded, fresh);
        }
        finally
        {
            foreach (var t in checkpoint.Values) t.Dispose();
        }
    }

    /// <summary>
    /// A saved encoder-decoder folder's model (in training mode, on the CPU). Its weights must be the model's, key for
    /// key; the copies Hugging Face may also save are allowed and ignored: the encoder's pooler, the LM head's tied
    /// projection, and with shared weights the encoder's.
    /// </summary>
    public static EncoderDecoderModel Load(string folder, KernelOptions kernels, ModelLoadOptions load)
    {
        var config = LoadConfig(folder);
        var model = new EncoderDecoderModel(config, kernels);
        var checkpoint = WeightFiles.Load(folder, load.AllowPickle);
        try
        {
            var source = SourceName(folder, load);
            var state = model.state_dict();
            bool Ignored(string key) => key.StartsWith("encoder.pooler.", StringComparison.Ordinal)
                || key.StartsWith("decoder.cls.predictions.decoder.", StringComparison.Ordinal)
                || key.EndsWith("position_ids", StringComparison.Ordinal)
                || (config.TieEncoderDecoder && key.StartsWith("encoder.", StringComparison.Ordinal));
            var missing = state.Keys.Where(k => !checkpoint.ContainsKey(k)).ToList();
            var unexpected = checkpoint.Keys.Where(k => !state.ContainsKey(k) && !Ignored(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new ModelLoadException("the weights do not fit the encoder-decoder of config.json" +
                    (missing.Count > 0 ? $"; missing ({missing.Count}): {string.Join(", ", missing.Take(10))}" : "") +
                    (unexpected.Count > 0 ? $"; not part of the model ({unexpected.Count}): {string.Join(", ", unexpected.Take(10))}" : ""),
                    source, missing.Concat(unexpected).First());
            using var _ = no_grad();
            foreach (var (key, target) in state)
            {
                var value = checkpoint[key];
                if (!value.shape.SequenceEqual(target.shape))
                    throw new ModelLoadException($"is [{string.Join(", ", value.shape)}] but the model needs [{string.Join(", ", target.shape)}]", source, key);
                target.copy_(value.to(target.dtype));
            }
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in checkpoint.Values) t.Dispose();
        }
    }

    /// <summary>
    /// A saved encoder-decoder folder's model to fine-tune further, with its load report: every weight from the folder, none new.
    /// </summary>
    public static (EncoderDecoderModel Model, LoadReport Report) LoadTrained(string folder, KernelOptions kernels, ModelLoadOptions load)
    {
        var model = Load(folder, kernels, load);
        var source = SourceName(folder, load);
        return (model, new LoadReport($"{source} (a trained encoder-decoder{(model.Seq2SeqConfig.TieEncoderDecoder ? " whose encoder and decoder share their weights" : "")})",
            model.state_dict().Count, [], [], []));
    }

    private static string SourceName(string folder, ModelLoadOptions options) =>
        WeightFiles.Locate(folder, options.AllowPickle) is [var single] ? single : Path.Combine(folder, WeightFiles.SafeTensorsIndexName);
}
