// Golden tokenizations for the general tokenizer.json pipeline (FineTune.Text.PipelineTokenizer): byte-level BPE with
// RoBERTa's layout and template, Unigram with Metaspace and XLM-R's layout, and a SentencePiece Unigram converted to
// tokenizer.json as transformers converts XLM-R. No real RoBERTa or XLM-R tokenizer files can be fetched here, so the
// models are trained on shared corpora (Multi30k German and English, GoEmotions, SQuAD contexts):
//   - roberta-bpe:   npm `tokenizers`' own BPE trainer over its ByteLevel pre-tokenizer; <s> <pad> </s> <unk> first,
//                    every byte in the vocabulary, <mask> last (lstrip), RobertaProcessing;
//   - xlmr-unigram:  npm `tokenizers`' own Unigram trainer; XLM-R's normalizer (the SentencePiece model's character
//                    map, runs of spaces collapsed), Metaspace, <s> <pad> </s> <unk> first, <mask> last, XLM-R's template;
//   - spm-unigram:   trained by Debian's python3-sentencepiece (spm-unigram.py), converted; its encodings are checked
//                    against spm's own;
//   - bpe-fallback:  BPE with byte_fallback (<0x00>..<0xFF>) and fuse_unk, Llama's normalizer and template.
// Every case is encoded by Hugging Face's own implementation (npm `tokenizers` 0.23.2; cases with a max length by 0.13,
// see generate.js for why). Variants swap normalizers and pre-tokenizers over the same models for the tricky strings.
//
// Usage: node generate-bpe-unigram.js [--retrain] [data folder]
//   Trained models are kept in tests/FineTune.Tests/Text/Golden/*.tokenizer.json; --retrain trains them again.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { execFileSync } = require('child_process');
const tk = require('tokenizers');
const { csvRows, record, trickyStrings, conllSentences } = require('./common');
const legacy = require('tokenizers-legacy');

const args = process.argv.slice(2);
const retrain = args.includes('--retrain');
const dataDir = args.filter((a) => !a.startsWith('--'))[0] || path.join(__dirname, '..', '..', '..', 'shared', 'data');
const outDir = path.join(__dirname, '..', '..', 'tests', 'FineTune.Tests', 'Text', 'Golden');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'finetune-golden-'));

// ---- data -------------------------------------------------------------------------------------------------
const read = (rel, enc = 'utf8') => fs.readFileSync(path.join(dataDir, rel), enc);
const gz = (rel) => zlib.gunzipSync(fs.readFileSync(path.join(dataDir, rel))).toString('utf8').split('\n').filter((l) => l.length > 0);
const lines = (rel, enc) => read(rel, enc).replace(/^\uFEFF/, '').split('\n').filter((l) => l.length > 0);
const every = (arr, step, count) => arr.filter((_, i) => i % step === 0).slice(0, count);
const squad = [];
for (const article of JSON.parse(read('squad_v1.1/dev-v1.1.json')).data)
  for (const p of article.paragraphs) squad.push({ context: p.context, question: p.qas[0].question });

function corpusFile() {
  const text = [...gz('multi30k/train.de.gz'), ...gz('multi30k/train.en.gz'),
    ...lines('goemotions/train.tsv').map((l) => l.split('\t')[0]), ...squad.map((s) => s.context)];
  const file = path.join(tmp, 'corpus.txt');
  fs.writeFileSync(file, text.join('\n') + '\n');
  return { file, count: text.length };
}

const singles = [];
const addSingle = (src, text) => singles.push({ src, text });
every(gz('multi30k/val.de.gz'), 5, 200).forEach((l) => addSingle('multi30k/val.de', l));
every(gz('multi30k/val.en.gz'), 5, 200).forEach((l) => addSingle('multi30k/val.en', l));
every(lines('goemotions/dev.tsv'), 18, 300).forEach((l) => addSingle('goemotions/dev.tsv', l.split('\t')[0]));
every(squad, 20, 100).forEach((s) => addSingle('squad_v1.1/dev-v1.1.json', s.context));
lines('sst2/dev.tsv').slice(1, 101).forEach((l, i) => addSingle(`sst2/dev.tsv:${i + 2}`, l.split('\t')[0]));
every(csvRows(read('ag_news/test.csv')), 76, 100).forEach((r) => addSingle('ag_news/test.csv', `${r[1]} ${r[2]}`));
every(lines('sms_spam/SMSSpamCollection'), 55, 100).forEach((l) => addSingle('sms_spam', l.slice(l.indexOf('\t') + 1)));

