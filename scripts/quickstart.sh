#!/usr/bin/env bash
# The README's main job. Usage: scripts/quickstart.sh PATH/TO/hindcast
set -euo pipefail
bin="$1"
"$bin" --help
