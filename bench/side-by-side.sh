#!/usr/bin/env bash
# Runs one benchmark at two commits side by side, alternating which goes first, so both see the same machine:
#
#   bench/side-by-side.sh BEFORE AFTER RUNS PROJECT [ARGS...]
#   bench/side-by-side.sh 5769c2c e24d72c 3 Harvester.Bench.Clustering 100000 512 100 20 5
#
# Each commit is checked out once into a worktree under $HARVESTER_SBS (default: /tmp/harvester-sbs/<commit>) and its
# bench/PROJECT built in Release there; every run's whole output goes to
# bench/results/side-by-side/<project>-<before>-vs-<after>/<commit>-run<N>.txt, and the script prints each run's last lines. The worktrees keep their own .harvester
# state (embedded PostgreSQL, caches), so neither side reads the other's.
set -euo pipefail
if [ "$#" -lt 4 ]; then
  echo "usage: bench/side-by-side.sh BEFORE AFTER RUNS PROJECT [ARGS...]" >&2
  exit 2
fi
before="$1" after="$2" runs="$3" project="$4"
shift 4
repo="$(cd "$(dirname "$0")/.." && pwd)"
root="${HARVESTER_SBS:-/tmp/harvester-sbs}"
out="$repo/bench/results/side-by-side"
mkdir -p "$root" "$out"
case "$runs" in ''|*[!0-9]*) echo "error: RUNS must be a number (was '$runs')" >&2; exit 2 ;; esac

prepare() {
  local commit sha dir
  commit="$1"
  sha="$(git -C "$repo" rev-parse --short=7 "$commit^{commit}")" || { echo "error: no commit '$commit'" >&2; exit 2; }
  dir="$root/$sha"
  if [ ! -d "$dir/.git" ] && [ ! -f "$dir/.git" ]; then
    git -C "$repo" worktree add --detach "$dir" "$sha" >/dev/null
  fi
  if [ ! -d "$dir/bench/$project" ]; then
    echo "error: $project does not exist at $sha" >&2
    exit 2
  fi
  # Detector and embedding models are the same files at both commits: share the checkout's (./harvester setup puts them there).
  mkdir -p "$dir/.harvester"
  if [ -d "$repo/.harvester/models" ] && [ ! -e "$dir/.harvester/models" ]; then
    ln -s "$repo/.harvester/models" "$dir/.harvester/models"
  fi
  # Peers (npm packages under bench/peers/*/node_modules) likewise: the checkout's installed copies.
  for peer in "$dir"/bench/peers/*/; do
    name="$(basename "$peer")"
    if [ -d "$repo/bench/peers/$name/node_modules" ] && [ ! -e "$peer/node_modules" ]; then
      ln -s "$repo/bench/peers/$name/node_modules" "$peer/node_modules"
    fi
  done
  echo "[side-by-side] building $project at $sha" >&2
  dotnet build "$dir/bench/$project" -c Release -v q -nologo >"$out/$project-$sha-build.txt" 2>&1 \
    || { echo "error: build of $project at $sha failed (see $out/$project-$sha-build.txt)" >&2; exit 1; }
  echo "$sha"
}

run() {
  local sha="$1" n="$2" dll log
  dll="$root/$sha/bench/$project/bin/Release/net10.0/$project.dll"
  log="$out/$sha-run$n.txt"
  echo "[side-by-side] $project at $sha, run $n: $*" >&2
  (cd "$root/$sha" && HARVESTER_HOME="$root/$sha/.harvester" /usr/bin/time -v -o "$log.time" dotnet "$dll" "${@:3}" >"$log" 2>&1) \
    || { echo "error: run $n at $sha failed (see $log)" >&2; exit 1; }
  echo "---- $sha run $n ($log)"
  tail -n 25 "$log"
  grep -E "Elapsed \(wall clock\)|Maximum resident set size" "$log.time" | sed 's/^\s*/  /'
  rm -f "$log.time"
}

a="$(prepare "$before")"
b="$(prepare "$after")"
out="$out/$project-$a-vs-$b"
mkdir -p "$out"
for n in $(seq 1 "$runs"); do
  if [ $((n % 2)) -eq 1 ]; then
    run "$a" "$n" "$@"; run "$b" "$n" "$@"
  else
    run "$b" "$n" "$@"; run "$a" "$n" "$@"
  fi
done
