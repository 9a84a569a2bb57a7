#!/usr/bin/env bash
# Kills a training run at N points (SIGKILL and SIGINT; at random times, while a checkpoint is written, while old
# checkpoints are rotated away, while the final model is saved), resumes it each time until it finishes, and checks
# that the result is byte-identical to an uninterrupted run (model.safetensors and metrics.json) and that nothing is
# left over (temporary, old or trash folders, the lock).
#
# Usage: tools/robustness/kill-resume.sh [N] [FINETUNE] [WORKDIR]
#   N         kills (default 8); they cycle through the kinds of kill point
#   FINETUNE  the tool (default: the Release build of src/FineTune.Cli in this checkout)
set -uo pipefail
set -m # background runs get SIGINT (a non-interactive shell would start them with it ignored)
root="$(cd "$(dirname "$0")/../.." && pwd)"
kills="${1:-8}"
ft="${2:-$root/src/FineTune.Cli/bin/Release/net10.0/linux-x64/FineTune.Cli}"
work="${3:-$(mktemp -d /tmp/finetune-kill.XXXXXX)}"
mkdir -p "$work" && cd "$work" || exit 1
head -n 401 "$root/samples/sms_spam/train.csv" > data.csv
args=(train --model all-MiniLM-L6-v2 --data data.csv --validation-split 0.1 --max-length 32 --batch-size 8 --threads 2
      --max-steps 30 --eval-strategy steps --eval-steps 5 --save-strategy steps --save-steps 5 --save-total-limit 2 --seed 7)

echo "reference run ..."
"$ft" "${args[@]}" --output reference > reference.log 2>&1 || { echo "the reference run failed"; cat reference.log; exit 1; }

kinds=(random checkpoint rotation final sigint)
failures=0
for ((k = 0; k < kills; k++)); do
  kind=${kinds[$((k % ${#kinds[@]}))]}
  run="run-$k"
  rm -rf "$run"
  "$ft" "${args[@]}" --output "$run" > "$run.log" 2>&1 &
  pid=$!
  start=$(date +%s.%N)
  point=""
  case $kind in
    random) r=$RANDOM; sleep "$(awk -v s=$r 'BEGIN { srand(s); printf "%.2f", 6 + rand() * 30 }')"; point="at $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" ;;
    checkpoint) pattern="$run/checkpoints/.checkpoint-*.tmp-*" ;;
    rotation) pattern="$run/checkpoints/.trash-*" ;;
    final) pattern="$run/.model.tmp-*" ;;
    sigint) r=$RANDOM; sleep "$(awk -v s=$r 'BEGIN { srand(s); printf "%.2f", 10 + rand() * 20 }')" ;;
  esac
  if [ "$kind" = checkpoint ] || [ "$kind" = rotation ] || [ "$kind" = final ]; then
    while kill -0 $pid 2>/dev/null; do
      if compgen -G "$pattern" > /dev/null; then point="while $(basename "$(compgen -G "$pattern" | head -n 1)") existed"; break; fi
      sleep 0.02
    done
  fi
  signal=KILL; [ "$kind" = sigint ] && signal=INT
  if kill -0 $pid 2>/dev/null; then kill -s $signal $pid; else point="(the run ended before the kill point)"; fi
  wait $pid; rc=$?
  [ "$kind" = sigint ] && point="SIGINT, exit $rc"
  # Resume until the run completes (a SIGKILL before the first checkpoint starts over).
  resumes=0
  while [ ! -f "$run/metrics.json" ] || [ ! -f "$run/model/model.safetensors" ] || [ "$rc" != 0 ]; do
    resumes=$((resumes + 1))
    if compgen -G "$run/checkpoints/checkpoint-*" > /dev/null; then
      "$ft" "${args[@]}" --output "$run" --resume "$run" >> "$run.log" 2>&1; rc=$?
    else
      "$ft" "${args[@]}" --output "$run" --overwrite >> "$run.log" 2>&1; rc=$?
    fi
    [ $resumes -ge 3 ] && break
  done
  same=yes
  cmp -s reference/model/model.safetensors "$run/model/model.safetensors" || same=NO
  cmp -s reference/metrics.json "$run/metrics.json" || same=NO
  left=$(find "$run" \( -name '.*.tmp-*' -o -name '.*.old-*' -o -name '.trash-*' -o -name '.finetune.lock' -o -name '.finetune.owner' \) | tr '\n' ' ')
  [ "$same" = yes ] && [ -z "$left" ] && [ "$rc" = 0 ] || failures=$((failures + 1))
  echo "kill $((k + 1)) ($kind $signal $point): resumed $resumes time(s), exit $rc, identical: $same, left over: ${left:-nothing}"
done
echo "$kills kills, $failures failed"
[ $failures = 0 ]
