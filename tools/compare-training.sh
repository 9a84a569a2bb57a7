#!/usr/bin/env bash
# Trains the same short run of every task with two builds of the tool and compares what they saved, byte for byte:
# model/model.safetensors and metrics.json. For refactorings that must not change a single weight.
#
#   tools/compare-training.sh BASELINE_REPO [OUT_DIR]
#
# BASELINE_REPO is a checkout of the commit to compare with, already built (dotnet build src/FineTune.Cli -c Release);
# this checkout is built first. Real data from ../shared/data, the packaged all-MiniLM-L6-v2, a few optimizer steps each.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
base="$(cd "$1" && pwd)"
out="${2:-$(mktemp -d)}"
data="$here/../shared/data"
mkdir -p "$out"
dotnet build "$here/src/FineTune.Cli" -c Release -v q -clp:NoSummary >/dev/null

# Small real slices: 200 CoNLL-2003 sentences (document lines dropped).
awk 'BEGIN{n=0} /^-DOCSTART-/{next} /^[[:space:]]*$/{if(prev!=""){print ""; n++; if(n==200) exit} prev=""; next} {print; prev=$0}' \
  "$data/conll2003/eng.train" > "$out/conll-200.txt"

declare -A runs=(
  [classification]="--data $here/samples/sms_spam/train.csv --test $here/samples/sms_spam/test.csv --validation-split 0.1 --max-train-examples 300 --max-length 48"
  [multi-label]="--task multi-label --data $data/goemotions/train.tsv --columns text,labels,id --quoting --label-column labels --validation-split 0.2 --max-train-examples 200 --max-length 48"
  [regression]="--task regression --data $data/stsb/train.tsv --validation $data/stsb/dev.tsv --text-column sentence1 --text-pair-column sentence2 --label-column score --max-train-examples 128 --max-length 64"
  [similarity]="--task similarity --data $data/stsb/train.tsv --validation $data/stsb/dev.tsv --text-column sentence1 --text-pair-column sentence2 --label-column score --score-scale 5 --max-train-examples 128 --max-length 64"
  [ner]="--task ner --data $out/conll-200.txt --validation-split 0.2 --max-length 64"
  [qa]="--task qa --data $data/xquad/xquad.en.json --test-split 0.2 --max-train-examples 48 --max-length 192 --doc-stride 64"
)
status=0
for task in classification multi-label regression similarity ner qa; do
  for side in base new; do
    repo=$([ "$side" = base ] && echo "$base" || echo "$here")
    rm -rf "$out/$task-$side"
    # shellcheck disable=SC2086
    dotnet "$repo/src/FineTune.Cli/bin/Release/net10.0/linux-x64/FineTune.Cli.dll" train --model all-MiniLM-L6-v2 ${runs[$task]} \
      --max-steps 12 --batch-size 16 --seed 7 --save-strategy no --output "$out/$task-$side" >"$out/$task-$side.log" 2>&1 \
      || { echo "$task ($side): the run failed, see $out/$task-$side.log"; status=1; continue 2; }
  done
  for file in model/model.safetensors metrics.json; do
    if cmp -s "$out/$task-base/$file" "$out/$task-new/$file"; then
      echo "$task: $file identical ($(sha256sum < "$out/$task-new/$file" | cut -c1-16))"
    else
      echo "$task: $file DIFFERS"; status=1
    fi
  done
done
exit $status
