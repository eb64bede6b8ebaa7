#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Fuzz/Package.swift) with -sanitize=fuzzer,address and runs each.
#
#   Fuzz/run.sh                      smoke: every harness for 10 s (FUZZ_SECONDS), as `make test` does
#   Fuzz/run.sh --runs 1000000       every harness for at least a million executions
#   Fuzz/run.sh FuzzSpec ...         only the named harnesses
#
# Seeds come from Fuzz/Corpus/NAME (committed; never written to). New inputs go to a scratch
# corpus under Fuzz/.build/corpus/NAME, crashes to Fuzz/.build/crashes/. Exit status is non-zero
# when a harness finds a crash, a sanitizer report or a leak.
set -euo pipefail
cd "$(dirname "$0")"
SWIFT=${SWIFT:-swift}
SECONDS_EACH=${FUZZ_SECONDS:-10}
RUNS=""
HARNESSES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    *) HARNESSES+=("$1"); shift ;;
  esac
done
if [ ${#HARNESSES[@]} -eq 0 ]; then
  HARNESSES=(FuzzSpec FuzzShard FuzzJSON FuzzSafeTensors FuzzCheckerOutput FuzzMemoryLog)
fi
FLAGS=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing)
start=$(date +%s)
$SWIFT build "${FLAGS[@]}" 2>&1 | grep -v "warning: Cannot export local symbol" | tail -3
BIN=$($SWIFT build "${FLAGS[@]}" --show-bin-path)
echo "fuzz: built in $(( $(date +%s) - start )) s"
mkdir -p .build/crashes
status=0
for name in "${HARNESSES[@]}"; do
  scratch=.build/corpus/$name
  mkdir -p "$scratch" "Corpus/$name"
  limit=(-max_total_time="$SECONDS_EACH")
  if [ -n "$RUNS" ]; then limit=(-runs="$RUNS"); fi
  log=.build/$name.log
  if ASAN_OPTIONS=detect_leaks=1 "$BIN/$name" "$scratch" "Corpus/$name" "${limit[@]}" -max_len=65536 \
    -rss_limit_mb=2048 -timeout=10 -artifact_prefix=.build/crashes/"$name"- -print_final_stats=1 >"$log" 2>&1
  then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $name ok, $runs executions"
  else
    echo "fuzz: $name FAILED; see Fuzz/$log and Fuzz/.build/crashes/"
    grep -E "ERROR|SUMMARY|Fatal error|==[0-9]+==" "$log" | head -5
    status=1
  fi
done
exit $status
