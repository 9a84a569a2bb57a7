#!/usr/bin/env bash
# Runs the tool on bad inputs, bad option values, shared and broken output folders and full disks, and prints one
# table row per case: the exit code, how many lines went to stderr, whether a stack trace showed, the first stderr
# line, and what a failed run left in its output folder.
#
# Usage: tools/robustness/cases.sh [FINETUNE] [WORKDIR]
#   FINETUNE  the tool to run (default: the Release build of src/FineTune.Cli in this checkout)
#   WORKDIR   scratch folder (default: a new folder under /tmp); the disk-full cases mount tmpfs there (root only)
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
ft="${1:-$root/src/FineTune.Cli/bin/Release/net10.0/linux-x64/FineTune.Cli}"
work="${2:-$(mktemp -d /tmp/finetune-cases.XXXXXX)}"
mkdir -p "$work"
cd "$work" || exit 1
export FINETUNE_NO_COLOR=1

# ---- data ----------------------------------------------------------------------------------------------------------
spam="$root/samples/sms_spam/train.csv"
head -n 201 "$spam" > small.csv
{ echo "label,text"; grep '^ham,' "$spam" | head -n 100; } > one-class.csv
{ echo "label,text"; tail -n +2 "$spam" | head -n 100 | awk -F, '{ sub(/^[^,]*,/, ""); print NR "," $0 }'; } > all-different.csv
{ echo "label,text"; tail -n +2 "$spam" | head -n 100 | sed 's/^[^,]*,/2.5,/'; } > constant.csv
{ echo "label,text"; tail -n +2 "$spam" | head -n 60; printf 'ham,caf\xe9 au lait \xff\xfe tonight\n'; tail -n +62 "$spam" | head -n 40; } > latin1.csv
head -c 3000 /bin/ls > binary.csv
mkdir -p a-directory.csv
: > empty.csv
echo "label,text" > header-only.csv
printf 'text\nhello there\nhow are you\n' > inputs.csv
# STS-B pairs with 0–5 scores.
{ printf 'sentence1\tsentence2\tscore\n'; tail -n +2 /work/shared/data/stsb/train.tsv 2>/dev/null | head -n 100 | awk -F'\t' '{ print $8 "\t" $9 "\t" $10 }'; } > sts.tsv
if [ ! -f small.parquet ]; then
  head -n 101 "$spam" > p.csv
  (cd "$root/tools/robustness" && dotnet run write-parquet.cs -- "$work/p.csv" "$work/small.parquet" >/dev/null 2>&1)
  cp small.parquet truncated.parquet 2>/dev/null && truncate -s 700 truncated.parquet
  # Damage the footer (the schema and row-group metadata) but keep the magic bytes at both ends.
  cp small.parquet corrupt.parquet 2>/dev/null && printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' | dd of=corrupt.parquet bs=1 seek=$(( $(stat -c %s small.parquet) - 60 )) conv=notrunc 2>/dev/null
fi

train=(train --model all-MiniLM-L6-v2 --max-length 32 --batch-size 8 --eval-batch-size 64 --threads 2)
# The same without --max-length and --threads, for the cases that give their own.
train_free=(train --model all-MiniLM-L6-v2 --batch-size 8 --eval-batch-size 64)

echo "| # | case | exit | stderr lines | trace | first stderr line | left in output |"
echo "|---|---|---|---|---|---|---|"
n=0
# run_case DESCRIPTION OUTPUT_DIR_OR_- ARGS...
run_case() {
  local what="$1" out="$2"; shift 2
  n=$((n + 1))
  "$ft" "$@" > "case-$n.out" 2> "case-$n.err"
  local rc=$?
  report "$what" "$out" "$rc"
}
report() {
  local what="$1" out="$2" rc="$3"
  local lines trace first left="-"
  lines=$(wc -l < "case-$n.err")
  trace=$(grep -c '^ *at ' "case-$n.err")
  [ "$trace" -gt 0 ] && trace=yes || trace=no
  first=$(head -n 1 "case-$n.err" | LC_ALL=C tr -c '[:print:]' '?' | cut -c1-150 | sed 's/|/\\|/g')
  if [ "$out" != "-" ] && [ "$rc" != 0 ]; then
    if [ -e "$out" ]; then left=$(cd "$(dirname "$out")" && find "$(basename "$out")" -mindepth 1 -maxdepth 2 | head -n 6 | tr '\n' ' '); [ -z "$left" ] && left="(empty)"; else left="(none)"; fi
  fi
  echo "| $n | $what | $rc | $lines | $trace | $first | $left |"
}

