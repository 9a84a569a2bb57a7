using System.Buffers;
using static FineTune.Text.BertCharTables;

namespace FineTune.Text;

/// <summary>Tokens of one sequence before post-processing: id, original offsets and word index, in parallel arrays.</summary>
internal sealed class TokenList
{
    public int[] Ids = new int[64];
    public int[] Starts = new int[64];
    public int[] Ends = new int[64];
    public int[] Words = new int[64];
    public int Count;

    public void Clear() => Count = 0;

    public void Add(int id, int start, int end, int word)
    {
        if (Count == Ids.Length) Grow();
        Ids[Count] = id;
        Starts[Count] = start;
        Ends[Count] = end;
        Words[Count] = word;
        Count++;
    }

    private void Grow()
    {
        int n = Ids.Length * 2;
        Array.Resize(ref Ids, n);
        Array.Resize(ref Starts, n);
        Array.Resize(ref Ends, n);
        Array.Resize(ref Words, n);
    }
}

/// <summary>
/// Hugging Face's BERT pipeline in one pass over the text: added (special) tokens matched in the original text,
/// BertNormalizer (clean_text, handle_chinese_chars, strip_accents, lowercase), BertPreTokenizer (whitespace and
/// punctuation) and WordPiece, keeping for every normalized character the original range it came from.
/// </summary>
internal sealed class BertPipeline
{
    private enum AsciiClass : byte { Word, Skip, Space, Punctuation }

    private readonly WordPieceVocabulary _vocab;
    private readonly int _unkId;
    private readonly int _maxInputCharsPerWord;
    private readonly bool _cleanText, _chineseChars, _stripAccents, _lowercase;
    private readonly AsciiClass[] _asciiClass = new AsciiClass[128];
    private readonly char[] _asciiChar = new char[128];
    private readonly (string Content, int Id)[] _addedTokens; // longest first
    private readonly SearchValues<char>? _addedFirstChars;

    [ThreadStatic] private static WordBuffer? t_word;

    public BertPipeline(WordPieceVocabulary vocab, int unkId, int maxInputCharsPerWord, bool cleanText, bool handleChineseChars,
        bool stripAccents, bool lowercase, IEnumerable<(string Content, int Id)> addedTokens)
    {
        _vocab = vocab;
        _unkId = unkId;
        _maxInputCharsPerWord = maxInputCharsPerWord;
        _cleanText = cleanText;
        _chineseChars = handleChineseChars;
        _stripAccents = stripAccents;
        _lowercase = lowercase;
        _addedTokens = addedTokens.Where(t => t.Content.Length > 0)
            .OrderByDescending(t => t.Content.Length).ThenBy(t => t.Content, StringComparer.Ordinal).ToArray();
        if (_addedTokens.Length > 0)
            _addedFirstChars = SearchValues.Create(_addedTokens.Select(t => t.Content[0]).Distinct().ToArray());
        for (int c = 0; c < 128; c++)
        {
            var flags = Flags(c);
            char mapped = _lowercase && (flags & CharFlags.Upper) != 0 ? ToLower(c)[0] : (char)c;
            var mappedFlags = Flags(mapped);
            _asciiChar[c] = mapped;
            _asciiClass[c] =
                _cleanText && (flags & CharFlags.Control) != 0 ? AsciiClass.Skip
                : _cleanText && (flags & CharFlags.CleanWhitespace) != 0 ? AsciiClass.Space
                : (mappedFlags & CharFlags.Whitespace) != 0 ? AsciiClass.Space
                : (mappedFlags & CharFlags.Punctuation) != 0 ? AsciiClass.Punctuation
                : AsciiClass.Word;
        }
    }

    /// <summary>
    /// Tokenizes <paramref name="text"/> into <paramref name="output"/> (appending). Words are numbered from 0 in order,
    /// or all get <paramref name="fixedWord"/> when it is not negative (pre-split input).
    /// </summary>
    public void Tokenize(string text, TokenList output, int fixedWord = -1)
    {
        var state = new State(t_word ??= new WordBuffer(), output, fixedWord);
        state.Word.Length = 0;
        int position = 0;
        if (_addedFirstChars is not null)
        {
            while (position < text.Length)
            {
                int candidate = text.AsSpan(position).IndexOfAny(_addedFirstChars);
                if (candidate < 0) break;
                candidate += position;
                var match = MatchAddedToken(text, candidate);
                if (match < 0)
                {
                    int next = candidate + (char.IsHighSurrogate(text[candidate]) && candidate + 1 < text.Length ? 2 : 1);
                    TokenizeSegment(text, position, next, ref state);
                    position = next;
                    continue;
                }
                TokenizeSegment(text, position, candidate, ref state);
                Flush(ref state);
                var (content, id) = _addedTokens[match];
                state.Output.Add(id, candidate, candidate + content.Length, state.NextWord());
                position = candidate + content.Length;
            }
        }
        TokenizeSegment(text, position, text.Length, ref state);
        Flush(ref state);
    }

    private int MatchAddedToken(string text, int at)
    {
        var rest = text.AsSpan(at);
        for (int i = 0; i < _addedTokens.Length; i++)
            if (rest.StartsWith(_addedTokens[i].Content, StringComparison.Ordinal))
                return i;
        return -1;
    }

