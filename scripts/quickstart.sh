#!/usr/bin/env bash
# The README's main job: the quickstart pipeline on the embedded model.
# Usage: scripts/quickstart.sh PATH/TO/hindcast [RUN_DIR]
# Running it again resumes (or, when finished, just prints the table again).
set -euo pipefail
bin="$1"
run="${2:-runs/quickstart}"
"$bin" run pipelines/quickstart.toml --run "$run"
echo
"$bin" status --run "$run"
echo
echo "experiential memory (hindcast memory ls --run $run):"
"$bin" memory ls --run "$run" --sort value --limit 8
