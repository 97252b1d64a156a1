#!/usr/bin/env bash
# make bench: every benchmark of the product, raw outputs in _output/bench,
# results with the machine described in bench/results.md (a group's last
# run is kept, so ONLY= reruns one group and rewrites the report). Knobs:
#   KILLS=20      failovers per configuration (BenchmarkFailover)
#   RUNS=5        provisionings per tier (BenchmarkProvisioning)
#   COUNT=5       repetitions of the in-process benchmarks (benchstat input)
#   ONLY=regex    run only the benchmarks matching it
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$root/bin:$PATH
out=$root/_output/bench
mkdir -p "$out" bench
KILLS=${KILLS:-20} RUNS=${RUNS:-5} COUNT=${COUNT:-5} ONLY=${ONLY:-.}

cpu() { echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"; }

run() { # run <name> <go test args...>: one benchmark group, its output kept
  local name=$1; shift
  if ! [[ $name =~ $ONLY ]]; then return 0; fi
  echo "== $name" >&2
  echo "# $name: run $(date -u +%FT%TZ) at commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' with uncommitted changes') on $(cpu)" > "$out/$name.summary"
  QUORUM_BENCH_OUT=$out/$name.summary go test -run '^$' "$@" 2>&1 | tee "$out/$name.txt"
}

run function -bench 'BenchmarkRunFunction' -benchmem -count "$COUNT" ./functions/xdatabase/
# One platform per group (each go test starts its own). -benchtime=Nx runs
# a benchmark once with N=1 and then with N=N: the single-shot ones use 1x.
run platform -bench 'BenchmarkCRDs|BenchmarkCompose1000|BenchmarkProvider|BenchmarkSteadyState' -benchtime 1x -timeout 90m ./test/bench/
run addresses -bench 'BenchmarkAddresses200' -benchtime 1x -timeout 30m ./test/bench/
run provisioning -bench 'BenchmarkProvisioning' -benchtime "${RUNS}x" -timeout 90m ./test/bench/
run failover -bench 'BenchmarkFailover' -benchtime "${KILLS}x" -timeout 3h ./internal/engine/postgresql/

# A group not run on this machine keeps the results bench/results.md has
# for it, so rerunning one group (ONLY=) on a fresh clone loses no other.
if [ -f bench/results.md ]; then
  for f in function platform addresses provisioning failover; do
    [ -f "$out/$f.summary" ] && continue
    awk -v g="$f" '/^## Summary/{s=1; next} s && /^```/{n++; if (n==2) exit; next}
      s && n==1 && /^# /{keep = (index($0, "# " g ":") == 1)} s && n==1 && keep' bench/results.md > "$out/$f.summary"
    [ -s "$out/$f.summary" ] || { rm -f "$out/$f.summary"; continue; }
    # Headers written before they named their machine: the old report's.
    old=$(sed -n 's/^- CPU: //p' bench/results.md | head -1)
    sed -i "/^# .* at commit [^ ]*\( with uncommitted changes\)\?\( (BenchmarkSteadyState alone)\)\?$/ s/\$/ on $old/" "$out/$f.summary"
    awk -v g="## $f" '$0==g{s=1; next} s && /^## /{exit} s && !/^```/ && NF' bench/results.md > "$out/$f.txt"
  done
fi

{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` (hack/bench.sh), $(date -u +%FT%TZ); each group's last run is kept (its time and commit head its summary lines)."
  echo "Raw \`go test -bench\` outputs (benchstat input) are in _output/bench/."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(cpu) (this run; each group's header names the machine it ran on)"
  echo "- Memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "- OS: $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "- $(go version | cut -d' ' -f3-), PostgreSQL $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}'), $(patroni --version), $(pgbackrest version), etcd $(etcd --version | awk '/etcd Version/{print $3}')"
  echo
  echo "## Summary"
  echo
  echo '```'
  for f in function platform addresses provisioning failover; do
    [ -f "$out/$f.summary" ] && cat "$out/$f.summary"
  done
  echo '```'
  for f in function platform addresses provisioning failover; do
    [ -f "$out/$f.txt" ] || continue
    echo
    echo "## $f"
    echo
    echo '```'
    grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$out/$f.txt" || true
    echo '```'
  done
  echo
  cat bench/METHOD.md
} > bench/results.md
echo "results: bench/results.md" >&2
