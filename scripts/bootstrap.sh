#!/usr/bin/env bash
# Installs what Hindcast needs on a fresh Debian/Ubuntu machine, then returns.
#   scripts/bootstrap.sh          system libraries (OpenBLAS, zstd, pkg-config)
#   scripts/bootstrap.sh --test   also the Python packages the interop tests use (safetensors, numpy, openai)
# As root it installs with apt-get; otherwise it prints the exact command to run and stops.
set -euo pipefail

need=()
pkg-config --exists openblas 2>/dev/null || need+=(libopenblas-dev)
pkg-config --exists libzstd 2>/dev/null || need+=(libzstd-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v zstd >/dev/null 2>&1 || need+=(zstd)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bootstrap: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" pkg-config >/dev/null
  else
    echo "bootstrap: missing system packages: ${need[*]}" >&2
    echo "run: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--test" ]; then
  if ! python3 -c 'import safetensors, numpy' 2>/dev/null; then
    echo "bootstrap: installing Python packages safetensors, numpy (interop tests only)" >&2
    python3 -m pip install --quiet safetensors numpy
  fi
  if ! python3 -c 'import openai' 2>/dev/null; then
    echo "bootstrap: installing the Python package openai (tests of hindcast serve drive it with the official client)" >&2
    python3 -m pip install --quiet openai
  fi
fi
