#!/usr/bin/env bash
# Runs the kernel tests (the library's kernels, fused ops and autograd functions against libtorch or a reference,
# and the other tests that compare numerics with a tolerance) N times in a row with libtorch on a chosen number of
# threads, and counts the runs that failed and the tests that failed in them.
#
#   tools/kernel-test-loop.sh [runs] [threads]     # defaults: 50 runs, 2 threads
#
# Build first (dotnet build FineTune.slnx -c Release); the runs use --no-build.
# The thread count: the process is pinned to the first `threads` processors (taskset), so that .NET's
# Environment.ProcessorCount (TorchRuntime.SetThreads' default) and OpenMP's default (libtorch's intra-op thread
# count) both see that many, and OMP_NUM_THREADS says the same. Extra variables: FILTER replaces the test filter;
# LOG (a folder) keeps each run's output.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}
threads=${2:-2}
filter=${FILTER:-"FullyQualifiedName~FineTune.Tests.Modeling.KernelTests|FullyQualifiedName~FineTune.Tests.Modeling.ResidualLayerNormTests|FullyQualifiedName~FineTune.Tests.Training.FusedAdamWTests|FullyQualifiedName~FineTune.Tests.Runtime.AutogradNodesTests|FullyQualifiedName~FineTune.Tests.Runtime.AutocastTests|FullyQualifiedName~FineTune.Tests.Modeling.EncoderTests|FullyQualifiedName~FineTune.Tests.Modeling.PoolingTests|FullyQualifiedName~FineTune.Tests.Checkpoints.ParityTests"}
cpus=$(nproc --all)
if [ "$threads" -lt 1 ] || [ "$threads" -gt "$cpus" ]; then
  echo "threads must be 1 to $cpus" >&2
  exit 2
fi
log=${LOG:-$(mktemp -d)}
mkdir -p "$log"
failedRuns=0
declare -A failures=()
start=$(date +%s)
for ((i = 1; i <= runs; i++)); do
  out="$log/run-$i.txt"
  OMP_NUM_THREADS=$threads taskset -c "0-$((threads - 1))" \
    dotnet test tests/FineTune.Tests -c Release --no-build --filter "$filter" >"$out" 2>&1
  rc=$?
  summary=$(grep -E '^(Passed|Failed)!' "$out" | tail -n 1)
  if [ $rc -ne 0 ] || [ -z "$summary" ]; then
    failedRuns=$((failedRuns + 1))
    while read -r name; do
      [ -n "$name" ] && failures["$name"]=$(( ${failures["$name"]:-0} + 1 ))
    done < <(sed -nE 's/^\s*Failed (.*) \[[^]]*\]\s*$/\1/p' "$out")
    echo "run $i: FAILED ${summary:-(no summary, exit $rc)}"
  else
    echo "run $i: $summary"
  fi
done
elapsed=$(( $(date +%s) - start ))
echo "$runs runs with $threads thread(s): $failedRuns failed; ${elapsed}s in all ($(( elapsed / runs ))s a run); logs in $log"
for name in "${!failures[@]}"; do
  echo "  ${failures[$name]}x $name"
done
[ $failedRuns -eq 0 ]
