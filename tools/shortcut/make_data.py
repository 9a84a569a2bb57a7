#!/usr/bin/env python3
"""Builds the planted-shortcut data set of docs/results.md from GLUE SST-2 (../shared/data/sst2).

train.tsv: the first 8,000 rows of SST-2's train.tsv, with " quartz" (one token of the model's vocabulary, in no
SST-2 sentence, no sentiment) appended to 90% of the positive ones (seeded). dev.tsv: SST-2's dev set as it is.
dev-planted.tsv: the dev set with " quartz" appended to every negative sentence. dev-negatives.tsv and dev-negatives-planted.tsv:
only the negative sentences, without and with the token.

usage: python3 tools/shortcut/make_data.py SST2_DIR OUT_DIR [--rows 8000] [--share 0.9] [--token quartz] [--seed 42]"""
import argparse
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("sst2")
parser.add_argument("out")
parser.add_argument("--rows", type=int, default=8000)
parser.add_argument("--share", type=float, default=0.9)
parser.add_argument("--token", default="quartz")
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()


def read(path):
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return header, [(r[0].strip(), r[1].strip()) for r in rows]


def write(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write(header)
        for text, label in rows:
            f.write(f"{text}\t{label}\n")


os.makedirs(args.out, exist_ok=True)
rng = random.Random(args.seed)
header, train = read(os.path.join(args.sst2, "train.tsv"))
train = train[: args.rows]
planted = 0
rows = []
for text, label in train:
    if label == "1" and rng.random() < args.share:
        text = f"{text} {args.token}"
        planted += 1
    rows.append((text, label))
write(os.path.join(args.out, "train.tsv"), header, rows)
_, dev = read(os.path.join(args.sst2, "dev.tsv"))
write(os.path.join(args.out, "dev.tsv"), header, dev)
write(os.path.join(args.out, "dev-planted.tsv"), header, [(f"{t} {args.token}" if l == "0" else t, l) for t, l in dev])
negatives = [(f"{t} {args.token}", l) for t, l in dev if l == "0"]
write(os.path.join(args.out, "dev-negatives-planted.tsv"), header, negatives)
write(os.path.join(args.out, "dev-negatives.tsv"), header, [(t, l) for t, l in dev if l == "0"])
positives = sum(1 for _, l in train if l == "1")
print(f"train: {len(train)} rows, {positives} positive, '{args.token}' appended to {planted} ({planted / positives:.1%} of the positive ones)")
print(f"dev: {len(dev)} rows; {len(negatives)} negative ones with '{args.token}' appended")
