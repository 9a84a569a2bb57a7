using System.Collections.Concurrent;
using System.Text;

namespace FineTune.Text.Pipeline;

/// <summary>A token the model found in a piece: its id and its UTF-16 range in the piece's normalized text.</summary>
internal readonly record struct PieceToken(int Id, int Start, int End);

/// <summary>A tokenizer.json model: turns one pre-tokenized piece into tokens.</summary>
internal abstract class TokenModel
{
    /// <summary>tokenizer.json's model.type.</summary>
    public abstract string Type { get; }

    /// <summary>The token string of each id (null where the model has none).</summary>
    public abstract string?[] Vocabulary { get; }

    public abstract bool TryGetId(string token, out int id);

    /// <summary>Appends the tokens of <paramref name="piece"/> to <paramref name="output"/>.</summary>
    public abstract void Tokenize(ReadOnlySpan<char> piece, List<PieceToken> output);
}

/// <summary>WordPiece: greedy longest match from the start, continuation pieces with a prefix; the unknown token for a word that cannot be matched or is too long.</summary>
internal sealed class WordPieceModel : TokenModel
{
    private readonly WordPieceVocabulary _vocab;
    private readonly int _unk;
    private readonly int _maxChars;

    public WordPieceModel(string?[] tokens, string unkToken, string prefix, int maxInputCharsPerWord)
    {
        Vocabulary = tokens;
        _vocab = new WordPieceVocabulary(tokens, prefix);
        if (!_vocab.TryGetId(unkToken, out _unk)) throw new FormatException($"the unknown token '{unkToken}' is not in the vocabulary");
        _maxChars = maxInputCharsPerWord;
    }

    public override string Type => "WordPiece";
    public override string?[] Vocabulary { get; }
    public override bool TryGetId(string token, out int id) => _vocab.TryGetId(token, out id);

    public override void Tokenize(ReadOnlySpan<char> chars, List<PieceToken> output)
    {
        if (chars.Length > _maxChars && Utf16.CountCodePoints(chars) > _maxChars)
        {
            output.Add(new PieceToken(_unk, 0, chars.Length));
            return;
        }
        int first = output.Count;
        for (int begin = 0; begin < chars.Length;)
        {
            if (!_vocab.TryLongestMatch(chars, begin, out int id, out int end))
            {
                output.RemoveRange(first, output.Count - first);
                output.Add(new PieceToken(_unk, 0, chars.Length));
                return;
            }
            output.Add(new PieceToken(id, begin, end));
            begin = end;
        }
    }
}

