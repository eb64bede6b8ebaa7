#!/usr/bin/env bash
# Memory store benchmark: append throughput, open time of a 1M-event store (from the log and
# from a snapshot), compaction, and compression with and without a trained dictionary.
# Usage: benchmarks/memory/run.sh [extra 'hindcast memory bench' options]
# Writes benchmarks/memory/results.txt (the table plus the machine and its load).
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product hindcast
BIN="$(swift build -c release --show-bin-path)/hindcast"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BIN" memory bench --dir "$SCRATCH" "$@"
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee benchmarks/memory/results.txt
