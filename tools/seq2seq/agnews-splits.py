#!/usr/bin/env python3
"""Splits AG News's test.csv (class, title, description; no header) into headline-generation files by a seeded
shuffle: 1,000 rows for test, 380 (5% of the file) for validation, the remaining 6,220 for training.
Usage: agnews-splits.py ../shared/data/ag_news/test.csv OUTDIR [SEED]"""
import csv, os, random, sys

source, out = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
with open(source, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
order = list(range(len(rows)))
random.Random(seed).shuffle(order)
test, rest = order[:1000], order[1000:]
validation, train = rest[:round(0.05 * len(rows))], rest[round(0.05 * len(rows)):]
os.makedirs(out, exist_ok=True)
for name, part in (("train", train), ("validation", validation), ("test", test)):
    with open(os.path.join(out, f"agnews-{name}.csv"), "w", newline="", encoding="utf-8") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows[i] for i in sorted(part))
    print(name, len(part))