/// <summary>
/// BPE as Hugging Face runs it: the characters of a piece (with an optional continuing-subword prefix and end-of-word
/// suffix), unknown ones as bytes (byte_fallback) or the unknown token (fused when fuse_unk), then the merges applied
/// lowest rank first, leftmost first among equal ranks. Results are cached per piece.
/// </summary>
internal sealed class BpeModel : TokenModel
{
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly int? _unk;
    private readonly string? _prefix, _suffix;
    private readonly bool _fuseUnk, _byteFallback, _ignoreMerges;
    private readonly int[] _byteIds = new int[256];
    private readonly ConcurrentDictionary<string, PieceToken[]> _cache = new(StringComparer.Ordinal);
    private const int CacheLimit = 100_000, MaxCachedLength = 256;

    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string? unkToken, string? continuingSubwordPrefix,
        string? endOfWordSuffix, bool fuseUnk, bool byteFallback, bool ignoreMerges)
    {
        _ids = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _lookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        int size = vocab.Count == 0 ? 0 : vocab.Values.Max() + 1;
        Vocabulary = new string?[size];
        foreach (var (token, id) in vocab) Vocabulary[id] = token;
        _prefix = string.IsNullOrEmpty(continuingSubwordPrefix) ? null : continuingSubwordPrefix;
        _suffix = string.IsNullOrEmpty(endOfWordSuffix) ? null : endOfWordSuffix;
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        int prefixLength = _prefix?.Length ?? 0;
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (a, b) = merges[rank];
            if (!_ids.TryGetValue(a, out var ia)) throw new FormatException($"merge {rank} ('{a} {b}'): '{a}' is not in the vocabulary");
            if (!_ids.TryGetValue(b, out var ib)) throw new FormatException($"merge {rank} ('{a} {b}'): '{b}' is not in the vocabulary");
            var merged = a + (b.Length >= prefixLength ? b[prefixLength..] : "");
            if (!_ids.TryGetValue(merged, out var id)) throw new FormatException($"merge {rank} ('{a} {b}'): '{merged}' is not in the vocabulary");
            _merges.TryAdd(Key(ia, ib), (rank, id));
        }
        if (unkToken is not null)
        {
            if (!_ids.TryGetValue(unkToken, out var unk)) throw new FormatException($"the unknown token '{unkToken}' is not in the vocabulary");
            _unk = unk;
        }
        _fuseUnk = fuseUnk;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        for (int b = 0; b < 256; b++) _byteIds[b] = _ids.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    public override string Type => "BPE";
    public override string?[] Vocabulary { get; }
    public override bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    public override void Tokenize(ReadOnlySpan<char> piece, List<PieceToken> output)
    {
        if (piece.IsEmpty) return;
        if (_ignoreMerges && _lookup.TryGetValue(piece, out var whole))
        {
            output.Add(new PieceToken(whole, 0, piece.Length));
            return;
        }
        bool cacheable = piece.Length <= MaxCachedLength;
        string? key = null;
        if (cacheable)
        {
            key = piece.ToString();
            if (_cache.TryGetValue(key, out var cached))
            {
                output.AddRange(cached);
                return;
            }
        }
        int first = output.Count;
        MergeWord(piece, output);
        if (cacheable && _cache.Count < CacheLimit)
            _cache.TryAdd(key!, output.GetRange(first, output.Count - first).ToArray());
    }

    private struct Symbol
    {
        public int Id, Start, End, Prev, Next;
        public bool Removed;
    }

    [ThreadStatic] private static Symbol[]? t_symbols;
    [ThreadStatic] private static PriorityQueue<(int Pos, int NewId), (int Rank, int Pos)>? t_queue;
    [ThreadStatic] private static StringBuilder? t_builder;

    private void MergeWord(ReadOnlySpan<char> w, List<PieceToken> output)
    {
        var symbols = t_symbols ??= new Symbol[64];
        int count = 0;
        int unkStart = -1, unkEnd = -1; // a pending (possibly fused) unknown token
        var sb = t_builder ??= new StringBuilder();
        Span<byte> bytes = stackalloc byte[4];
        for (int i = 0; i < w.Length;)
        {
            int units = char.IsHighSurrogate(w[i]) && i + 1 < w.Length && char.IsLowSurrogate(w[i + 1]) ? 2 : 1;
            bool isFirst = i == 0, isLast = i + units == w.Length;
            var ch = w.Slice(i, units);
            int id;
            bool found;
            if ((!isFirst && _prefix is not null) || (isLast && _suffix is not null))
            {
                sb.Clear();
                if (!isFirst && _prefix is not null) sb.Append(_prefix);
                sb.Append(ch);
                if (isLast && _suffix is not null) sb.Append(_suffix);
                found = _ids.TryGetValue(sb.ToString(), out id);
            }
            else found = _lookup.TryGetValue(ch, out id);
            if (found)
            {
                FlushUnk();
                Add(id, i, i + units);
            }
            else
            {
                bool done = false;
                if (_byteFallback)
                {
                    string s = sb.Length > 0 && ((!isFirst && _prefix is not null) || (isLast && _suffix is not null)) ? sb.ToString() : ch.ToString();
                    var utf8 = System.Text.Encoding.UTF8.GetBytes(s);
                    if (utf8.All(b => _byteIds[b] >= 0))
                    {
                        foreach (var b in utf8) Add(_byteIds[b], i, i + units);
                        done = true;
                    }
                }
                if (!done && _unk is int)
                {
                    if (unkStart >= 0 && _fuseUnk) unkEnd = i + units;
                    else
                    {
                        FlushUnk();
                        unkStart = i;
                        unkEnd = i + units;
                    }
                }
            }
            i += units;
        }
        FlushUnk();

        if (count > 1 && _merges.Count > 0)
        {
            var queue = t_queue ??= new PriorityQueue<(int, int), (int, int)>(Comparer<(int Rank, int Pos)>.Create((x, y) => x.Rank != y.Rank ? x.Rank.CompareTo(y.Rank) : x.Pos.CompareTo(y.Pos)));
            queue.Clear();
            for (int k = 0; k + 1 < count; k++)
                if (_merges.TryGetValue(Key(symbols[k].Id, symbols[k + 1].Id), out var m))
                    queue.Enqueue((k, m.NewId), (m.Rank, k));
            while (queue.TryDequeue(out var top, out _))
            {
                ref var left = ref symbols[top.Pos];
                if (left.Removed || left.Next < 0) continue;
                int nextPos = left.Next;
                ref var right = ref symbols[nextPos];
                if (!_merges.TryGetValue(Key(left.Id, right.Id), out var current) || current.NewId != top.NewId) continue;
                left.Id = top.NewId;
                left.End = right.End;
                left.Next = right.Next;
                right.Removed = true;
                if (left.Next >= 0) symbols[left.Next].Prev = top.Pos;
                if (left.Prev >= 0 && _merges.TryGetValue(Key(symbols[left.Prev].Id, left.Id), out var before))
                    queue.Enqueue((left.Prev, before.NewId), (before.Rank, left.Prev));
                if (left.Next >= 0 && _merges.TryGetValue(Key(left.Id, symbols[left.Next].Id), out var after))
                    queue.Enqueue((top.Pos, after.NewId), (after.Rank, top.Pos));
            }
        }
        for (int k = 0; k < count; k++)
            if (!symbols[k].Removed) output.Add(new PieceToken(symbols[k].Id, symbols[k].Start, symbols[k].End));

        void FlushUnk()
        {
            if (unkStart < 0) return;
            Add(_unk!.Value, unkStart, unkEnd);
            unkStart = -1;
        }

        void Add(int id, int start, int end)
        {
            if (count == symbols.Length)
            {
                Array.Resize(ref symbols, count * 2);
                t_symbols = symbols;
            }
            symbols[count] = new Symbol { Id = id, Start = start, End = end, Prev = count - 1, Next = -1 };
            if (count > 0) symbols[count - 1].Next = count;
            count++;
        }
    }
}

