#!/usr/bin/env python3
"""Word-pair overlap of generated summaries with their references, as docs/results.md counts it.

Usage: bigrams.py RUN/predictions-test.csv [lead:K:RUN/predictions-test.csv ...]
Each file is a predictions CSV written by finetune train or evaluate (columns source, target, generated);
"lead:K:FILE" scores the first K whitespace-separated words of each source instead of the generated text.
Words as rouge-score's tokenizer makes them (lowercased runs of [a-z0-9]), without stemming. Prints the words per
output, the reference pairs recovered (recall), the generated pairs that are right (precision, clipped counts), and
the share of generated pairs that also occur in the source.
"""
import csv
import re
import sys


def words(text):
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def pairs(tokens):
    return [tuple(tokens[i:i + 2]) for i in range(len(tokens) - 1)]


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


if len(sys.argv) < 2:
    fail("give one or more predictions CSV files (or lead:K:FILE); see the top of this file")
for arg in sys.argv[1:]:
    lead = None
    path = arg
    if arg.startswith("lead:"):
        parts = arg.split(":", 2)
        if len(parts) < 3 or not parts[1].isdigit() or int(parts[1]) < 1:
            fail(f"{arg}: expected lead:K:FILE with K a positive whole number")
        lead, path = int(parts[1]), parts[2]
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    missing = [c for c in ("source", "target", "generated") if not rows or c not in rows[0]]
    if missing:
        fail(f"{path}: no rows with the columns source, target and generated (missing: {', '.join(missing)})")
    if lead:
        for r in rows:
            r["generated"] = " ".join(r["source"].split()[:lead])
    right = reference = generated = from_source = output_words = 0
    for r in rows:
        source = set(pairs(words(r["source"])))
        wanted = {}
        for p in pairs(words(r["target"])):
            wanted[p] = wanted.get(p, 0) + 1
            reference += 1
        out = pairs(words(r["generated"]))
        output_words += len(words(r["generated"]))
        for p in out:
            if wanted.get(p, 0) > 0:
                right += 1
                wanted[p] -= 1
        generated += len(out)
        from_source += sum(1 for p in out if p in source)
    print(f"{arg}: {len(rows)} rows, words per output {output_words / len(rows):.2f}, pair recall {right / reference:.4f}, "
          f"pair precision {right / max(generated, 1):.4f}, generated pairs also in the source {from_source / max(generated, 1):.4f}")
