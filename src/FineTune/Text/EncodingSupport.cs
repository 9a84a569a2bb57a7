using System.Collections.Concurrent;

namespace FineTune.Text;

/// <summary>What every tokenizer does the same way: batches in parallel, Hugging Face's truncation arithmetic, padded batches.</summary>
internal static class EncodingSupport
{
    /// <summary>ITokenizer.EncodeBatch of texts, for every implementation.</summary>
    public static Encoding[] EncodeBatch(ITokenizer tokenizer, IReadOnlyList<string> texts, EncodeOptions? options, int maxDegreeOfParallelism)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return RunBatch(texts.Count, i => tokenizer.Encode(texts[i], null, options), maxDegreeOfParallelism);
    }

    /// <summary>ITokenizer.EncodeBatch of text pairs, for every implementation.</summary>
    public static Encoding[] EncodeBatch(ITokenizer tokenizer, IReadOnlyList<(string Text, string? Pair)> inputs, EncodeOptions? options, int maxDegreeOfParallelism)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return RunBatch(inputs.Count, i => tokenizer.Encode(inputs[i].Text, inputs[i].Pair, options), maxDegreeOfParallelism);
    }

    public static Encoding[] RunBatch(int count, Func<int, Encoding> encode, int maxDegreeOfParallelism)
    {
        var results = new Encoding[count];
        if (count < 64 || maxDegreeOfParallelism == 1 || Environment.ProcessorCount == 1)
        {
            for (int i = 0; i < count; i++) results[i] = encode(i);
            return results;
        }
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        Parallel.ForEach(Partitioner.Create(0, count, Math.Max(16, count / (Environment.ProcessorCount * 8))), parallel, range =>
        {
            for (int i = range.Item1; i < range.Item2; i++) results[i] = encode(i);
        });
        return results;
    }

    /// <summary>
    /// Hugging Face's truncate_encodings: how many tokens of each sequence remain within <paramref name="maxLength"/>
    /// (which counts the <paramref name="specialTokens"/> the template adds).
    /// </summary>
    public static (int First, int Second) TruncatedLengths(int length1, int? length2, int maxLength, TruncationStrategy strategy, int specialTokens)
    {
        int n1 = length1, n2 = length2 ?? 0;
        int budget = maxLength - specialTokens;
        if (budget < 0)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"must leave room for the {specialTokens} special tokens");
        if (budget == 0) return (0, 0);
        int total = n1 + n2;
        if (total <= budget) return (n1, n2);
        int toRemove = total - budget;
        switch (strategy)
        {
            case TruncationStrategy.LongestFirst when length2 is null:
                return (budget, 0);
            case TruncationStrategy.LongestFirst:
            {
                int a = n1, b = n2;
                bool swap = a > b;
                if (swap) (a, b) = (b, a);
                b = a > budget ? a : Math.Max(a, budget - a);
                if (a + b > budget)
                {
                    a = budget / 2;
                    b = a + budget % 2;
                }
                if (swap) (a, b) = (b, a);
                return (Math.Min(n1, a), Math.Min(n2, b));
            }
            case TruncationStrategy.OnlyFirst:
                if (n1 <= toRemove)
                    throw new ArgumentException($"cannot truncate the first sequence ({n1} tokens) by {toRemove} tokens to fit {maxLength}; use {nameof(TruncationStrategy.LongestFirst)}");
                return (n1 - toRemove, n2);
            case TruncationStrategy.OnlySecond:
                if (length2 is null)
                    throw new ArgumentException($"{nameof(TruncationStrategy.OnlySecond)} truncation needs a second sequence");
                if (n2 <= toRemove)
                    throw new ArgumentException($"cannot truncate the second sequence ({n2} tokens) by {toRemove} tokens to fit {maxLength}; use {nameof(TruncationStrategy.LongestFirst)}");
                return (n1, n2 - toRemove);
            default:
                return (n1, n2);
        }
    }

    /// <summary>The ids, type ids and attention masks of a batch, padded to the longest (or to <paramref name="length"/>), rounded up to a multiple of <paramref name="multipleOf"/>, as flat [batch, length] arrays.</summary>
    public static TokenBatch ToBatch(IReadOnlyList<Encoding> encodings, int? length, int? multipleOf, int paddingTokenId)
    {
        int target = PaddedLength(encodings, length, multipleOf);
        int b = encodings.Count;
        var ids = new long[b * target];
        var types = new long[b * target];
        var mask = new long[b * target];
        for (int row = 0; row < b; row++)
        {
            var e = encodings[row];
            if (e.Length > target)
                throw new ArgumentException($"encoding {row} has {e.Length} tokens, more than the padded length {target}", nameof(encodings));
            int o = row * target;
            for (int i = 0; i < e.Length; i++)
            {
                ids[o + i] = e.Ids[i];
                types[o + i] = e.TypeIds[i];
                mask[o + i] = e.AttentionMask[i];
            }
            ids.AsSpan(o + e.Length, target - e.Length).Fill(paddingTokenId);
        }
        return new TokenBatch(b, target, ids, types, mask);
    }

    public static int PaddedLength(IReadOnlyList<Encoding> encodings, int? length, int? multipleOf)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        int target = length ?? (encodings.Count == 0 ? 0 : encodings.Max(e => e.Length));
        if (multipleOf is int m and > 0 && target % m != 0) target += m - target % m;
        return target;
    }

    /// <summary>
    /// Hugging Face's question-answering windows (<c>truncation="only_second", return_overflowing_tokens=True</c>): the
    /// question with successive windows of the context, each of at most <paramref name="maxLength"/> tokens with the
    /// <paramref name="specialTokens"/>, consecutive ones sharing <paramref name="stride"/> context tokens.
    /// <paramref name="build"/> makes the encoding of a window from its first context token and count.
    /// </summary>
    public static IReadOnlyList<Encoding> Windows(int questionTokens, int contextTokens, int maxLength, int stride, int specialTokens,
        Func<int, int, Encoding> build)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(stride);
        int budget = maxLength - specialTokens;
        if (budget < 0)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"must leave room for the {specialTokens} special tokens");
        if (questionTokens + contextTokens <= budget) return [build(0, contextTokens)];
        int window = budget - questionTokens;
        if (window <= 0)
            throw new ArgumentException($"the question has {questionTokens} tokens, which leaves no room for the context within {maxLength} tokens", "question");
        if (stride >= window)
            throw new ArgumentOutOfRangeException(nameof(stride), stride, $"must be less than the {window} context tokens a window holds (max length {maxLength} less the question's {questionTokens} tokens and the special tokens)");
        var windows = new List<Encoding>();
        for (int start = 0; ; start += window - stride)
        {
            int stop = Math.Min(start + window, contextTokens);
            windows.Add(build(start, stop - start));
            if (stop == contextTokens) break;
        }
        return windows;
    }
}