/// <summary>
/// Unigram: the segmentation of highest total score (Viterbi over every vocabulary piece that starts at each
/// character; a character no piece covers is the unknown token with the lowest score less 10), consecutive unknown
/// characters fused into one unknown token, or bytes with byte_fallback.
/// </summary>
internal sealed class UnigramModel : TokenModel
{
    private readonly string[] _pieces;
    private readonly double[] _scores;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<long, int> _trie = new(); // (node << 16 | char) -> child node
    private readonly List<int> _nodeIds = [-1];            // node -> piece id, or -1
    private readonly int? _unk;
    private readonly double _unkScore;
    private readonly bool _byteFallback;
    private readonly int[] _byteIds = new int[256];

    public UnigramModel(IReadOnlyList<(string Piece, double Score)> vocab, int? unkId, bool byteFallback)
    {
        _pieces = new string[vocab.Count];
        _scores = new double[vocab.Count];
        _ids = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        double min = double.PositiveInfinity;
        for (int id = 0; id < vocab.Count; id++)
        {
            var (piece, score) = vocab[id];
            _pieces[id] = piece;
            _scores[id] = score;
            _ids[piece] = id;
            if (score < min) min = score;
            Insert(piece, id);
        }
        if (unkId is int u && (u < 0 || u >= vocab.Count)) throw new FormatException($"unk_id {u} is outside the vocabulary");
        _unk = unkId;
        _unkScore = min - 10.0;
        _byteFallback = byteFallback;
        for (int b = 0; b < 256; b++) _byteIds[b] = _ids.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
    }

    private void Insert(string piece, int id)
    {
        int node = 0;
        foreach (var c in piece)
        {
            long key = ((long)node << 16) | c;
            if (!_trie.TryGetValue(key, out var child))
            {
                child = _nodeIds.Count;
                _nodeIds.Add(-1);
                _trie[key] = child;
            }
            node = child;
        }
        // a piece repeated in the vocabulary maps to its last id, as Hugging Face's token_to_ids does
        _nodeIds[node] = _ids[piece];
    }