    private void TokenizeSegment(string text, int from, int to, ref State state)
    {
        var word = state.Word;
        for (int i = from; i < to;)
        {
            char c = text[i];
            if (c < 128)
            {
                switch (_asciiClass[c])
                {
                    case AsciiClass.Word:
                        word.Append(_asciiChar[c], i, i + 1);
                        break;
                    case AsciiClass.Space:
                        Flush(ref state);
                        break;
                    case AsciiClass.Punctuation:
                        Flush(ref state);
                        word.Append(_asciiChar[c], i, i + 1);
                        Flush(ref state);
                        break;
                }
                i++;
                continue;
            }
            int codePoint, length = 1;
            if (char.IsHighSurrogate(c) && i + 1 < to && char.IsLowSurrogate(text[i + 1]))
            {
                codePoint = char.ConvertToUtf32(c, text[i + 1]);
                length = 2;
            }
            else codePoint = char.IsSurrogate(c) ? 0xFFFD : c; // a lone surrogate reads as U+FFFD, as when the text is made UTF-8
            NormalizeChar(codePoint, i, i + length, ref state);
            i += length;
        }
    }

    private void NormalizeChar(int codePoint, int start, int end, ref State state)
    {
        var flags = Flags(codePoint);
        if (_cleanText)
        {
            if ((flags & CharFlags.Control) != 0) return;
            if ((flags & CharFlags.CleanWhitespace) != 0)
            {
                Flush(ref state);
                return;
            }
        }
        bool chinese = _chineseChars && (flags & CharFlags.Chinese) != 0;
        if (chinese) Flush(ref state);
        if (_stripAccents && (flags & CharFlags.Accent) != 0)
        {
            var stripped = StripAccents(codePoint);
            for (int k = 0; k < stripped.Length; k++)
            {
                int cp = stripped[k];
                if (char.IsHighSurrogate(stripped[k])) cp = char.ConvertToUtf32(stripped[k], stripped[++k]);
                Lowercase(cp, start, end, ref state);
            }
        }
        else Lowercase(codePoint, start, end, ref state);
        if (chinese) Flush(ref state);
    }

    private void Lowercase(int codePoint, int start, int end, ref State state)
    {
        if (!_lowercase || (Flags(codePoint) & CharFlags.Upper) == 0)
        {
            PreTokenize(codePoint, start, end, ref state);
            return;
        }
        var lower = ToLower(codePoint);
        for (int k = 0; k < lower.Length; k++)
        {
            int cp = lower[k];
            if (char.IsHighSurrogate(lower[k])) cp = char.ConvertToUtf32(lower[k], lower[++k]);
            PreTokenize(cp, start, end, ref state);
        }
    }

    private void PreTokenize(int codePoint, int start, int end, ref State state)
    {
        var flags = Flags(codePoint);
        if ((flags & CharFlags.Whitespace) != 0)
        {
            Flush(ref state);
            return;
        }
        if ((flags & CharFlags.Punctuation) != 0)
        {
            Flush(ref state);
            state.Word.Append(codePoint, start, end);
            Flush(ref state);
            return;
        }
        state.Word.Append(codePoint, start, end);
    }

    /// <summary>Ends the current word: WordPiece over its normalized characters.</summary>
    private void Flush(ref State state)
    {
        var word = state.Word;
        if (word.Length == 0) return;
        int wordIndex = state.NextWord();
        var output = state.Output;
        var chars = word.Chars.AsSpan(0, word.Length);
        if (chars.Length > _maxInputCharsPerWord && CountCodePoints(chars) > _maxInputCharsPerWord)
        {
            output.Add(_unkId, word.Starts[0], word.Ends[word.Length - 1], wordIndex);
            word.Length = 0;
            return;
        }
        int first = output.Count;
        int begin = 0;
        while (begin < chars.Length)
        {
            if (!_vocab.TryLongestMatch(chars, begin, out int id, out int end))
            {
                output.Count = first;
                output.Add(_unkId, word.Starts[0], word.Ends[word.Length - 1], wordIndex);
                word.Length = 0;
                return;
            }
            output.Add(id, word.Starts[begin], word.Ends[end - 1], wordIndex);
            begin = end;
        }
        word.Length = 0;
    }

    private static int CountCodePoints(ReadOnlySpan<char> chars)
    {
        int n = 0;
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            n++;
        }
        return n;
    }

    private struct State(WordBuffer word, TokenList output, int fixedWord)
    {
        public readonly WordBuffer Word = word;
        public readonly TokenList Output = output;
        private int _nextWord;

        public int NextWord() => fixedWord >= 0 ? fixedWord : _nextWord++;
    }

    /// <summary>The normalized characters of the current word, each with the original range it came from.</summary>
    private sealed class WordBuffer
    {
        public char[] Chars = new char[64];
        public int[] Starts = new int[64];
        public int[] Ends = new int[64];
        public int Length;

        public void Append(char c, int start, int end)
        {
            if (Length == Chars.Length) Grow();
            Chars[Length] = c;
            Starts[Length] = start;
            Ends[Length] = end;
            Length++;
        }

        public void Append(int codePoint, int start, int end)
        {
            if (codePoint < 0x10000)
            {
                Append((char)codePoint, start, end);
                return;
            }
            var s = char.ConvertFromUtf32(codePoint);
            Append(s[0], start, end);
            Append(s[1], start, end);
        }

        private void Grow()
        {
            int n = Chars.Length * 2;
            Array.Resize(ref Chars, n);
            Array.Resize(ref Starts, n);
            Array.Resize(ref Ends, n);
        }
    }
}