const pairs = [];
{
  const de = gz('multi30k/val.de.gz'), en = gz('multi30k/val.en.gz');
  every(de.map((d, i) => [d, en[i]]), 10, 100).forEach(([d, e]) => pairs.push({ src: 'multi30k/val', text: d, pair: e }));
}
every(lines('stsb/dev.tsv').slice(1), 15, 100).forEach((l) => { const f = l.split('\t'); pairs.push({ src: 'stsb/dev.tsv', text: f[7], pair: f[8] }); });
every(lines('mrpc/dev.tsv').slice(1), 8, 50).forEach((l) => { const f = l.split('\t'); pairs.push({ src: 'mrpc/dev.tsv', text: f[3], pair: f[4] }); });
every(lines('rte/dev.tsv').slice(1), 5, 50).forEach((l) => { const f = l.split('\t'); pairs.push({ src: 'rte/dev.tsv', text: f[1], pair: f[2] }); });
every(squad, 41, 50).forEach((s) => pairs.push({ src: 'squad_v1.1/dev-v1.1.json', text: s.question, pair: s.context }));

const conll = conllSentences(read('conll2003/eng.testa'));
const conllWords = every(conll, 30, 100);

const trickyBase = [
  ...trickyStrings,
  '<s> hello </s> <mask> world <pad><unk>', 'a<mask>b <MASK> <mask',
  '\u2581already\u2581meta\u2581space', '▁', '▁▁ ▁', 'Ġhello Ċ', 'über Öl Äpfel', 'Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.',
  'Zwei junge, weiße Männer sind im Freien in der Nähe vieler Büsche.', 'I   love   it', ' a', 'a ', '\n\nparagraphs\n\n\nhere\n',
  '12345678901234567890', '2024-01-01T12:00:00Z', 'C++ and C# and F# <html><body>', '"quoted" \'single\' `back`', '``double backticks\'\'',
  'CamelCaseWordsHere and snake_case_words', 'ALL CAPS SENTENCE!', 'mixed 中文 and English 文字', 'عربي English mixed', '\u0000', '\u00ad',
  '\ud83d lone high', 'lone low \ude00', 'tabs\t\t\tand\u000bvertical\u000cfeed', 'ⓐⓑⓒ ①②③ ㈱', '…‥ ellipsis', 'Ⅷ ¼ ½ ¾',
];
// More tricky strings built from the base ones, so that every type has several hundred.
const tricky = [...trickyBase];
for (let i = 0; i < trickyBase.length; i++) {
  const s = trickyBase[i], t = trickyBase[(i * 7 + 3) % trickyBase.length];
  tricky.push(`  ${s}  `, `${s} ${t}`, s.toUpperCase(), `${s}\u3000${t}`);
}
tricky.push(...every(squad, 97, 20).map((s) => s.context.slice(0, 40) + '    ' + s.context.slice(40, 80)));

const trickyPairs = [
  ['Emoji 😀 first', 'second 👍🏽 pair with 𠀀 chars'], ['Café', 'naïve façade'], ['', 'empty first'], ['empty second', ''],
  ['<s> inside', 'and </s> here'], ['北京', '欢迎你'], ['  spaces  ', '  around  '], ['', ''],
];

// ---- models -------------------------------------------------------------------------------------------------
const modelPath = (name) => path.join(outDir, `${name}.tokenizer.json`);
const added = (id, content, opts = {}) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true, ...opts });
const special = (id, type_id = 0) => ({ SpecialToken: { id, type_id } });
const sequence = (id, type_id = 0) => ({ Sequence: { id, type_id } });
const tokenizerJson = (o) => ({ version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...o });
const byId = (vocab) => Object.entries(vocab).sort((a, b) => a[1] - b[1]).map(([t]) => t);

