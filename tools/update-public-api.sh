#!/usr/bin/env bash
# Updates src/FineTune/PublicAPI.Unshipped.txt to the library's current public API, from the build's diagnostics
# (RS0016: a public symbol the files do not declare; RS0017: a declared symbol that is gone). Review the diff: every
# line is a promise to users.
set -euo pipefail
cd "$(dirname "$0")/.."
project=src/FineTune/FineTune.csproj
file=src/FineTune/PublicAPI.Unshipped.txt
log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet build "$project" -c Release -v q -clp:NoSummary >"$log" 2>&1 || true
python3 - "$file" "$log" <<'PY'
import re, sys
path, log = sys.argv[1], open(sys.argv[2]).read()
added = set(re.findall(r"error RS0016: Symbol '(.+?)' is not part of the declared public API", log))
removed = set(re.findall(r"error RS0017: Symbol '(.+?)' is part of the declared API, but is either not public or could not be found", log))
lines = [l.rstrip("\n") for l in open(path)]
header = [l for l in lines if l.startswith("#")] or ["#nullable enable"]
entries = (set(l for l in lines if l and not l.startswith("#")) | added) - removed
open(path, "w").write("\n".join(header + sorted(entries, key=str.lower)) + "\n")
print(f"{len(added)} added, {len(removed)} removed, {len(entries)} declared in {path}")
PY
