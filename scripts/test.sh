#!/usr/bin/env bash
# Runs every test project against the real parts (PostgreSQL + pgvector, Chromium, ONNX Runtime, real photographs)
# and ends with the suite's totals alone on a line, for CI: "N passed, N failed" (skipped tests are counted on the line before).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="${1:-Release}"
shift || true
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

cd "$repo"
# The photo corpus is what every image test and benchmark stands on: a machine that builds a different one says so in
# one line here instead of as scattered assertion failures below.
if ! dotnet "$repo/src/Harvester.App/bin/$config/net10.0/harvester.dll" corpus --check; then
  echo
  echo "0 passed, 1 failed"
  exit 1
fi

dotnet test Harvester.sln -c "$config" --no-build --nologo "$@" 2>&1 | tee "$log"
rc="${PIPESTATUS[0]}"

# One summary line per test assembly: "Passed!  - Failed: 0, Passed: 12, Skipped: 0, Total: 12, ..."
read -r passed failed skipped < <(grep -E '^(Passed|Failed)! +- +Failed: ' "$log" | awk -F'[:,]' '
  { f += $2; p += $4; s += $6 } END { printf "%d %d %d\n", p, f, s }')
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # The run failed without a failed test (a crashed test host, a build error): count it, so CI cannot read it as green.
  failed=1
fi
echo
echo "${skipped} skipped"
echo "${passed} passed, ${failed} failed"
exit "$rc"