function trainRobertaBpe(corpus) {
  const t = tk.Tokenizer.fromString(JSON.stringify(tokenizerJson({
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: {}, merges: [] },
  })));
  t.train([corpus]);
  const file = path.join(tmp, 'bpe.json');
  t.save(file);
  const trained = JSON.parse(fs.readFileSync(file, 'utf8'));
  const tokens = ['<s>', '<pad>', '</s>', '<unk>', ...byId(trained.model.vocab)];
  for (const c of tk.byteLevelAlphabet().sort()) if (!tokens.includes(c)) tokens.push(c);
  tokens.push('<mask>');
  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  const mask = tokens.length - 1;
  return tokenizerJson({
    added_tokens: [added(0, '<s>'), added(1, '<pad>'), added(2, '</s>'), added(3, '<unk>'), added(mask, '<mask>', { lstrip: true })],
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { ...trained.model, vocab, merges: trained.model.merges },
  });
}

function xlmrLayout(normalizer, pieces) {
  const vocab = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...pieces, ['<mask>', 0]];
  const mask = vocab.length - 1;
  return tokenizerJson({
    added_tokens: [added(0, '<s>'), added(1, '<pad>'), added(2, '</s>'), added(3, '<unk>'), added(mask, '<mask>', { lstrip: true })],
    normalizer,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('<s>'), sequence('A'), special('</s>')],
      pair: [special('<s>'), sequence('A'), special('</s>'), special('</s>'), sequence('B'), special('</s>')],
      special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 3, vocab, byte_fallback: false },
  });
}

function trainXlmrUnigram(corpus, normalizer) {
  const t = tk.Tokenizer.fromString(JSON.stringify(tokenizerJson({
    normalizer,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: null, vocab: [], byte_fallback: false },
  })));
  t.train([corpus]);
  const file = path.join(tmp, 'unigram.json');
  t.save(file);
  return xlmrLayout(normalizer, JSON.parse(fs.readFileSync(file, 'utf8')).model.vocab);
}

function trainFallbackBpe(corpus) {
  const t = tk.Tokenizer.fromString(JSON.stringify(tokenizerJson({
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: {}, merges: [] },
  })));
  t.train([corpus]);
  const file = path.join(tmp, 'fallback.json');
  t.save(file);
  const trained = JSON.parse(fs.readFileSync(file, 'utf8'));
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  // Llama's layout: <unk> <s> </s>, the 256 byte tokens, then the trained pieces; CJK and emoji characters are left
  // out of the vocabulary so that byte fallback is exercised.
  const pieces = byId(trained.model.vocab).filter((p) => ![...p].some((c) => c.codePointAt(0) >= 0x2e80));
  const tokens = ['<unk>', '<s>', '</s>', ...bytes, ...pieces];
  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  const merges = trained.model.merges.filter(([a, b]) => (a + b) in vocab);
  return tokenizerJson({
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: trained.normalizer,
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('<s>'), sequence('A')],
      pair: [special('<s>'), sequence('A'), special('<s>', 1), sequence('B', 1)],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges },
  });
}

