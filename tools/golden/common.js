// Helpers shared by the golden generators: reading the shared datasets and recording an encoding of Hugging Face's
// npm package with offsets converted from Unicode characters to UTF-16 indices (what .NET strings use).
'use strict';

function csvRows(text) {
  const rows = [];
  let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else if (c !== '\r') field += c;
  }
  if (field.length || row.length) { row.push(field); rows.push(row); }
  return rows;
}

function utf16Map(s) {
  // char (code point) index -> UTF-16 index
  const map = [0];
  let u = 0;
  for (const ch of s) { u += ch.length; map.push(u); }
  return map;
}

function record(enc, text, pair, words, wordOf) {
  const ids = enc.getIds();
  const seq = enc.getSequenceIds();
  let wordIds = enc.getWordIds();
  if (wordOf) {
    let k = 0;
    wordIds = seq.map((s) => (s == null ? null : wordOf[k++]));
  }
  const maps = [utf16Map(text), pair == null ? null : utf16Map(pair)];
  const wordMaps = words ? words.map(utf16Map) : null;
  const offsets = [];
  enc.getOffsets().forEach(([s, e], i) => {
    if (seq[i] == null) { offsets.push(s, e); return; }
    const map = words ? wordMaps[wordIds[i]] : maps[seq[i]];
    if (s >= map.length || e >= map.length) throw new Error(`offset out of range in ${JSON.stringify(text)}`);
    offsets.push(map[s], map[e]);
  });
  return {
    ids,
    types: enc.getTypeIds().join(''),
    seq: seq.map((x) => (x == null ? '-' : String(x))).join(''),
    words: wordIds.map((x) => (x == null ? null : x)),
    offsets,
  };
}

// The tricky strings of the WordPiece goldens (the BPE/Unigram goldens use them too, with more of their own).
const trickyStrings = [
  '', '   ', '\t\n\r', 'Café naïve résumé façade', 'Crème brûlée à la mode, déjà vu', '北京欢迎你，你好世界', '日本語のテキストと漢字',
  '한국어 텍스트입니다', 'Emoji 😀👍🏽 and 🎉 party', 'Family 👨‍👩‍👧‍👦 ZWJ sequence', 'Flags 🇺🇸🇫🇷!',
  'null\u0000char and \u0001\u0002 controls\u007f end', 'tab\there\nnewline\r\nwindows  double  space', 'a'.repeat(150),
  'x'.repeat(100) + ' ' + 'x'.repeat(101) + ' ' + '😀'.repeat(60) + ' ' + '😀'.repeat(101), 'supercalifragilisticexpialidocious antidisestablishmentarianism',
  'Visit https://example.com/path?query=1&b=2#frag or www.test.org/a_b-c~d', 'mail john.doe+tag@example.co.uk now',
  'e\u0301 a\u0308 n\u0303 o\u0302\u0323 decomposed', 'İstanbul ISTANBUL ıi İ İİ', 'Straße STRASSE Fußball ẞ', 'مرحبا بالعالم، كيف حالك؟ مَرْحَبًا',
  'नमस्ते दुनिया। हिन्दी क़', 'ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３！', 'non\u00a0breaking\u00a0space and\u202fnarrow', 'soft\u00adhyphen',
  'zero\u200bwidth\u200cnon\u200djoiner\ufeffbom', '[CLS] hello [SEP] [MASK] world [PAD][UNK]', 'a[MASK]b [mask] [MASK', 'ΟΔΥΣΣΕΥΣ Ὀδυσσεύς',
  'x² + y³ = z½ ≠ ∞ ™ © ®', 'ﬁ ﬂ ﬀ ligatures', 'bad\ufffdbyte', 'Hello!!! What?!... (yes) [no] {maybe} «quoted» „German“ —dash– ‘single’',
  '3.14159 1,000,000 $5.99 50% #1 @user', 'Tiếng Việt có dấu', 'שָׁלוֹם עולם', 'ภาษาไทย', '𠀀𠀁 𪚥 CJK ext B', '豈更車 compatibility',
  'Привет, МИР! Ёлка', 'line\u2028sep\u2029para\u0085nel', '全角\u3000スペース', '❤️ ☺︎ variation', '𝅘𝅥𝅮 music 𝅗𝅥', 'Ǆ ǅ ǆ digraphs',
  'Å Ω K signs', "don't won't it's I'm they've we're", '  leading and trailing  ', '...!!!???', 'a     b', '\u00e9\u0301\u0300 stacked',
  'Ａ\u0300 ǲ ﬃ', '\u1FEF\u0385 greek accents', 'KELVIN K ANGSTROM Å', 'ⅷ Ⅻ roman', 'a\u0300\u0316 reorder', '\u0345 ypogegrammeni ΑΙ',
];

// The sentences of a CoNLL-2003 file as lists of words.
function conllSentences(text) {
  const sentences = [];
  let words = [];
  for (const l of text.split('\n')) {
    const w = l.split(' ')[0];
    if (!l.trim()) { if (words.length) sentences.push(words); words = []; }
    else if (w !== '-DOCSTART-') words.push(w);
  }
  return sentences;
}

module.exports = { csvRows, utf16Map, record, trickyStrings, conllSentences };
