#!/usr/bin/env python3
"""Makes samples/sms_spam/{train,test}.csv from the SMS Spam Collection v.1 (../shared/data/sms_spam).

The 5,574 messages are shuffled with a fixed seed; the first 1,000 become test.csv and the next 3,000 train.csv
(the rest is left out to keep the quickstart short). The CSV files have a header row "label,text" and RFC 4180 quoting.
Run from the repository root: python3 tools/samples/make_sms_spam.py
"""
import csv
import random
import sys
from pathlib import Path

source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/sms_spam/SMSSpamCollection")
out = Path("samples/sms_spam")
rows = []
with source.open(encoding="utf-8", newline="") as f:
    for line in f:
        line = line.rstrip("\n").rstrip("\r")
        label, text = line.split("\t", 1)
        rows.append((label, text))
assert len(rows) == 5574, len(rows)
random.Random(42).shuffle(rows)
for name, part in (("test.csv", rows[:1000]), ("train.csv", rows[1000:4000])):
    with (out / name).open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["label", "text"])
        w.writerows(part)
    print(name, len(part), sum(1 for r in part if r[0] == "spam"), "spam")
