#!/usr/bin/env bash
# The README's main job: the quickstart pipeline on the embedded model, then a short comparison
# of learning from feedback (sdpo) against scalar reward (grpo, rft) from the same base policy.
# Usage: scripts/quickstart.sh PATH/TO/hindcast
# Running it again resumes (or, when everything is finished, just prints the tables again).
set -euo pipefail
bin="$1"
run="runs/quickstart"
"$bin" run pipelines/quickstart.toml --run "$run"
echo
"$bin" status --run "$run"
echo
echo "experiential memory (hindcast memory ls --run $run):"
"$bin" memory ls --run "$run" --sort value --limit 8
echo
echo "short comparison at equal environment calls (pipelines/experiment-quick.toml):"
"$bin" experiment pipelines/experiment-quick.toml --out runs/experiment-quick --jobs 1