# ---- run folders ---------------------------------------------------------------------------------------------------
"$ft" "${train[@]}" --data small.csv --max-steps 7 --save-strategy steps --save-steps 3 --output rerun > /dev/null 2>&1
run_case "re-run into a finished run's folder (--max-steps 4 --save-steps 2)" - "${train[@]}" --data small.csv --max-steps 4 --save-strategy steps --save-steps 2 --output rerun
echo "|   | … checkpoints afterwards | | | | $(ls rerun/checkpoints 2>/dev/null | tr '\n' ' ') | |"
run_case "re-run with --overwrite" - "${train[@]}" --data small.csv --max-steps 4 --save-strategy steps --save-steps 2 --output rerun --overwrite
echo "|   | … checkpoints afterwards | | | | $(ls rerun/checkpoints 2>/dev/null | tr '\n' ' ') | |"
# Two runs into one folder at once: the second starts while the first trains.
n=$((n + 1)); first_n=$n
"$ft" "${train[@]}" --data small.csv --max-steps 30 --output concurrent > "case-$n.out" 2> "case-$n.err" &
pid=$!
sleep 8
n=$((n + 1))
"$ft" "${train[@]}" --data small.csv --max-steps 30 --output concurrent > "case-$n.out" 2> "case-$n.err"
rc2=$?
report "two runs into one folder: the second" - "$rc2"
wait $pid; rc1=$?
second=$n; n=$first_n; report "two runs into one folder: the first" - "$rc1"; n=$second
run_case "--resume a folder that does not exist" resume-missing "${train[@]}" --data small.csv --max-steps 2 --resume no-such/checkpoint-000003 --output resume-missing
run_case "--resume a folder that is not a checkpoint" resume-bad "${train[@]}" --data small.csv --max-steps 2 --resume a-directory.csv --output resume-bad
echo hello > a-file
run_case "--output is an existing file" - "${train[@]}" --data small.csv --max-steps 2 --output a-file
run_case "--output under /proc" - "${train[@]}" --data small.csv --max-steps 2 --output /proc/finetune-run
if [ "$(id -u)" = 0 ] && mkdir -p ro && mount -t tmpfs -o ro,size=1m tmpfs ro 2>/dev/null; then
  run_case "--output on a read-only file system" - "${train[@]}" --data small.csv --max-steps 2 --output ro/run
  umount ro
fi

# ---- option values -------------------------------------------------------------------------------------------------
run_case "--validation-split -0.1" opt1 "${train[@]}" --data small.csv --max-steps 2 --validation-split -0.1 --output opt1
run_case "--validation-split 1.5" opt2 "${train[@]}" --data small.csv --max-steps 2 --validation-split 1.5 --output opt2
run_case "--validation-split 0.6 --test-split 0.6" opt3 "${train[@]}" --data small.csv --max-steps 2 --validation-split 0.6 --test-split 0.6 --output opt3
run_case "--validation-split 0.999" opt4 "${train[@]}" --data small.csv --max-steps 2 --validation-split 0.999 --output opt4
run_case "--max-train-examples 0" opt5 "${train[@]}" --data small.csv --max-steps 2 --max-train-examples 0 --output opt5
run_case "--text-column ''" opt6 "${train[@]}" --data small.csv --max-steps 2 --text-column '' --output opt6
run_case "--metric-for-best nonsense" opt7 "${train[@]}" --data small.csv --max-steps 2 --validation-split 0.2 --metric-for-best nonsense --output opt7
run_case "--learning-rate abc" opt8 "${train[@]}" --data small.csv --learning-rate abc --output opt8
run_case "--threads 0" opt9 "${train_free[@]}" --max-length 32 --data small.csv --max-steps 2 --threads 0 --output opt9
run_case "an unknown option" opt10 "${train[@]}" --data small.csv --no-such-option --output opt10
run_case "--max-length 5" opt11 "${train_free[@]}" --threads 2 --data small.csv --max-steps 2 --max-length 5 --output opt11
run_case "--encoding klingon" opt12 "${train[@]}" --data small.csv --max-steps 2 --encoding klingon --output opt12