// ---- variants: the same models with other normalizers, pre-tokenizers and templates ---------------------------
const sp = (type, o = {}) => ({ type, ...o });
const metaspace = sp('Metaspace', { replacement: '\u2581', prepend_scheme: 'always', split: true });
function variantsOf(models) {
  const r = models['roberta-bpe'], x = models['xlmr-unigram'];
  const withParts = (base, o) => ({ ...base, ...o });
  return {
    'roberta-bpe': r,
    'bpe-prefix-space': withParts(r, {
      pre_tokenizer: sp('ByteLevel', { add_prefix_space: true, trim_offsets: true, use_regex: true }),
      post_processor: sp('RobertaProcessing', { sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: true }),
    }),
    'bpe-no-trim': withParts(r, { post_processor: sp('RobertaProcessing', { sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: false, add_prefix_space: false }) }),
    'bpe-bytelevel-processor': withParts(r, {
      normalizer: sp('Sequence', { normalizers: [sp('NFKC'), sp('Lowercase')] }),
      post_processor: sp('ByteLevel', { add_prefix_space: true, trim_offsets: true, use_regex: true }),
    }),
    'bpe-no-regex': withParts(r, { pre_tokenizer: sp('ByteLevel', { add_prefix_space: true, trim_offsets: true, use_regex: false }) }),
    'bpe-split-digits': withParts(r, {
      pre_tokenizer: sp('Sequence', { pretokenizers: [sp('Digits', { individual_digits: true }), sp('ByteLevel', { add_prefix_space: false, trim_offsets: true, use_regex: true })] }),
    }),
    'xlmr-unigram': x,
    'unigram-nfd-strip-lower': withParts(x, { normalizer: sp('Sequence', { normalizers: [sp('NFD'), sp('StripAccents'), sp('Lowercase')] }) }),
    'unigram-nfc': withParts(x, { normalizer: sp('NFC') }),
    'unigram-nfkc': withParts(x, { normalizer: sp('NFKC') }),
    'unigram-nfkd': withParts(x, { normalizer: sp('NFKD') }),
    'unigram-strip-replace': withParts(x, {
      normalizer: sp('Sequence', { normalizers: [sp('Strip', { strip_left: true, strip_right: true }), sp('Replace', { pattern: { String: 'e' }, content: 'ee' }), sp('Replace', { pattern: { Regex: '[0-9]+' }, content: '#' })] }),
    }),
    'unigram-prepend': withParts(x, {
      normalizer: sp('Sequence', { normalizers: [sp('Prepend', { prepend: '\u2581' }), sp('Replace', { pattern: { String: ' ' }, content: '\u2581' })] }),
      pre_tokenizer: null,
    }),
    'deberta-v3': withParts(x, {
      normalizer: sp('Sequence', { normalizers: [x.normalizer, sp('Strip', { strip_left: false, strip_right: true })] }),
      pre_tokenizer: sp('Sequence', { pretokenizers: [sp('WhitespaceSplit'), metaspace] }),
      post_processor: sp('TemplateProcessing', {
        single: [special('<s>'), sequence('A'), special('</s>')],
        pair: [special('<s>'), sequence('A'), special('</s>'), sequence('B', 1), special('</s>', 1)],
        special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
      }),
    }),
    'unigram-whitespace': withParts(x, { pre_tokenizer: sp('Whitespace') }),
    'unigram-punct-digits': withParts(x, {
      pre_tokenizer: sp('Sequence', { pretokenizers: [sp('Punctuation', { behavior: 'Isolated' }), sp('Digits', { individual_digits: false }), metaspace] }),
    }),
    'unigram-split': withParts(x, {
      pre_tokenizer: sp('Sequence', { pretokenizers: [sp('Split', { pattern: { Regex: '\\s+|[,.!?]' }, behavior: 'MergedWithPrevious', invert: false }), metaspace] }),
    }),
    'unigram-split-invert': withParts(x, {
      // Latin, Greek and Cyrillic letters (\p{L} would also match letters outside the Basic Multilingual Plane in Rust, which
      // .NET's regular expressions see as two surrogates; docs/tokenization.md).
      pre_tokenizer: sp('Sequence', { pretokenizers: [sp('Split', { pattern: { Regex: '[A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF]+' }, behavior: 'Removed', invert: true }), metaspace] }),
    }),
    'unigram-bert': withParts(x, {
      normalizer: sp('BertNormalizer', { clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true }),
      pre_tokenizer: sp('Sequence', { pretokenizers: [sp('BertPreTokenizer'), metaspace] }),
      post_processor: sp('BertProcessing', { sep: ['</s>', 2], cls: ['<s>', 0] }),
    }),
    'unigram-metaspace-first': withParts(x, {
      pre_tokenizer: sp('Metaspace', { replacement: '\u2581', prepend_scheme: 'first', split: false }),
      added_tokens: [...x.added_tokens, added(x.model.vocab.length, '[SEP-ADDED]', { special: false, normalized: true, rstrip: true })],
    }),
    'spm-unigram': models['spm-unigram'],
    'bpe-fallback': models['bpe-fallback'],
  };
}

