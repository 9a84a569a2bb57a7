#!/bin/bash
# The longer runs of docs/results.md, two processes at once with one thread each:
#   AG News headlines, 10 epochs on explicit seeded splits (tools/seq2seq/agnews-splits.py), validation every 2 epochs;
#   Multi30k de->en, all 29,000 pairs, 3 epochs, validation (greedy) every epoch;
#   then AG News with shared weights (--tie-encoder-decoder), two threads; then that with weight decay 0.1; then that
#   with a copy layer (--copy-from-source).
# Usage: tools/seq2seq/long-runs.sh [FINETUNE] [WORKDIR]   (from the repository root; data from ../shared/data)
root="$(cd "$(dirname "$0")/../.." && pwd)"
B="${1:-$root/src/FineTune.Cli/bin/Release/net10.0/linux-x64/FineTune.Cli}"
mkdir -p "${2:-runs/seq2seq}" && cd "${2:-runs/seq2seq}" || exit 1
S="$root/../shared/data"
python3 "$root/tools/seq2seq/agnews-splits.py" "$S/ag_news/test.csv" ag
echo "== start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -v "$B" train --task summarization --model all-MiniLM-L6-v2 \
  --data ag/agnews-train.csv --validation ag/agnews-validation.csv --test ag/agnews-test.csv --columns class,title,description \
  --source-column description --target-column title --seed 42 --epochs 10 --eval-strategy steps --eval-steps 390 --save-strategy steps --save-steps 390 \
  --batch-size 32 --eval-batch-size 64 --learning-rate 3e-4 --warmup-ratio 0.06 --precision bf16 --num-beams 4 --max-new-tokens 32 \
  --threads 1 --copy-from-source false --overwrite --output agnews10 > agnews10.log 2> agnews10.time &
D="$S/multi30k"
/usr/bin/time -v "$B" train --task translation --model all-MiniLM-L6-v2 --source-file $D/train.de.gz --target-file $D/train.en.gz \
  --validation $D/val.de.gz --test $D/test_2016_flickr.de.gz --epochs 3 --eval-strategy epoch --save-strategy epoch --batch-size 32 --eval-batch-size 64 \
  --learning-rate 3e-4 --warmup-ratio 0.06 --precision bf16 --num-beams 1 --threads 1 --overwrite --output m30k3 > m30k3.log 2> m30k3.time &
wait
# Then AG News again with shared weights (BERTShare), two threads alone.
/usr/bin/time -v "$B" train --task summarization --model all-MiniLM-L6-v2 \
  --data ag/agnews-train.csv --validation ag/agnews-validation.csv --test ag/agnews-test.csv --columns class,title,description \
  --source-column description --target-column title --seed 42 --epochs 10 --eval-strategy steps --eval-steps 390 --save-strategy steps --save-steps 390 \
  --batch-size 32 --eval-batch-size 64 --learning-rate 3e-4 --warmup-ratio 0.06 --precision bf16 --num-beams 4 --max-new-tokens 32 \
  --tie-encoder-decoder --threads 2 --copy-from-source false --overwrite --output agnews10tie > agnews10tie.log 2> agnews10tie.time
# Then the same with weight decay 0.1 and no repeated 3-grams in generation.
/usr/bin/time -v "$B" train --task summarization --model all-MiniLM-L6-v2 \
  --data ag/agnews-train.csv --validation ag/agnews-validation.csv --test ag/agnews-test.csv --columns class,title,description \
  --source-column description --target-column title --seed 42 --epochs 10 --eval-strategy steps --eval-steps 390 --save-strategy steps --save-steps 390 \
  --batch-size 32 --eval-batch-size 64 --learning-rate 3e-4 --warmup-ratio 0.06 --weight-decay 0.1 --precision bf16 --num-beams 4 --no-repeat-ngram-size 3 \
  --max-new-tokens 32 --tie-encoder-decoder --threads 2 --copy-from-source false --overwrite --output agnews10tie-wd > agnews10tie-wd.log 2> agnews10tie-wd.time
# Then the same with a copy layer (a pointer-generator over the source's tokens).
/usr/bin/time -v "$B" train --task summarization --model all-MiniLM-L6-v2 \
  --data ag/agnews-train.csv --validation ag/agnews-validation.csv --test ag/agnews-test.csv --columns class,title,description \
  --source-column description --target-column title --seed 42 --epochs 10 --eval-strategy steps --eval-steps 390 --save-strategy steps --save-steps 390 \
  --batch-size 32 --eval-batch-size 64 --learning-rate 3e-4 --warmup-ratio 0.06 --weight-decay 0.1 --precision bf16 --num-beams 4 --no-repeat-ngram-size 3 \
  --max-new-tokens 32 --tie-encoder-decoder --copy-from-source --threads 2 --overwrite --output agnews10copy > agnews10copy.log 2> agnews10copy.time
echo "== done $(date -u +%T)"
