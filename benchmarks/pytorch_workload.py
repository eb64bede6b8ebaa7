#!/usr/bin/env python3
"""Batched generation at the pipeline's shapes: Hindcast vs PyTorch eager with a KV cache.

Issue 13 point 6. The workload comes from `hindcast bench --workload` (GenerationWorkload):
hundreds of sequences (default 512 = 64 tasks x 8 samples) with prompts of mixed lengths
(default 15-200 tokens, uniform, seeded), a fixed number of new tokens each (default 56, no stop
tokens), temperature-1 sampling and the log-prob of every sampled token. Hindcast runs it through
`Sampler.generate` (continuous batching in KV-cache slots). The PyTorch side runs the same model
(the preset's width, layers, heads, context and position encoding, read from Hindcast's JSON) on
the same prompt lengths in eager mode with a preallocated KV cache: prompts sorted by length and
cut into batches of `--torch-batch`, each batch left-padded to its longest prompt (padding keys
masked, positions counted from each sequence's first real token), then one token per step for
every sequence: `log_softmax`, `torch.multinomial`, gather of the sampled log-prob.

The two sides alternate for `--rounds` rounds (the order flips each round); the script prints
every round, the medians, the ratio (target >= 2x) and Hindcast's GFLOP/s against cblas_sgemm at
the decode shapes measured in the same Hindcast run (target >= 50%).

Needs torch (`pip install torch`) and a release build of hindcast.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c, heads, rope):
        super().__init__()
        self.heads, self.rope = heads, rope
        self.ln1 = nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)
        self.ln2 = nn.LayerNorm(c)
        self.fc = nn.Linear(c, 4 * c)
        self.fc_proj = nn.Linear(4 * c, c)

    def forward(self, x, cache, start, rotation, key_mask):
        b, t, c = x.shape
        d = c // self.heads
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, d).transpose(1, 2) for z in (q, k, v))
        if rotation is not None:
            q, k = rotate(q, rotation), rotate(k, rotation)
        keys, values = cache
        keys[:, :, start:start + t] = k
        values[:, :, start:start + t] = v
        k, v = keys[:, :, :start + t], values[:, :, :start + t]
        # key_mask (b, 1, t, start + t): True where a query may attend.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


def rotate(x, rotation):
    """Half-split rotary embedding (as Hindcast's RotaryTable); rotation = (cos, sin) of shape
    (b, 1, t, d/2)."""
    cos, sin = rotation
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c, self.heads = config["width"], config["heads"]
        self.rope = config["position_encoding"] == "rope"
        self.wte = nn.Embedding(config["vocab_size"], self.c)
        self.wpe = None if self.rope else nn.Embedding(config["context_length"], self.c)
        self.blocks = nn.ModuleList(Block(self.c, self.heads, self.rope) for _ in range(config["layers"]))
        self.lnf = nn.LayerNorm(self.c)
        d = self.c // self.heads
        frequencies = torch.tensor([10000.0 ** (-2.0 * i / d) for i in range(d // 2)], dtype=torch.float64)
        angles = torch.arange(config["context_length"], dtype=torch.float64)[:, None] * frequencies[None, :]
        self.cos, self.sin = angles.cos().float(), angles.sin().float()
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, tokens, caches, start, positions, key_mask):
        """tokens (b, t) at cache columns start..<start+t; positions (b, t) per-sequence positions."""
        x = self.wte(tokens)
        rotation = None
        if self.rope:
            rotation = (self.cos[positions][:, None], self.sin[positions][:, None])
        else:
            x = x + self.wpe(positions)
        for block, cache in zip(self.blocks, caches):
            x = block(x, cache, start, rotation, key_mask)
        return self.lnf(x[:, -1]) @ self.wte.weight.T


@torch.inference_mode()
def generate_batch(model, lengths, new_tokens, temperature, generator):
    """Left-padded batch; returns (sampled tokens (b, new), their log-probs (b, new))."""
    b, longest = len(lengths), max(lengths)
    pad = torch.tensor([longest - n for n in lengths])
    tokens = torch.randint(0, 256, (b, longest), generator=generator)
    total = longest + new_tokens
    d = model.c // model.heads
    caches = [(torch.empty(b, model.heads, total, d), torch.empty(b, model.heads, total, d))
              for _ in model.blocks]
    columns = torch.arange(total)
    real = columns[None, :] >= pad[:, None]  # (b, total): key column holds a real token
    positions = (torch.arange(longest)[None, :] - pad[:, None]).clamp(min=0)
    causal = columns[None, :longest] <= torch.arange(longest)[:, None]  # (t, t)
    mask = (causal[None] & real[:, None, :longest])[:, None]  # (b, 1, t, t)
    # Padded query rows attend to nothing real; let them see themselves so softmax stays finite.
    mask = mask | torch.eye(longest, dtype=torch.bool)[None, None]
    logits = model(tokens, caches, 0, positions, mask)
    out, logprobs = [], []
    position = torch.tensor(lengths)
    for step in range(new_tokens):
        scaled = F.log_softmax(logits / temperature, dim=-1)
        token = torch.multinomial(scaled.exp(), 1, generator=generator)
        out.append(token)
        logprobs.append(scaled.gather(1, token))
        if step == new_tokens - 1:
            break
        column = longest + step
        step_mask = real[:, None, None, :column + 1]
        logits = model(token, caches, column, position[:, None], step_mask)
        position = position + 1
    return torch.cat(out, 1), torch.cat(logprobs, 1)


def run_pytorch(model, lengths, new_tokens, temperature, batch, seed):
    generator = torch.Generator().manual_seed(seed)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    start, cpu_start = time.perf_counter(), time.process_time()
    total_logprob, count = 0.0, 0
    for first in range(0, len(order), batch):
        chunk = [lengths[i] for i in order[first:first + batch]]
        _, logprobs = generate_batch(model, chunk, new_tokens, temperature, generator)
        total_logprob += logprobs.sum().item()
        count += logprobs.numel()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"seconds": seconds, "cpu_seconds": cpu, "tokens_per_second": count / seconds,
            "tokens_per_cpu_second": count / cpu, "mean_logprob": total_logprob / count}


def run_hindcast(args):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "workload.json")
        command = [args.hindcast, "bench", "--workload", "--model", args.model, "--threads", str(args.threads),
                   "--repeats", str(args.repeats), "--json", path] + args.hindcast_args
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if completed.returncode != 0:
            sys.exit(f"hindcast bench failed ({completed.returncode}): {' '.join(command)}")
        with open(path) as f:
            report = json.load(f)
    report["table"] = completed.stdout
    return report


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hindcast", default=os.path.join(here, "..", ".build", "release", "hindcast"))
    parser.add_argument("--model", default="small", help="hindcast model preset (the quickstart uses small)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=1, help="timed hindcast runs per round (after a warm-up)")
    parser.add_argument("--torch-batch", type=int, default=64, help="sequences per PyTorch batch")
    parser.add_argument("--json", help="write every round and the medians here")
    parser.add_argument("hindcast_args", nargs="*", help="extra arguments for hindcast bench (after --)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rounds = {"hindcast": [], "pytorch": []}
    model = None
    for r in range(args.rounds):
        order = ["hindcast", "pytorch"] if r % 2 == 0 or model is None else ["pytorch", "hindcast"]
        for side in order:
            load = os.getloadavg()[0]
            if side == "hindcast":
                report = run_hindcast(args)
                if model is None:
                    print(report["table"], file=sys.stderr)
                    workload = report["result"]
                    lengths = workload["promptLengthList"]
                    settings = workload["settings"]
                    new_tokens, temperature = settings["newTokens"], settings["temperature"]
                    model = GPT(report["config"]).eval()
                    # Warm up PyTorch once on a slice of the workload.
                    run_pytorch(model, lengths[:args.torch_batch], new_tokens, temperature, args.torch_batch, 99)
                runs = report["result"]
                result = {"tokens_per_second": runs["tokensPerSecond"],
                          "tokens_per_cpu_second": runs["generatedTokens"] / statistics.median(runs["cpuSeconds"])
                          if runs.get("cpuSeconds") else float("nan"),
                          "gflops": report["gflops"], "sgemm_gflops": report["sgemm_gflops"],
                          "sgemm_ratio": report["sgemm_ratio"], "sgemm_cpu_ratio": report.get("sgemm_cpu_ratio"),
                          "mean_logprob": report["result"]["meanLogprob"]}
            else:
                result = run_pytorch(model, lengths, new_tokens, temperature, args.torch_batch, r)
            result["load_average_before"] = load
            rounds[side].append(result)
            print(f"round {r + 1}/{args.rounds} {side}: {result['tokens_per_second']:,.0f} tok/s, "
                  f"{result['tokens_per_cpu_second']:,.0f} tok/cpu-s (load {load:.1f})", file=sys.stderr)

    h = statistics.median(x["tokens_per_second"] for x in rounds["hindcast"])
    p = statistics.median(x["tokens_per_second"] for x in rounds["pytorch"])
    hc = statistics.median(x["tokens_per_cpu_second"] for x in rounds["hindcast"])
    pc = statistics.median(x["tokens_per_cpu_second"] for x in rounds["pytorch"])
    share = statistics.median(x["sgemm_ratio"] for x in rounds["hindcast"])
    cpu_shares = [x["sgemm_cpu_ratio"] for x in rounds["hindcast"] if x.get("sgemm_cpu_ratio") is not None]
    cpu_share = statistics.median(cpu_shares) if cpu_shares else float("nan")
    print(f"generation workload, {len(lengths)} sequences, prompts {min(lengths)}-{max(lengths)}, "
          f"{new_tokens} new tokens, T={temperature:g}, {args.threads} threads, medians of {args.rounds} rounds")
    print(f"hindcast {h:,.0f} tok/s, pytorch eager (batch {args.torch_batch}) {p:,.0f} tok/s, "
          f"ratio {h / p:.2f}x (target >= 2x: {'met' if h / p >= 2 else 'not met'})")
    print(f"per CPU second (all threads): hindcast {hc:,.0f}, pytorch {pc:,.0f}, ratio {hc / pc:.2f}x")
    print(f"hindcast GFLOP/s / cblas_sgemm at the decode shapes: {share * 100:.0f}% "
          f"(target >= 50%: {'met' if share >= 0.5 else 'not met'}); "
          f"per CPU second: {cpu_share * 100:.0f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": rounds, "medians": {"hindcast": h, "pytorch": p, "ratio": h / p,
                                                     "cpu_ratio": hc / pc, "sgemm_ratio": share,
                                                     "sgemm_cpu_ratio": cpu_share}}, f, indent=2)


if __name__ == "__main__":
    main()