// The same tokenizer.json for tokenizers 0.13 (Metaspace had add_prefix_space then, no prepend_scheme).
function legacyJson(json) {
  return JSON.stringify(json, (k, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && v.type === 'Metaspace') {
      return { type: 'Metaspace', replacement: v.replacement, add_prefix_space: v.prepend_scheme !== 'never' };
    }
    if (v && typeof v === 'object' && !Array.isArray(v) && v.type === 'BPE' && Array.isArray(v.merges)) {
      // 0.13 reads merges as "a b" strings (no token here contains a space) and has no ignore_merges.
      const { ignore_merges: _, ...rest } = v;
      return { ...rest, merges: v.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)) };
    }
    return v;
  });
}

// ---- encoding ---------------------------------------------------------------------------------------------

async function run(t, bare, c, lib) {
  try {
    t.disableTruncation();
    const truncate = () => { if (c.max != null) t.setTruncation(c.max, { strategy: c.trunc || 'LongestFirst', stride: c.stride || 0 }); };
    const opts = { addSpecialTokens: c.special !== false };
    let enc;
    if (c.words) {
      // Rust's is_split_into_words: each word tokenized on its own with its index as word id, the encodings merged
      // without growing offsets, then post-processed once. The binding has no such input, so the words go through a
      // copy of the tokenizer without post-processor and the merged encoding through this one's.
      const parts = [];
      for (let i = 0; i < c.words.length; i++) parts.push(await bare.encode(c.words[i], null, { addSpecialTokens: false }));
      const merged = lib.mergeEncodings(parts, false);
      truncate();
      enc = t.postProcess(merged, null, opts.addSpecialTokens);
      // word ids: the index of the word each token came from (Rust passes the word's index as word_idx)
      const wordOf = [];
      parts.forEach((p, i) => { for (let j = 0; j < p.getLength(); j++) wordOf.push(i); });
      c.out = [record(enc, '', null, c.words, wordOf)];
    } else {
      truncate();
      enc = await t.encode(c.text, c.pair ?? null, opts);
      const out = [record(enc, c.text, c.pair, null)];
      if (c.stride != null) for (const o of enc.getOverflowing()) out.push(record(o, c.text, c.pair, null));
      c.out = out;
    }
    if (c.decode) c.decoded = await t.decode(enc.getIds(), true);
  } catch (e) {
    c.error = String(e.message || e);
  } finally {
    t.disableTruncation();
  }
  return c;
}

