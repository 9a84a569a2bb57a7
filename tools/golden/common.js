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

module.exports = { csvRows, utf16Map, record };
