#!/bin/bash
# Multi30k de->en: warm start vs random init, same budget; AG News headline generation vs lead baseline.
# Usage: tools/seq2seq/first-runs.sh [FINETUNE] [WORKDIR]   (from the repository root; data from ../shared/data)
root="$(cd "$(dirname "$0")/../.." && pwd)"
B="${1:-$root/src/FineTune.Cli/bin/Release/net10.0/linux-x64/FineTune.Cli}"
mkdir -p "${2:-runs/seq2seq}" && cd "${2:-runs/seq2seq}" || exit 1

D="$root/../shared/data/multi30k"
common=(--source-file $D/train.de.gz --target-file $D/train.en.gz --test $D/test_2016_flickr.de.gz
  --max-train-examples 8000 --epochs 1 --eval-strategy no --batch-size 32 --eval-batch-size 64 --learning-rate 1e-4
  --precision bf16 --num-beams 4 --save-strategy no --threads 2 --overwrite)
echo "== warm $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -v "$B" train --task translation --model all-MiniLM-L6-v2 "${common[@]}" --output m30k-warm > m30k-warm.log 2> m30k-warm.time
echo "== scratch $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -v "$B" train --task translation --model all-MiniLM-L6-v2 --from-scratch "${common[@]}" --output m30k-scratch > m30k-scratch.log 2> m30k-scratch.time
echo "== agnews $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -v "$B" train --task summarization --model all-MiniLM-L6-v2 \
  --data "$root/../shared/data/ag_news"/test.csv --columns class,title,description --source-column description --target-column title \
  --test-split 0.131578947 --validation-split 0.05 --seed 42 --epochs 1 --eval-strategy no --batch-size 32 --eval-batch-size 64 \
  --learning-rate 1e-4 --precision bf16 --num-beams 4 --max-new-tokens 32 --save-strategy no --threads 2 --copy-from-source false --overwrite --output agnews > agnews.log 2> agnews.time
echo "== done $(date -u +%T)"