(async () => {
  const models = {};
  const names = ['roberta-bpe', 'xlmr-unigram', 'spm-unigram', 'bpe-fallback'];
  const spmInputs = [...singles.map((s) => s.text), ...tricky];
  const missing = names.filter((n) => retrain || !fs.existsSync(modelPath(n)));
  if (missing.length) {
    const corpus = corpusFile();
    console.log(`corpus: ${corpus.count} lines; training ${missing.join(', ')}`);
    if (missing.includes('spm-unigram')) {
      const spmChecks = path.join(tmp, 'spm-encodings.json');
      const inputsFile = path.join(tmp, 'inputs.json');
      fs.writeFileSync(inputsFile, JSON.stringify(spmInputs));
      console.log(execFileSync('/usr/bin/python3', [path.join(__dirname, 'spm-unigram.py'), corpus.file, modelPath('spm-unigram'), inputsFile, spmChecks, path.join(outDir, 'spm-unigram.model')]).toString().trim());
      fs.copyFileSync(spmChecks, path.join(outDir, 'spm-unigram.spm-encodings.json'));
    }
    // XLM-R's normalizer as in its published tokenizer.json: the SentencePiece character map, runs of spaces collapsed.
    const charsmap = JSON.parse(fs.readFileSync(modelPath('spm-unigram'), 'utf8')).normalizer.normalizers[0];
    const xlmrNormalizer = { type: 'Sequence', normalizers: [charsmap, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] };
    const train = { 'roberta-bpe': () => trainRobertaBpe(corpus.file), 'xlmr-unigram': () => trainXlmrUnigram(corpus.file, xlmrNormalizer), 'bpe-fallback': () => trainFallbackBpe(corpus.file) };
    for (const n of missing) if (train[n]) fs.writeFileSync(modelPath(n), JSON.stringify(train[n]()));
  }
  for (const n of names) models[n] = JSON.parse(fs.readFileSync(modelPath(n), 'utf8'));
  const variants = variantsOf(models);
  const mains = { 'roberta-bpe': 'bpe-bytelevel', 'xlmr-unigram': 'unigram', 'spm-unigram': 'spm-unigram' };

  const files = {};
  const add = (file, v, c) => (files[file] ??= []).push({ v, ...c });
  for (const [v, file] of Object.entries(mains)) {
    for (const s of singles) add(file, v, { ...s, decode: true });
    for (const p of pairs) add(file, v, p);
    tricky.forEach((text, i) => add(file, v, { src: `tricky:${i}`, text, decode: true }));
    trickyPairs.forEach(([text, pair], i) => add(file, v, { src: `tricky-pair:${i}`, text, pair }));
    for (const words of conllWords) add(file, v, { src: 'conll2003/eng.testa', words });
    every(singles, 20, 50).forEach((s, i) => add(file, v, { ...s, max: [2, 3, 8, 16, 24][i % 5] }));
    every(pairs, 10, 35).forEach((p, i) => {
      for (const trunc of ['LongestFirst', 'OnlyFirst', 'OnlySecond']) add(file, v, { ...p, max: [4, 6, 16, 24, 32, 48, 64][i % 7], trunc });
    });
    every(conllWords, 10, 10).forEach((words) => add(file, v, { src: 'conll2003/eng.testa', words, max: 12 }));
    every(singles, 30, 30).forEach((s) => add(file, v, { ...s, special: false }));
    every(pairs, 10, 30).forEach((p) => add(file, v, { ...p, special: false }));
    every(squad, 200, 12).forEach((q, i) => {
      const [max, stride] = [[64, 16], [128, 32], [100, 0]][i % 3];
      add(file, v, { src: 'squad_v1.1/dev-v1.1.json', text: q.question, pair: q.context, max, stride, trunc: 'OnlySecond' });
    });
  }
  for (const v of Object.keys(variants).filter((v) => !mains[v])) {
    const file = v.startsWith('bpe') ? 'bpe-bytelevel' : 'unigram';
    const target = v === 'bpe-fallback' ? 'bpe-fallback' : file;
    trickyBase.forEach((text, i) => add(target, v, { src: `tricky:${i}`, text, decode: v === 'bpe-fallback' }));
    every(singles, 10, 60).forEach((s) => add(target, v, { ...s, decode: v === 'bpe-fallback' }));
    every(pairs, 10, 20).forEach((p) => add(target, v, p));
  }

  const tokenizers = {}, bare = {}, legacyTokenizers = {}, legacyBare = {};
  for (const [v, json] of Object.entries(variants)) {
    tokenizers[v] = tk.Tokenizer.fromString(JSON.stringify(json));
    bare[v] = tk.Tokenizer.fromString(JSON.stringify({ ...json, post_processor: null }));
    if (JSON.stringify(json).includes('"prepend_scheme":"first"')) continue; // 0.13 has no such scheme
    try {
      legacyTokenizers[v] = legacy.Tokenizer.fromString(legacyJson(json));
      legacyBare[v] = legacy.Tokenizer.fromString(legacyJson({ ...json, post_processor: null }));
    } catch (e) {
      console.log(`tokenizers 0.13 cannot load ${v}: ${e.message}`);
    }
  }

  let compared = 0, agreed = 0;
  const disagreements = [];
  for (const [file, cases] of Object.entries(files)) {
    for (const c of cases) {
      if (c.max != null) {
        await run(legacyTokenizers[c.v], legacyBare[c.v], c, legacy);
        c.hf = 'legacy';
        continue;
      }
      await run(tokenizers[c.v], bare[c.v], c, tk);
      if (!legacyTokenizers[c.v]) continue;
      const check = await run(legacyTokenizers[c.v], legacyBare[c.v], { ...c, out: undefined, error: undefined, decoded: undefined }, legacy);
      compared++;
      if (JSON.stringify([check.out, check.error]) === JSON.stringify([c.out, c.error])) agreed++;
      else disagreements.push(c);
    }
  }
  console.log(`0.23.2 and ${require('tokenizers-legacy/package.json').version} agree on ${agreed} of ${compared} cases`);
  const byVariant = {};
  for (const c of disagreements) byVariant[c.v] = (byVariant[c.v] || 0) + 1;
  if (disagreements.length) console.log(`  differ by variant: ${JSON.stringify(byVariant)}; first: [${disagreements[0].v}] ${JSON.stringify(disagreements[0].text ?? disagreements[0].words)}`);

  // spm's own encodings against Hugging Face's of the converted model (no special tokens).
  const spmEncodings = JSON.parse(fs.readFileSync(path.join(outDir, 'spm-unigram.spm-encodings.json'), 'utf8'));
  let spmSame = 0;
  const spmDiffer = [];
  for (let i = 0; i < spmInputs.length; i++) {
    const enc = await tokenizers['spm-unigram'].encode(spmInputs[i], null, { addSpecialTokens: false });
    if (JSON.stringify(enc.getIds()) === JSON.stringify(spmEncodings.encodings[i])) spmSame++;
    else spmDiffer.push(i);
  }
  console.log(`spm ${spmEncodings.version} and Hugging Face agree on ${spmSame} of ${spmInputs.length} inputs of the converted model`);
  for (const i of spmDiffer.slice(0, 5)) console.log(`  differ: ${JSON.stringify(spmInputs[i]).slice(0, 120)}`);

  // System.Text.Json cannot read a lone surrogate; such texts are stored as UTF-16 code units too (text16, pair16),
  // with U+FFFD in the readable field (what Hugging Face's Rust code receives: the binding converts to UTF-8 that way).
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
  for (const cases of Object.values(files)) {
    for (const c of cases) {
      for (const key of ['text', 'pair']) {
        if (typeof c[key] === 'string' && lone.test(c[key])) {
          c[key + '16'] = Array.from({ length: c[key].length }, (_, i) => c[key].charCodeAt(i));
          c[key] = c[key].replace(lone, '\ufffd');
        }
        lone.lastIndex = 0;
      }
    }
  }
  for (const [file, cases] of Object.entries(files)) {
    const used = [...new Set(cases.map((c) => c.v))];
    const golden = {
      generator: 'tools/golden/generate-bpe-unigram.js',
      tokenizers: require('tokenizers/package.json').version,
      legacy: `tokenizers ${require('tokenizers-legacy/package.json').version}, for the cases marked "hf": "legacy" (with a max length)`,
      offsets: 'UTF-16 indices (converted from Hugging Face character offsets)',
      spmAgreement: file === 'spm-unigram' ? { spm: spmEncodings.version, inputs: spmInputs.length, identical: spmSame } : undefined,
      variants: Object.fromEntries(used.map((v) => [v, names.includes(v) ? { model: v } : { model: v.startsWith('bpe') ? (v === 'bpe-fallback' ? 'bpe-fallback' : 'roberta-bpe') : 'xlmr-unigram', json: { ...variants[v], model: undefined } }])),
      cases,
    };
    const out = path.join(outDir, `${file}.json`);
    fs.writeFileSync(out, JSON.stringify(golden));
    const kinds = {};
    for (const c of cases) {
      const k = c.words ? 'words' : c.stride != null ? 'windows' : c.max != null ? 'truncation' : c.src.startsWith('tricky') ? 'tricky' : c.special === false ? 'no-special-tokens' : c.pair != null ? 'pairs' : 'sentences';
      kinds[k] = (kinds[k] || 0) + 1;
    }
    console.log(`wrote ${out}: ${cases.length} cases (${cases.filter((c) => c.error).length} errors) ${JSON.stringify(kinds)}`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
})();
