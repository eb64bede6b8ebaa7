#!/usr/bin/env python3
"""Hindcast vs PyTorch eager on the CPU, same model, same batch, alternating in one session.

Builds Hindcast's "bench" transformer in PyTorch (vocab 264, context 256, width 256, 4 layers,
4 heads, MLP 4x GELU tanh-approx, pre-LayerNorm, learned positions, tied embeddings: 3,292,672
parameters), measures training tokens/s (AdamW, gradient clipping, batch 16 x 256) and KV-cache
greedy decode tokens/s (64-token prompt, 128 new tokens, batch 1 and 32), and runs
`hindcast bench --json` in alternation with it, `--rounds` times each (the order flips every
round so drift cancels). Prints medians over rounds and the Hindcast / PyTorch ratios against the
targets of issue 2.

Not part of the test suite. Needs torch (`pip install torch==2.13.0+cpu`) and a release build of
hindcast (`swift build -c release --product hindcast`).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, CONTEXT, WIDTH, LAYERS, HEADS = 264, 256, 256, 4, 4

# Issue 2: training >= 1.2x PyTorch eager, decode >= 10x at batch 1 and >= 3x at batch 32.
TARGETS = {"training": 1.2, "decode_1": 10.0, "decode_32": 3.0}


class Block(nn.Module):
    def __init__(self, manual_attention):
        super().__init__()
        self.ln1 = nn.LayerNorm(WIDTH)
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.proj = nn.Linear(WIDTH, WIDTH)
        self.ln2 = nn.LayerNorm(WIDTH)
        self.fc = nn.Linear(WIDTH, 4 * WIDTH)
        self.fc_proj = nn.Linear(4 * WIDTH, WIDTH)
        self.manual_attention = manual_attention

    def attend(self, x, cache=None, position=0):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            keys, values = cache
            keys[:, :, position : position + t] = k
            values[:, :, position : position + t] = v
            k = keys[:, :, : position + t]
            v = values[:, :, : position + t]
        causal = t > 1
        if self.manual_attention:
            scores = (q @ k.transpose(-2, -1)) / (c // HEADS) ** 0.5
            if causal:
                mask = torch.ones(t, k.shape[2], dtype=torch.bool).tril(k.shape[2] - t)
                scores = scores.masked_fill(~mask, float("-inf"))
            y = scores.softmax(dim=-1) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal and position == 0)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x, cache=None, position=0):
        x = x + self.attend(self.ln1(x), cache, position)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, manual_attention=False):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, WIDTH)
        self.wpe = nn.Embedding(CONTEXT, WIDTH)
        self.blocks = nn.ModuleList(Block(manual_attention) for _ in range(LAYERS))
        self.lnf = nn.LayerNorm(WIDTH)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / (2 * LAYERS) ** 0.5 if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, tokens, caches=None, position=0):
        t = tokens.shape[1]
        x = self.wte(tokens) + self.wpe(torch.arange(position, position + t))
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i], position)
        return self.lnf(x) @ self.wte.weight.T  # tied output embedding


def train_tokens_per_second(model, batch, seq, steps, warmup, generator):
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    other = [p for n, p in model.named_parameters() if p.dim() != 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
        lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    data = [torch.randint(0, 256, (batch, seq + 1), generator=generator) for _ in range(2)]
    times = []
    for i in range(warmup + steps):
        x = data[i % 2]
        start = time.perf_counter()
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), x[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    step = statistics.median(times)
    return {"tokens_per_second": batch * seq / step, "step_seconds": step, "loss": loss.item()}


@torch.inference_mode()
def generate(model, prompts, new_tokens):
    """Greedy decoding with a preallocated per-layer KV cache; returns the generated ids."""
    b, t = prompts.shape
    shape = (b, HEADS, t + new_tokens, WIDTH // HEADS)
    caches = [(torch.empty(shape), torch.empty(shape)) for _ in range(LAYERS)]
    logits = model(prompts, caches, 0)
    token = logits[:, -1].argmax(dim=-1, keepdim=True)
    out = [token]
    for step in range(1, new_tokens):
        logits = model(token, caches, t + step - 1)
        token = logits[:, -1].argmax(dim=-1, keepdim=True)
        out.append(token)
    return torch.cat(out, dim=1)


def decode_tokens_per_second(model, batch, prompt, new_tokens, repeats, generator):
    """As Hindcast's DecodeBenchmark: median of prefill-only runs (prompt + first token) and of
    full runs; decode rate = batch * (new_tokens - 1) / (full - prefill)."""
    prompts = torch.randint(0, 256, (batch, prompt), generator=generator)
    generate(model, prompts, new_tokens)
    prefill, full = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        generate(model, prompts, 1)
        prefill.append(time.perf_counter() - start)
        start = time.perf_counter()
        generate(model, prompts, new_tokens)
        full.append(time.perf_counter() - start)
    seconds = max(statistics.median(full) - statistics.median(prefill), 1e-9)
    return {
        "decode_tokens_per_second": batch * (new_tokens - 1) / seconds,
        "milliseconds_per_step": seconds / (new_tokens - 1) * 1000,
    }


def run_pytorch(args, model, round_index):
    generator = torch.Generator().manual_seed(round_index)
    result = {"training": train_tokens_per_second(model, args.batch, args.seq, args.steps, 2, generator)}
    if args.training_only:
        return result
    model.eval()
    for b in args.decode_batches:
        result[f"decode_{b}"] = decode_tokens_per_second(
            model, b, args.prompt, args.new_tokens, args.repeats, generator)
    model.train()
    return result


def cpu_idle_fraction(seconds=2.0):
    """Fraction of all CPUs' time spent idle over `seconds` (from /proc/stat; 1.0 elsewhere)."""
    def sample():
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total
    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except OSError:
        return 1.0
    return (idle1 - idle0) / max(total1 - total0, 1e-9)


