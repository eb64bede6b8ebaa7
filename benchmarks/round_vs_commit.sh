#!/usr/bin/env bash
# One quickstart round, stage by stage, with two hindcast binaries alternating (docs/performance.md).
#
#   benchmarks/round_vs_commit.sh OLD_BIN OLD_SPEC NEW_BIN NEW_SPEC [REPS] [OUT_DIR]
#
# OLD_SPEC / NEW_SPEC are each binary's own pipeline spec (e.g. `git show a22ccdc:pipelines/quickstart.toml`
# and today's pipelines/quickstart.toml, with the same number of evaluation tasks). The script runs
# a 30-step pretraining with each (untimed; both models then write every attempt to max_tokens, so
# both generate the same number of tokens), then times round 0's rollout, feedback, rewrite,
# memory-update and distill and round 1's eval with /usr/bin/time, alternating old and new REPS
# times. It prints one TSV line per stage and run (wall, user, sys seconds) and the per-stage means.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n 2,11p "$0" >&2
  exit 2
fi
OLD_BIN=$1 OLD_SPEC=$2 NEW_BIN=$3 NEW_SPEC=$4 REPS=${5:-2}
OUT=${6:-$(mktemp -d /tmp/round-vs-commit.XXXXXX)}
mkdir -p "$OUT"
for side in old new; do
  src=$OLD_SPEC; [ $side = new ] && src=$NEW_SPEC
  sed -e 's/^steps = .*/steps = 30/' -e 's/^rounds = .*/rounds = 1/' "$src" >"$OUT/$side.toml"
done
table="$OUT/results.tsv"
printf 'rep\tbinary\tstage\twall\tuser\tsys\n' >"$table"
for rep in $(seq 1 "$REPS"); do
  for side in old new; do
    bin=$OLD_BIN; [ $side = new ] && bin=$NEW_BIN
    run="$OUT/run-$side-$rep"
    rm -rf "$run"
    "$bin" pretrain --run "$run" --spec "$OUT/$side.toml" >/dev/null 2>&1
    for stage in rollout feedback rewrite memory-update distill eval; do
      round=0; [ $stage = eval ] && round=1
      /usr/bin/time -f '%e\t%U\t%S' -o "$OUT/time.txt" "$bin" $stage --run "$run" --round $round >/dev/null 2>"$OUT/stderr.txt" ||
        { echo "$side $stage failed:" >&2; tail -5 "$OUT/stderr.txt" >&2; exit 1; }
      printf '%s\t%s\t%s\t%s\n' "$rep" "$side" "$stage" "$(cat "$OUT/time.txt")" >>"$table"
    done
  done
done
cat "$table"
echo
awk -F'\t' 'NR > 1 { key = $2 "\t" $3; cpu[key] += $5 + $6; wall[key] += $4; n[key]++ }
  END { for (k in cpu) printf "%s\tcpu %.2f\twall %.2f\n", k, cpu[k] / n[k], wall[k] / n[k] }' "$table" | sort
