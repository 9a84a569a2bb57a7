#!/usr/bin/env python3
"""Reads an explanations.jsonl written by `finetune explain` and says in how many inputs a word (the planted token)
has the largest attribution of the explained output.

usage: python3 tools/shortcut/rank.py EXPLANATIONS_JSONL [--token quartz]"""
import argparse
import json

parser = argparse.ArgumentParser()
parser.add_argument("jsonl")
parser.add_argument("--token", default="quartz")
args = parser.parse_args()
total = first = 0
ranks = []
for line in open(args.jsonl, encoding="utf-8"):
    e = json.loads(line)
    words = e["words"]
    if not words:
        continue
    total += 1
    order = sorted(words, key=lambda w: -w["attribution"])
    rank = next((i + 1 for i, w in enumerate(order) if w["word"].lower() == args.token), None)
    ranks.append(rank)
    if rank == 1:
        first += 1
print(f"'{args.token}' has the largest attribution in {first} of {total} inputs ({first / total:.1%})")
found = [r for r in ranks if r is not None]
if found:
    print(f"its rank: median {sorted(found)[len(found) // 2]}, worst {max(found)}; absent from {len(ranks) - len(found)} inputs")
