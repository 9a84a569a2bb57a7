#!/usr/bin/python3
# A SentencePiece Unigram model trained by Debian's python3-sentencepiece, converted to a Hugging Face tokenizer.json
# the way transformers converts XLM-R's sentencepiece.bpe.model (XLMRobertaConverter: ids 0-3 <s> <pad> </s> <unk>,
# then the model's pieces from its fourth on, then <mask>; SpmConverter's normalizer: the model's own rules as a
# Precompiled character map, trailing spaces stripped, runs of spaces made one metaspace; Metaspace with a prefix
# space; XLM-R's template), and spm's own encodings of the inputs, mapped to those
# ids, for the cross-check in generate-bpe-unigram.js.
#
# Usage: /usr/bin/python3 spm-unigram.py <corpus.txt> <tokenizer.json out> <inputs.json> <spm encodings out> <model out>
import base64
import json
import os
import sys

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

corpus, tokenizer_out, inputs_path, encodings_out, model_out = sys.argv[1:6]
prefix = model_out[: -len(".model")] if model_out.endswith(".model") else model_out
spm.SentencePieceTrainer.train(
    input=corpus,
    model_prefix=prefix,
    model_type="unigram",
    vocab_size=8000,
    character_coverage=0.9995,
    input_sentence_size=200000,
    shuffle_input_sentence=False,
    num_threads=2,
    seed_sentencepiece_size=200000,
    minloglevel=2,
)
for leftover in [prefix + ".vocab"]:
    if os.path.exists(leftover):
        os.remove(leftover)
proto = model_pb2.ModelProto()
with open(prefix + ".model", "rb") as f:
    proto.ParseFromString(f.read())
assert [p.piece for p in proto.pieces[:3]] == ["<unk>", "<s>", "</s>"], [p.piece for p in proto.pieces[:3]]

vocab = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
vocab += [[p.piece, p.score] for p in proto.pieces[3:]]
vocab += [["<mask>", 0.0]]
mask_id = len(vocab) - 1


def added(i, content, lstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": False, "normalized": False, "special": True}


def special(token, type_id=0):
    return {"SpecialToken": {"id": token, "type_id": type_id}}


def sequence(name, type_id=0):
    return {"Sequence": {"id": name, "type_id": type_id}}


charsmap = base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode("ascii")
tokenizer = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [added(0, "<s>"), added(1, "<pad>"), added(2, "</s>"), added(3, "<unk>"), added(mask_id, "<mask>", lstrip=True)],
    "normalizer": {
        "type": "Sequence",
        "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"},
        ],
    },
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    "post_processor": {
        "type": "TemplateProcessing",
        "single": [special("<s>"), sequence("A"), special("</s>")],
        "pair": [special("<s>"), sequence("A"), special("</s>"), special("</s>"), sequence("B"), special("</s>")],
        "special_tokens": {
            "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
            "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]},
        },
    },
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": False},
}
with open(tokenizer_out, "w", encoding="utf-8") as f:
    json.dump(tokenizer, f, ensure_ascii=False)

# spm's own encodings, its ids moved to the converted layout: spm 0 (<unk>) -> 3, spm k >= 3 -> k + 1.
sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
with open(inputs_path, encoding="utf-8") as f:
    inputs = json.load(f)
encodings = []
for text in inputs:
    # A lone surrogate reaches Hugging Face's Rust code as U+FFFD (the binding converts the string to UTF-8 that way).
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    ids = sp.encode(text)
    encodings.append([3 if i == 0 else i + 1 for i in ids])
with open(encodings_out, "w", encoding="utf-8") as f:
    json.dump({"version": spm.__version__, "encodings": encodings}, f)
print(f"spm {spm.__version__}: {len(vocab)} ids, {len(inputs)} inputs encoded")