# ---- data ----------------------------------------------------------------------------------------------------------
run_case "a directory as --data" data1 "${train[@]}" --data a-directory.csv --max-steps 2 --output data1
run_case "a binary file as --data" data2 "${train[@]}" --data binary.csv --max-steps 2 --output data2
run_case "an empty file" data3 "${train[@]}" --data empty.csv --max-steps 2 --output data3
run_case "a header and no rows" data4 "${train[@]}" --data header-only.csv --max-steps 2 --output data4
run_case "invalid UTF-8 (Latin-1 bytes)" data5 "${train[@]}" --data latin1.csv --max-steps 2 --output data5
run_case "… with --encoding latin-1" data6 "${train[@]}" --data latin1.csv --max-steps 2 --encoding latin-1 --output data6
run_case "… with --replace-invalid-utf8" data7 "${train[@]}" --data latin1.csv --max-steps 2 --replace-invalid-utf8 --output data7
run_case "a truncated Parquet file" data8 "${train[@]}" --data truncated.parquet --max-steps 2 --output data8
run_case "a corrupt Parquet file" data9 "${train[@]}" --data corrupt.parquet --max-steps 2 --output data9
run_case "one class in the training data" data10 "${train[@]}" --data one-class.csv --max-steps 2 --output data10
run_case "as many classes as rows" data11 "${train[@]}" --data all-different.csv --max-steps 2 --output data11
run_case "regression on a constant target" data12 "${train[@]}" --task regression --data constant.csv --max-steps 2 --output data12
run_case "similarity on 0–5 scores, no --score-scale" data13 "${train[@]}" --task similarity --data sts.tsv --text-column sentence1 --text-pair-column sentence2 --label-column score --max-steps 2 --score-scale 1 --output data13
# A vocabulary that maps nearly every word to [UNK]: the packaged model with only the first 1,000 vocabulary entries.
"$ft" models import all-MiniLM-L6-v2 --output unk-model > /dev/null 2>&1
if [ -f unk-model/vocab.txt ]; then
  head -n 1000 unk-model/vocab.txt > v && mv v unk-model/vocab.txt && rm -f unk-model/tokenizer.json
  run_case "a vocabulary that makes most words [UNK]" data14 train --model unk-model --max-length 32 --batch-size 8 --threads 2 --data small.csv --max-steps 2 --output data14
fi

# ---- saved models --------------------------------------------------------------------------------------------------
"$ft" "${train[@]}" --data small.csv --max-steps 2 --save-strategy no --output model-run > /dev/null 2>&1
run_case "predict --max-length 0" - predict --model model-run/model --input inputs.csv --output p.csv --max-length 0
run_case "predict --batch-size 0" - predict --model model-run/model --input inputs.csv --output p.csv --batch-size 0
run_case "predict with a model folder that does not exist" - predict --model no-such-model --input inputs.csv --output p.csv
run_case "evaluate --batch-size -1" - evaluate --model model-run/model --data small.csv --batch-size -1
run_case "embed --batch-size 0" - embed --input inputs.csv --output e.jsonl --batch-size 0

# ---- full disks ----------------------------------------------------------------------------------------------------
if [ "$(id -u)" = 0 ] && mkdir -p disk && mount -t tmpfs -o size=150m tmpfs disk 2>/dev/null; then
  run_case "150 MB disk, checkpoints every 2 steps" disk/run1 "${train[@]}" --data small.csv --max-steps 4 --save-strategy steps --save-steps 2 --output disk/run1
  echo "|   | … disk afterwards | | | | $(df -m disk | awk 'NR==2 { print $3 " MB used" }') | |"
  rm -rf disk/* disk/.[!.]* 2>/dev/null
  run_case "150 MB disk, no checkpoints" disk/run2 "${train[@]}" --data small.csv --max-steps 4 --save-strategy no --output disk/run2
  rm -rf disk/* disk/.[!.]* 2>/dev/null
  # The disk fills up while the run trains: 100 MB are taken after the run started (before its final save).
  n=$((n + 1))
  "$ft" "${train[@]}" --data small.csv --max-steps 40 --save-strategy no --output disk/run3 > "case-$n.out" 2> "case-$n.err" &
  pid=$!
  sleep 10
  fallocate -l 100M disk/filler 2>/dev/null || head -c 100M /dev/zero > disk/filler
  wait $pid
  report "150 MB disk filled to 50 MB free during training" disk/run3 $?
  umount disk
fi
