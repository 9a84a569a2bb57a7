// The peer of FineTune.Bench's tokenize scenario: Hugging Face's tokenizers (the Rust library, npm package) encoding
// the same texts with the same tokenizer.json on one thread (TOKENIZERS_PARALLELISM=false, set by the scenario).
// Usage: node tokenizers_peer.js <tokenizer.json> <texts.json> <reps> <warmup>
// Prints one JSON line: seconds of each timed pass (encodeBatch of all texts, special tokens added), tokens, id sum.
'use strict';
const fs = require('fs');
const tk = require('tokenizers');

const [tokenizerPath, textsPath, repsArg, warmupArg] = process.argv.slice(2);
const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
const tokenizer = tk.Tokenizer.fromFile(tokenizerPath);
(async () => {
  const reps = Number(repsArg || 5), warmup = Number(warmupArg || 1);
  let tokens = 0, idSum = 0;
  const seconds = [];
  for (let r = 0; r < warmup + reps; r++) {
    const start = process.hrtime.bigint();
    const encodings = await tokenizer.encodeBatch(texts, { addSpecialTokens: true });
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    if (r >= warmup) seconds.push(elapsed);
    if (r === 0) {
      for (const e of encodings) {
        const ids = e.getIds();
        tokens += ids.length;
        for (const id of ids) idSum += id;
      }
    }
  }
  console.log(JSON.stringify({ tokenizers: require('tokenizers/package.json').version, seconds, tokens, idSum }));
})();
