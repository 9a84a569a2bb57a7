// Encodes texts (and pairs) with Hugging Face's tokenizers from a tokenizer.json, for the FineTune tests.
// Usage: node encode.js TOKENIZER_JSON INPUT_JSON  (INPUT_JSON: [[text, pair|null], ...]); prints
// [{ids, types, offsets}, ...] with offsets as [start, end] pairs in UTF-16 code units (Hugging Face reports
// Unicode-character offsets; converted as tools/golden/generate.js converts them).
const fs = require("fs");
const { Tokenizer } = require("tokenizers");

function utf16Map(s) {
  const map = [0];
  let u = 0;
  for (const ch of s) { u += ch.length; map.push(u); }
  return map;
}

async function main() {
  const [tokenizerPath, inputPath] = process.argv.slice(2);
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  const inputs = JSON.parse(fs.readFileSync(inputPath, "utf8"));
  const out = [];
  for (const [text, pair] of inputs) {
    const e = pair === null ? await tokenizer.encode(text) : await tokenizer.encode(text, pair);
    const maps = [utf16Map(text), pair === null ? null : utf16Map(pair)];
    const seq = e.getSequenceIds();
    const offsets = e.getOffsets().map(([s, t], i) => (seq[i] == null ? [s, t] : [maps[seq[i]][s], maps[seq[i]][t]]));
    out.push({ ids: Array.from(e.getIds()), types: Array.from(e.getTypeIds()), offsets });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
