#!/usr/bin/env python3
"""Converts the TREC question-classification files (../shared/data/trec) into TSV files that finetune reads.

Each source line is "COARSE:fine question tokens". The output has a header row "label<TAB>fine<TAB>text": label is
the coarse class (6: ABBR DESC ENTY HUM LOC NUM), fine the coarse:fine class (50). The source files are ASCII but for
one byte (0xF0, line 66 of train_5500.label), so they are read as Latin-1. Nothing is dropped: the script checks the
official counts (train 5,452, test 500).
Run from the repository root: python3 tools/samples/make_trec.py [SOURCE_DIR] [OUT_DIR]
then, for example:
  finetune train --data runs/data/trec/train.tsv --test runs/data/trec/test.tsv --validation-split 0.1 --output runs/trec
"""
import sys
from pathlib import Path

source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/trec")
out = Path(sys.argv[2] if len(sys.argv) > 2 else "runs/data/trec")
out.mkdir(parents=True, exist_ok=True)
for name, target, expected in (("train_5500.label", "train.tsv", 5452), ("TREC_10.label", "test.tsv", 500)):
    rows = []
    with (source / name).open(encoding="latin-1", newline="") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            label, _, text = line.partition(" ")
            coarse, colon, fine = label.partition(":")
            if not colon or not text or "\t" in text:
                sys.exit(f"{source / name}, line {number}: expected 'COARSE:fine text', got {line!r}")
            rows.append((coarse, label, text))
    if len(rows) != expected:
        sys.exit(f"{source / name}: {len(rows)} questions, expected {expected}")
    with (out / target).open("w", encoding="utf-8", newline="\n") as f:
        f.write("label\tfine\ttext\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    print(out / target, len(rows), "questions,", len({r[0] for r in rows}), "coarse,", len({r[1] for r in rows}), "fine labels")