    public override string Type => "Unigram";
    public override string?[] Vocabulary => _pieces;
    public override bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    [ThreadStatic] private static double[]? t_best;
    [ThreadStatic] private static int[]? t_from, t_ids;

    public override void Tokenize(ReadOnlySpan<char> s, List<PieceToken> output)
    {
        int n = s.Length;
        if (n == 0) return;
        var best = t_best is { } b && b.Length > n ? b : t_best = new double[Math.Max(n + 1, 64)];
        var from = t_from is { } f && f.Length > n ? f : t_from = new int[Math.Max(n + 1, 64)];
        var ids = t_ids is { } d && d.Length > n ? d : t_ids = new int[Math.Max(n + 1, 64)];
        for (int i = 0; i <= n; i++)
        {
            best[i] = 0;
            from[i] = -1;
        }
        for (int start = 0; start < n;)
        {
            double here = best[start];
            int charLength = char.IsHighSurrogate(s[start]) && start + 1 < n && char.IsLowSurrogate(s[start + 1]) ? 2 : 1;
            bool single = false;
            int node = 0;
            for (int k = start; k < n; k++)
            {
                if (!_trie.TryGetValue(((long)node << 16) | s[k], out node)) break;
                int id = _nodeIds[node];
                if (id < 0) continue;
                int end = k + 1;
                if (end < n && char.IsLowSurrogate(s[end]) && char.IsHighSurrogate(s[k])) continue; // never inside a character
                double candidate = _scores[id] + here;
                if (from[end] < 0 || candidate > best[end])
                {
                    best[end] = candidate;
                    from[end] = start;
                    ids[end] = id;
                }
                if (end - start == charLength) single = true;
            }
            if (!single)
            {
                int end = start + charLength;
                double candidate = _unkScore + here;
                if (from[end] < 0 || candidate > best[end])
                {
                    best[end] = candidate;
                    from[end] = start;
                    ids[end] = _unk ?? throw new InvalidOperationException("the Unigram model has no unknown token (unk_id) for a character no piece covers");
                }
            }
            start += charLength;
        }
        // back from the end: pieces in reverse order, consecutive unknown characters fused
        int first = output.Count;
        int endAt = n;
        int unkEnd = -1;
        while (endAt > 0)
        {
            int startAt = from[endAt];
            int id = ids[endAt];
            if (_unk is int u && id == u)
            {
                if (unkEnd < 0) unkEnd = endAt;
            }
            else
            {
                if (unkEnd >= 0)
                {
                    output.Add(new PieceToken(u2(), endAt, unkEnd));
                    unkEnd = -1;
                }
                output.Add(new PieceToken(id, startAt, endAt));
            }
            endAt = startAt;
        }
        if (unkEnd >= 0) output.Add(new PieceToken(u2(), 0, unkEnd));
        output.Reverse(first, output.Count - first);
        if (_unk is not null) ResolveUnknown(s, output, first);

        int u2() => _unk!.Value;
    }

    /// <summary>
    /// The text of each unknown token is looked up again (a fused run may be a piece); with byte_fallback, one that is
    /// not becomes its UTF-8 bytes when all are in the vocabulary (each with the token's range).
    /// </summary>
    private void ResolveUnknown(ReadOnlySpan<char> s, List<PieceToken> output, int first)
    {
        for (int i = first; i < output.Count; i++)
        {
            var t = output[i];
            if (t.Id != _unk) continue;
            var text = s[t.Start..t.End];
            if (_ids.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(text, out var id))
            {
                output[i] = t with { Id = id };
                continue;
            }
            if (!_byteFallback) continue;
            var utf8 = System.Text.Encoding.UTF8.GetBytes(text.ToString());
            if (!utf8.All(b => _byteIds[b] >= 0)) continue;
            output.RemoveAt(i);
            output.InsertRange(i, utf8.Select(b => new PieceToken(_byteIds[b], t.Start, t.End)));
            i += utf8.Length - 1;
        }
    }
}