def wait_until_quiet(threshold, timeout):
    """Polls until the machine is at least `threshold` idle (or `timeout` seconds pass); returns
    the last idle fraction seen and the seconds waited."""
    start = time.perf_counter()
    while True:
        idle = cpu_idle_fraction()
        waited = time.perf_counter() - start
        if idle >= threshold or waited >= timeout:
            return idle, waited


def run_hindcast(args, with_gemm):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "bench.json")
        command = [
            args.hindcast, "bench", "--model", "bench", "--threads", str(args.threads),
            "--batch", str(args.batch), "--seq", str(args.seq), "--steps", str(args.steps),
            "--repeats", str(args.repeats), "--prompt", str(args.prompt),
            "--new-tokens", str(args.new_tokens),
            "--decode-batches", ",".join(str(b) for b in args.decode_batches), "--json", path,
        ]
        if args.training_only:
            command += ["--only", "train", "--no-gemm-replay"]
        elif not with_gemm:
            command += ["--only", "train", "--only", "decode"]
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if completed.returncode != 0:
            sys.exit(f"hindcast bench failed ({completed.returncode}): {' '.join(command)}")
        with open(path) as f:
            report = json.load(f)
    result = {"training": report["training"], "report": report, "table": completed.stdout}
    for d in report["decode"]:
        result[f"decode_{d['batch']}"] = d
    return result


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hindcast", default=os.path.join(here, "..", ".build", "release", "hindcast"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--decode-batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--manual-attention", action="store_true",
                        help="PyTorch attention as explicit masked softmax instead of SDPA (is_causal)")
    parser.add_argument("--training-only", action="store_true",
                        help="measure only training on both sides (no GEMM table, replay or decode)")
    parser.add_argument("--json", help="write every round's figures and the medians here")
    parser.add_argument("--quiet-idle", type=float, default=0.9,
                        help="before each run wait until the CPUs are this idle (0 disables)")
    parser.add_argument("--quiet-timeout", type=float, default=600,
                        help="give up waiting for quiet after this many seconds (the run is then flagged)")
    args = parser.parse_args()
    if not os.path.exists(args.hindcast):
        sys.exit(f"no hindcast binary at {args.hindcast}; run: swift build -c release --product hindcast")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT(args.manual_attention)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"PyTorch {torch.__version__}, {args.threads} threads, {parameters:,} parameters, "
          f"{platform.processor() or platform.machine()}", file=sys.stderr)

    rounds = {"hindcast": [], "pytorch": []}
    for r in range(args.rounds):
        order = ["hindcast", "pytorch"] if r % 2 == 0 else ["pytorch", "hindcast"]
        for side in order:
            idle, waited = (1.0, 0.0)
            if args.quiet_idle > 0:
                idle, waited = wait_until_quiet(args.quiet_idle, args.quiet_timeout)
            start = time.perf_counter()
            if side == "hindcast":
                result = run_hindcast(args, with_gemm=(r == 0))
                if r == 0:
                    print(result["table"], file=sys.stderr)
            else:
                result = run_pytorch(args, model, r)
            result["idle_before"] = idle
            result["load_average"] = os.getloadavg()[0]
            rounds[side].append(result)
            summary = ", ".join(
                f"{key} {value['tokens_per_second' if key == 'training' else 'decode_tokens_per_second']:,.0f} tok/s"
                for key, value in result.items() if key.startswith(("training", "decode_")))
            print(f"round {r + 1}/{args.rounds} {side}: {summary} ({time.perf_counter() - start:.0f} s; "
                  f"idle before {idle * 100:.0f}% after waiting {waited:.0f} s, load {result['load_average']:.1f})",
                  file=sys.stderr)

    def medians(side, key, field):
        return statistics.median(result[key][field] for result in rounds[side])

    rows = [("training", "tokens_per_second", "training tok/s (batch %d x %d)" % (args.batch, args.seq))]
    if not args.training_only:
        rows += [(f"decode_{b}", "decode_tokens_per_second", f"decode tok/s, batch {b}")
                 for b in args.decode_batches]
    lines = [("workload", "hindcast", "pytorch", "ratio", "target", "met")]
    summary = {"rounds": rounds, "medians": {}}
    for key, field, label in rows:
        h, p = medians("hindcast", key, field), medians("pytorch", key, field)
        target = TARGETS.get(key)
        met = "-" if target is None else ("yes" if h / p >= target else "no")
        lines.append((label, f"{h:,.0f}", f"{p:,.0f}", f"{h / p:.2f}x",
                      "-" if target is None else f">= {target:g}x", met))
        summary["medians"][key] = {"hindcast": h, "pytorch": p, "ratio": h / p, "target": target}
    gemm_share = medians("hindcast", "training", "gemm_fraction")
    summary["medians"]["hindcast_gemm_fraction"] = gemm_share
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    print(f"medians of {args.rounds} alternating rounds, {args.threads} threads")
    for row in lines:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print(f"hindcast GEMM share of a training step: {gemm_share * 100:.1f}% (target >= 70%)")
    noisy = [(side, i + 1) for side in rounds for i, r in enumerate(rounds[side])
             if args.quiet_idle > 0 and r["idle_before"] < args.quiet_idle]
    if noisy:
        print(f"warning: these runs started on a busy machine: {noisy}")
    if args.json:
        for result in rounds["hindcast"]:
            result.pop("table", None)
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
