#!/usr/bin/env python3
"""Malformed-input corpus for Hindcast: builds several hundred broken versions of every kind of
file Hindcast reads, hands each to the command that reads it, and classifies what happened.

    scripts/malformed-corpus.py --hindcast .build/release/hindcast [--subset N] [--work DIR]
                                [--kinds spec,shard,...] [--json REPORT.json] [--verbose]

Kinds: spec (`hindcast pretrain --run NEW --spec SPEC`), shard (rollout/feedback/rewrite shards read by
`feedback`, `rewrite`, `distill`), manifest (`status`, `verify`, `feedback`), metrics (`status`),
checkpoint (safetensors and config.json, read by `sample` and `verify`), memory (the memory
store's files, read by `memory ls/show/dump/verify` and `verify`), tasks (exec tasks files, read
by `check`), checker (a checker printing malformed output, read by `check`).

Each case is run on a fresh copy of a small real run (built once with the tiny spec below) and
classified as:

    trap     the process died of a signal (SIGILL, SIGSEGV, SIGABRT, ...)
    hang     it did not finish within the timeout
    damaged  a failing command changed the run directory, or a read-only command changed it at all
    silent   it exited 0 although the input is broken (or a checker's broken output passed)
    unnamed  it failed, but the error does not name the file (or record) at fault
    ok       it failed with an error naming the file

The generator is independent of the project's code: it writes bytes, not Swift values. Cases are
deterministic (seeded), so two runs give the same corpus. `--subset N` runs every N-th case
(the test suite uses it). Exit status: 0 when every case is ok, 1 otherwise.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

TINY_SPEC = """name = "corpus"
seed = 5
rounds = 1
[model]
preset = "tiny"
context = 224
threads = 1
[tasks]
family = "arith"
difficulty = 1
train_per_round = 4
samples_per_task = 3
validation = 4
test = 4
tasks_per_shard = 2
[pretrain]
steps = 4
batch = 4
corpus_tasks = 20
own_mistakes_tasks = 8
[rollout]
max_tokens = 32
[rewrite]
teacher_top_k = 4
samples = 1
[distill]
sdpo = 1.0
sft = 0.5
grpo = 0.5
rft = 0.5
steps = 1
batch = 4
[eval]
samples = 1
"""

READ_ONLY = {"status", "verify", "memory"}


# ---------------------------------------------------------------- helpers


def zstd_compress(data):
    return subprocess.run(["zstd", "-q", "-c", "-3", "--content-size"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def zstd_decompress(data):
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tree_state(root):
    """Path -> SHA-256 of every file under root (the lock file excluded: opening it is allowed)."""
    state = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            if rel == ".lock":
                continue
            try:
                with open(path, "rb") as f:
                    state[rel] = sha256(f.read())
            except OSError:
                state[rel] = "unreadable"
    return state


class Run:
    """A copy of the base run that a case may change."""

    def __init__(self, root):
        self.root = root

    def path(self, rel):
        return os.path.join(self.root, rel)

    def read(self, rel):
        with open(self.path(rel), "rb") as f:
            return f.read()

    def write(self, rel, data):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "wb") as f:
            f.write(data)

    def manifest(self):
        return json.loads(self.read("manifest.json"))

    def set_manifest(self, manifest):
        self.write("manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")

    def shard_lines(self, rel):
        return zstd_decompress(self.read(rel)).split(b"\n")

    def put_shard(self, rel, lines, key=None, fix_hash=True):
        """Writes shard text (a list of lines) compressed and, with fix_hash, updates the manifest
        hash so that the decoder itself, not the hash check, meets the damage."""
        data = zstd_compress(b"\n".join(lines))
        self.write(rel, data)
        if fix_hash:
            manifest = self.manifest()
            for unit_key, unit in manifest["units"].items():
                if unit["path"] == rel:
                    unit["sha256"] = sha256(data)
            self.set_manifest(manifest)

    def forget(self, prefix):
        """Removes units (and their files) whose key starts with prefix, so a stage redoes them."""
        manifest = self.manifest()
        for key in [k for k in manifest["units"] if k.startswith(prefix)]:
            target = self.path(manifest["units"][key]["path"])
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
            del manifest["units"][key]
        self.set_manifest(manifest)


class Case:
    def __init__(self, kind, name, mutate, command, names, expect="error", read_only=None, check=None,
                 check_created=None, warn=None):
        self.kind = kind
        self.name = name
        self.mutate = mutate  # function(run: Run, work: str)
        self.command = command  # list, "{run}" and "{work}" substituted
        self.names = names  # strings of which one must appear in the error output
        self.expect = expect  # "error", or "any" (success allowed; still no damage)
        self.read_only = read_only if read_only is not None else command[0] in READ_ONLY
        self.check = check  # optional function(stdout) -> problem string or None, for exit-0 cases
        self.check_created = check_created  # a path under the case directory a failure must not create
        self.warn = warn  # for expect="any": strings of which one must appear in the output on success


# ---------------------------------------------------------------- byte-level mutations


def mutations(data, rng, count, text=False):
    """Generic damage: truncations, bit flips (binary files only: a flipped bit in JSON text can
    give another valid value), garbage, empty, appended junk."""
    body = data.rstrip()
    out = [("empty", b""), ("truncated-half", data[: len(data) // 2]), ("truncated-1", body[:-1]),
           ("appended-garbage", data + b"\x00\xff garbage")]
    if text:
        out += [("no-closing-brace", body.rstrip(b"}")), ("nul-inside", body[:10] + b"\x00" + body[10:]),
                ("deep", b"[" * 100000 + b"]" * 100000)]
        count = 0
    for i in range(count):
        if not data:
            break
        b = bytearray(data)
        pos = rng.randrange(len(b))
        b[pos] ^= 1 << rng.randrange(8)
        out.append((f"bitflip-{pos}", bytes(b)))
    out.append(("random-bytes", bytes(rng.randrange(256) for _ in range(max(16, len(data) // 4)))))
    return out


# ---------------------------------------------------------------- spec cases


SPEC_BAD_VALUES = [
    ("name", '"../../x"'), ("name", '""'), ("name", '"/abs"'), ("name", '"a/b"'), ("seed", "-1"),
    ("rounds", "-1"), ("rounds", "1001"), ("guard.rollback_margin", "2"), ("guard.rollback_margin", "inf"),
    ("model.preset", '"huge"'), ("model.layers", "0"), ("model.width", "3"), ("model.heads", "3"),
    ("model.context", "1"), ("model.threads", "0"), ("tasks.family", '"chess"'), ("tasks.difficulty", "9"),
    ("tasks.train_per_round", "0"), ("tasks.samples_per_task", "0"), ("tasks.validation", "0"), ("tasks.test", "0"),
    ("tasks.tasks_per_shard", "0"), ("tasks.exec_checker", '""'), ("pretrain.steps", "-5"),
    ("pretrain.batch", "0"), ("pretrain.lr", "0"), ("pretrain.lr", "5"), ("pretrain.warmup", "-1"),
    ("pretrain.revision_fraction", "1.5"), ("pretrain.pack", "3"), ("pretrain.own_fraction", "-1"),
    ("pretrain.note_fraction", "2"), ("pretrain.corpus_tasks", "0"), ("rollout.temperature", "0.0005"),
    ("rollout.temperature", "-1"), ("rollout.temperature", "1e400"), ("rollout.max_tokens", "0"),
    ("rollout.max_tokens", "224"), ("rewrite.samples", "65"), ("rewrite.temperature", "0.0001"),
    ("rewrite.teacher_top_k", "265"), ("rewrite.teacher_top_k", "1048576"), ("rewrite.teacher_top_k", "0"),
    ("rewrite.feedback", '"some"'), ("rewrite.memory", '"yes"'), ("rewrite.memory_budget_tokens", "-1"),
    ("distill.sdpo", "-1"), ("distill.grpo", "nan"), ("distill.divergence", '"kl"'),
    ("distill.teacher", '"moving"'), ("distill.positions", '"x"'), ("distill.lr", "0"), ("distill.steps", "-1"),
    ("distill.batch", "0"), ("distill.ema_rate", "1.5"), ("distill.ratio_clip", "0.5"),
    ("distill.grpo_clip", "0"), ("distill.grpo_clip", "-0.2"), ("eval.samples", "-1"),
    ("eval.temperature", "0.0009"), ("eval.temperature", "11"), ("model.nonsense", "1"), ("extra", "1"),
    ("tasks.family", "1"), ("seed", '"five"'), ("rounds", "1.5"), ("distill.sdpo", "[1, 2]"),
]


def spec_with(key, value):
    table, _, leaf = key.rpartition(".")
    lines = [line for line in TINY_SPEC.splitlines()]
    # Drop an existing assignment of the key, then add the new one at the top of its table.
    current = ""
    kept = []
    for line in lines:
        if line.startswith("["):
            current = line.strip("[]")
        elif current == table and line.split("=")[0].strip() == leaf:
            continue
        kept.append(line)
    if not table:
        kept.insert(0, f"{leaf} = {value}")
    elif f"[{table}]" in kept:
        kept.insert(kept.index(f"[{table}]") + 1, f"{leaf} = {value}")
    else:
        kept += [f"[{table}]", f"{leaf} = {value}"]
    return "\n".join(kept) + "\n"


def spec_cases(rng):
    cases = []

    def add(name, text):
        data = text if isinstance(text, bytes) else text.encode()

        def mutate(run, work, data=data):
            with open(os.path.join(work, "bad.toml"), "wb") as f:
                f.write(data)
        cases.append(Case("spec", name, mutate, ["pretrain", "--run", "{work}/new-run", "--spec", "{work}/bad.toml"],
                          ["bad.toml:"], check_created="new-run"))

    for key, value in SPEC_BAD_VALUES:
        add(f"{key}={value}", spec_with(key, value))
    add("exec-without-tasks", spec_with("tasks.family", '"exec"'))
    add("nested-100000", "[tasks]\nexec_checker = " + "[" * 100_000 + "]" * 100_000 + "\n")
    add("nested-unclosed", "[tasks]\nexec_checker = " + "[" * 5000 + "\n")
    add("unterminated-string", 'name = "abc\n')
    add("unterminated-literal", "name = 'abc\n")
    add("bad-escape", 'name = "a\\qb"\n')
    add("inline-table", "x = { a = 1 }\n")
    add("array-of-tables", "[[tasks]]\n")
    add("duplicate-key", "rounds = 1\nrounds = 2\n")
    add("duplicate-table", "[model]\n[model]\n")
    add("unknown-table", "[nonsense]\n")
    add("no-equals", "rounds 1\n")
    add("no-value", "rounds =\n")
    add("trailing-text", "rounds = 1 2\n")
    add("bare-string", "name = hello\n")
    add("nul-bytes", b"rounds = 1\x00\n")
    add("binary", bytes(rng.randrange(256) for _ in range(400)))
    add("huge-integer", "seed = 99999999999999999999999\n")
    add("huge-line", "name = \"" + "a" * 2_000_000 + "\"\n")
    add("unclosed-header", "[model\n")
    add("empty-key", " = 1\n")
    add("dotted-garbage", "a..b = 1\n")
    add("invalid-utf8-key", b"\xff\xfe = 1\n")
    add("multiline-array", "[tasks]\nexec_checker = [\n\"a\"]\n")
    add("heads-do-not-divide", spec_with("model.heads", "5"))
    add("all-objectives-zero", spec_with("distill.sdpo", "0").replace("sft = 0.5", "sft = 0")
        .replace("grpo = 0.5", "grpo = 0").replace("rft = 0.5", "rft = 0"))
    return cases


# ---------------------------------------------------------------- shard cases


def shard_cases(rng):
    cases = []
    stages = {"rollout": ("feedback", "r0000/feedback/"), "feedback": ("rewrite", "r0000/rewrite/"),
              "rewrite": ("distill", "policy/round-0001")}

    def add(stage, name, edit, fix_hash=True, reader=None, names=None):
        command_stage, forget = stages[stage] if reader is None else reader
        rel = f"r0000/{stage}/shard-00000.jsonl.zst"

        def mutate(run, work):
            run.forget(forget if forget.startswith("policy") else forget + "00000")
            if edit is None:
                return
            result = edit(run, rel)
            if result is not None:
                run.put_shard(rel, result, fix_hash=fix_hash)
        cases.append(Case("shard", f"{stage}:{name}->{command_stage}", mutate,
                          [command_stage, "--run", "{run}", "--round", "0"], names or [rel]))

    def lines_edit(fn):
        def edit(run, rel):
            lines = run.shard_lines(rel)
            return fn(lines)
        return edit

    def record_edit(fn, index=1):
        """Applies fn to the JSON record at line index (1 = first record)."""
        def edit_lines(lines):
            record = json.loads(lines[index])
            fn(record)
            lines[index] = json.dumps(record, sort_keys=True).encode()
            return lines
        return lines_edit(edit_lines)

    def header_edit(fn):
        def edit_lines(lines):
            header = json.loads(lines[0])
            fn(header)
            lines[0] = json.dumps(header).encode()
            return lines
        return lines_edit(edit_lines)

    for stage in stages:
        def raw(data_fn):
            def edit(run, rel):
                run.write(rel, data_fn(run.read(rel)))
                return None
            return edit
        for label, data in [("empty", lambda d: b""), ("truncated", lambda d: d[: len(d) // 2]),
                            ("flip-middle", lambda d: d[: len(d) // 2] + bytes([d[len(d) // 2] ^ 0x10]) + d[len(d) // 2 + 1:]),
                            ("not-zstd", lambda d: b"{\"hindcast_shard\":1}\n")]:
            add(stage, label + "-hash", raw(data))
        # Decoder-level damage with the manifest hash fixed up.
        add(stage, "no-header", lines_edit(lambda l: l[1:]))
        add(stage, "header-not-json", lines_edit(lambda l: [b"not json"] + l[1:]))
        add(stage, "count-too-high", header_edit(lambda h: h.update(count=h["count"] + 1)))
        add(stage, "count-negative", header_edit(lambda h: h.update(count=-1)))
        add(stage, "count-huge", header_edit(lambda h: h.update(count=2**62)))
        add(stage, "version-2", header_edit(lambda h: h.update(hindcast_shard=2)))
        add(stage, "kind-wrong", header_edit(lambda h: h.update(kind="eval")))
        add(stage, "record-not-json", lines_edit(lambda l: l[:1] + [b"{broken"] + l[2:]))
        add(stage, "record-array", lines_edit(lambda l: l[:1] + [b"[1,2,3]"] + l[2:]))
        add(stage, "record-deep", lines_edit(lambda l: l[:1] + [b"[" * 100000 + b"]" * 100000] + l[2:]))
        add(stage, "record-missing-id", record_edit(lambda r: r.pop("id")))
        add(stage, "record-id-number", record_edit(lambda r: r.update(id=7)))
        add(stage, "record-round-other", record_edit(lambda r: r.update(round=5)))
        add(stage, "record-round-huge", record_edit(lambda r: r.update(round=2**63 - 1)))
        add(stage, "fewer-records", lines_edit(lambda l: [json.dumps(dict(json.loads(l[0]), count=len(l) - 3)).encode()] + l[1:-2] + [b""]))
        add(stage, "duplicate-record", lines_edit(lambda l: [l[0]] + [l[1], l[1]] + l[3:]))
        add(stage, "huge-line", lines_edit(lambda l: l[:1] + [b"{\"x\":\"" + b"a" * (20 << 20) + b"\"}"] + l[2:]))
    # Rollout records read by distill (logprobs and tokens), and feedback indices.
    distill = ("distill", "policy/round-0001")
    add("rollout", "logprobs-short", record_edit(lambda r: r.update(logprobs=r["logprobs"][:1])), reader=distill)
    add("rollout", "logprobs-empty", record_edit(lambda r: r.update(logprobs=[])), reader=distill)
    add("rollout", "token-negative", record_edit(lambda r: r.update(tokens=[-3] + r["tokens"][1:])), reader=distill)
    add("rollout", "token-huge", record_edit(lambda r: r.update(tokens=[70000] + r["tokens"][1:])), reader=distill)
    add("rollout", "token-int64", record_edit(lambda r: r.update(tokens=[2**40] + r["tokens"][1:])), reader=distill)
    add("rollout", "logprob-positive", record_edit(lambda r: r.update(logprobs=[5.0] * len(r["logprobs"]))), reader=distill)
    add("rollout", "other-task", record_edit(lambda r: r.update(task_id="arith-0000000000000000")), reader=distill)
    add("rollout", "other-shard", lambda run, rel: run.shard_lines("r0000/rollout/shard-00001.jsonl.zst"), reader=distill)
    add("rollout", "duplicate-id", lines_edit(lambda l: [l[0], l[1], l[1]] + l[3:]), reader=distill)
    add("rollout", "round-other", record_edit(lambda r: r.update(round=3)), reader=distill)
    for value in [-1, -2**40, 10**6, 2**62]:
        add("feedback", f"first-error-{value}",
            record_edit(lambda r, v=value: r.update(first_error_token=v, passed=False, reward=0.0)), reader=distill)
    add("feedback", "fewer-than-rollouts", lines_edit(lambda l: [json.dumps(dict(json.loads(l[0]), count=len(l) - 3)).encode()] + l[1:-2] + [b""]), reader=distill)
    add("feedback", "rollout-id-unknown", record_edit(lambda r: r.update(rollout_id="r0000/x/s0")), reader=distill)
    add("feedback", "reward-string", record_edit(lambda r: r.update(reward="1")), reader=distill)
    add("feedback", "round-other", record_edit(lambda r: r.update(round=1)), reader=distill)
    add("feedback", "duplicate-rollout", lines_edit(lambda l: [l[0], l[1], l[1]] + l[3:]), reader=distill)
    add("feedback", "other-shard", lambda run, rel: run.shard_lines("r0000/feedback/shard-00001.jsonl.zst"), reader=distill)
    add("rewrite", "top-ids-short", record_edit(lambda r: r.update(teacher_top_ids=r["teacher_top_ids"][:1])))
    add("rewrite", "top-rows-mismatch", record_edit(lambda r: r.update(teacher_top_logprobs=[[-1.0]] * len(r["teacher_top_ids"]))))
    add("rewrite", "top-id-huge", record_edit(lambda r: r.update(teacher_top_ids=[[99999] * len(x) for x in r["teacher_top_ids"]])))
    add("rewrite", "top-id-negative", record_edit(lambda r: r.update(teacher_top_ids=[[-1] * len(x) for x in r["teacher_top_ids"]])))
    add("rewrite", "top-logprob-positive", record_edit(lambda r: r.update(teacher_top_logprobs=[[3.0] * len(x) for x in r["teacher_top_logprobs"]])))
    add("rewrite", "rollout-id-unknown", record_edit(lambda r: r.update(rollout_id="nope")))
    add("rewrite", "hindsight-token-huge", record_edit(lambda r: r.update(hindsight=[{"text": "x", "tokens": [999999], "verified": True, "kind": "rewrite"}])))
    add("rewrite", "duplicate", lines_edit(lambda l: [l[0], l[1], l[1]] + l[3:]))
    add("rewrite", "other-shard", lambda run, rel: run.shard_lines("r0000/rewrite/shard-00001.jsonl.zst"))

    # A 35 KB shard that inflates to 1 GiB of blank lines.
    def bomb(run, rel):
        header = run.shard_lines(rel)[0]
        proc = subprocess.run(
            "(printf '%s\\n' \"$0\"; head -c 1073741824 /dev/zero | tr '\\0' '\\n') | zstd -q -19 -c",
            shell=True, args=None, stdout=subprocess.PIPE, check=True) if False else None
        data = subprocess.run(["sh", "-c", "(printf '%s\\n' \"$1\"; head -c 1073741824 /dev/zero | tr '\\0' '\\n') | zstd -q -c -3", "sh",
                               header.decode()], stdout=subprocess.PIPE, check=True).stdout
        run.write(rel, data)
        manifest = run.manifest()
        for unit in manifest["units"].values():
            if unit["path"] == rel:
                unit["sha256"] = sha256(data)
        run.set_manifest(manifest)
        return None
    add("rollout", "inflates-to-1GiB", bomb)
    return cases


# ---------------------------------------------------------------- manifest cases


def manifest_cases(rng):
    cases = []

    def add(name, edit, command="status", names=("manifest.json",), expect="error"):
        def mutate(run, work):
            if command == "feedback":
                run.forget("r0000/feedback/00000")
            m = run.manifest()
            result = edit(m, run)
            if isinstance(result, bytes):
                run.write("manifest.json", result)
            else:
                run.set_manifest(m)
        args = {"status": ["status", "--run", "{run}"], "verify": ["verify", "--run", "{run}"],
                "feedback": ["feedback", "--run", "{run}", "--round", "0"]}[command]
        cases.append(Case("manifest", f"{name}@{command}", mutate, args, list(names), expect=expect))

    def raw(fn):
        return lambda m, run: fn(run.read("manifest.json"))

    for command in ["status", "verify", "feedback"]:
        data_rng = random.Random(7)
        for label, data in mutations(b"{}", data_rng, 0)[:0]:
            pass
        add("not-json", raw(lambda d: b"not json"), command)
        add("truncated", raw(lambda d: d[: len(d) // 2]), command)
        add("empty", raw(lambda d: b""), command)
        add("array", raw(lambda d: b"[]"), command)
        add("deep", raw(lambda d: b"[" * 100000 + b"]" * 100000), command)
        add("format-other", lambda m, r: m.update(format="other"), command)
        add("version-9", lambda m, r: m.update(version=9), command)
        add("version-string", lambda m, r: m.update(version="1"), command)
        add("no-units", lambda m, r: m.pop("units"), command)
        add("units-array", lambda m, r: m.update(units=[]), command)
        add("shard-count-negative", lambda m, r: m["shard_counts"].update({"r0000/rollout": -3}), command)
        add("shard-count-huge", lambda m, r: m["shard_counts"].update({"r0000/rollout": 2**62}), command)
        add("shard-count-int64-max", lambda m, r: m["shard_counts"].update({"r0000/rollout": 2**63 - 1}), command)
        add("unit-path-dotdot", lambda m, r: m["units"]["r0000/rollout/00000"].update(path="../../etc/passwd"), command)
        add("unit-path-absolute", lambda m, r: m["units"]["r0000/rollout/00000"].update(path="/etc/passwd"), command)
        add("unit-path-inner-dotdot", lambda m, r: m["units"]["r0000/rollout/00000"].update(
            path="r0000/../../outside/shard-00000.jsonl.zst"), command)
        add("unit-path-empty", lambda m, r: m["units"]["r0000/rollout/00000"].update(path=""), command)
        add("unit-sha-short", lambda m, r: m["units"]["r0000/rollout/00000"].update(sha256="abc"), command)
        add("unit-records-negative", lambda m, r: m["units"]["r0000/rollout/00000"].update(records=-1), command)
        add("unit-missing-path", lambda m, r: m["units"]["r0000/rollout/00000"].pop("path"), command)
        add("spec-hash-other", lambda m, r: m.update(spec_sha256="0" * 64), command)
        add("rollbacks-negative", lambda m, r: m.update(rollbacks=[-1]), command)
        add("rollbacks-string", lambda m, r: m.update(rollbacks="x"), command)
        add("memory-snapshots-dotdot", lambda m, r: m.update(memory_snapshots={"policy/round-0001": "../x"}), command)
        add("memory-pins-dotdot", lambda m, r: m.update(memory_pins={"r0000": {
            "snapshot": "snap-000001", "path": "memory/../../x", "hash": "0" * 16}}), command)
        add("memory-pins-partial", lambda m, r: m.update(memory_pins={"r0000": {"snapshot": "snap-000001"}}), command)
        add("memory-pins-key", lambda m, r: m.update(memory_pins={"../r0000": {}}), command)
    # verify must find a unit whose file is missing or replaced (it exits 1 naming the unit).
    def remove_file(m, run):
        os.remove(run.path(m["units"]["r0000/rollout/00000"]["path"]))
    add("unit-file-missing", remove_file, "verify", names=("r0000/rollout/shard-00000.jsonl.zst",))
    def swap_file(m, run):
        shutil.copy(run.path("r0000/rollout/shard-00001.jsonl.zst"), run.path("r0000/rollout/shard-00000.jsonl.zst"))
    add("unit-file-swapped", swap_file, "verify", names=("r0000/rollout/shard-00000.jsonl.zst",))
    # A pinned memory snapshot whose hash is not the file's: verify names the snapshot file.
    def pin_wrong_hash(m, run):
        m["memory_pins"] = {"r0001": {"snapshot": "snap-000001", "path": "memory/snap-1.json.zst", "hash": "0" * 16}}
    add("memory-pin-hash-mismatch", pin_wrong_hash, "verify", names=("memory/snap-1.json.zst",))
    # A read-only command on a run without manifest.json: any outcome, but nothing written.
    add("missing@status-readonly", lambda m, run: os.remove(run.path("manifest.json")) or b"", "status",
        expect="any")
    cases[-1].mutate = lambda run, work: os.remove(run.path("manifest.json"))
    cases.append(Case("manifest", "missing@verify-readonly", lambda run, work: os.remove(run.path("manifest.json")),
                      ["verify", "--run", "{run}"], ["manifest.json"], expect="any"))
    return cases


# ---------------------------------------------------------------- metrics cases


def metrics_cases(rng):
    cases = []

    def add(name, edit, expect="error"):
        def mutate(run, work):
            lines = run.read("metrics.jsonl").split(b"\n")
            run.write("metrics.jsonl", edit(lines))
        cases.append(Case("metrics", name, mutate, ["status", "--run", "{run}"], ["metrics.jsonl"], expect=expect))

    def event_edit(fn, index=0):
        def edit(lines):
            event = json.loads(lines[index])
            fn(event)
            lines[index] = json.dumps(event).encode()
            return b"\n".join(lines)
        return edit

    add("line-not-json", lambda l: b"\n".join(l[:1] + [b"hello world"] + l[1:]))
    add("line-binary", lambda l: b"\n".join(l[:1] + [bytes(range(1, 10))] + l[1:]))
    add("line-number", lambda l: b"\n".join(l[:1] + [b"42"] + l[1:]))
    add("line-array", lambda l: b"\n".join(l[:1] + [b"[1,2]"] + l[1:]))
    add("line-deep", lambda l: b"\n".join(l[:1] + [b"[" * 100000 + b"]" * 100000] + l[1:]))
    add("line-deep-object", lambda l: b"\n".join(l[:1] + [b"{\"a\":" * 50000 + b"1" + b"}" * 50000] + l[1:]))
    for field, value in [("environment_calls", 2**63 - 1), ("environment_calls", -1), ("generated_tokens", 2**63 - 1),
                         ("teacher_scored_tokens", 2**62), ("training_tokens", -5), ("records", 2**63 - 1),
                         ("wall_seconds", 1e308), ("wall_seconds", -1.0), ("wall_seconds", 1e300),
                         ("environment_calls", 1.5), ("environment_calls", "3"), ("round", -7), ("worker", -1),
                         ("stage", 5), ("shard", -2), ("environment_calls", 2**64)]:
        add(f"{field}={value}", event_edit(lambda e, f=field, v=value: e.update({f: v})))
    def both_max(lines):
        out = []
        for line in lines[:2]:
            event = json.loads(line)
            event["environment_calls"] = 2**62
            out.append(json.dumps(event).encode())
        return b"\n".join(out + lines[2:])
    add("sum-overflows", both_max)
    add("missing-stage", event_edit(lambda e: e.pop("stage")))
    add("nan-literal", lambda l: b"\n".join(l[:1] + [l[0].replace(b"\"wall_seconds\":", b"\"wall_seconds\":NaN,\"x\":")] + l[1:]))
    add("huge-line", lambda l: b"\n".join(l[:1] + [b"{\"stage\":\"" + b"a" * (30 << 20) + b"\"}"] + l[1:]))
    add("invalid-utf8", lambda l: b"\n".join(l[:1] + [b"{\"stage\":\"\xff\xfe\",\"round\":0,\"worker\":0}"] + l[1:]))
    return cases


# ---------------------------------------------------------------- checkpoint cases


def safetensors_parse(data):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return header, data[8 + n:]


def safetensors_build(header, body, pad=True):
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + body


def checkpoint_cases(rng):
    cases = []
    policy = "policy/round-0000"

    def fix_done(run, rel):
        """Updates the DONE marker's hash of rel and the manifest's hash of DONE."""
        done_rel = policy + "/DONE"
        done = json.loads(run.read(done_rel))
        name = os.path.basename(rel)
        files = done.get("files", {})
        entry = files.get(name)
        if isinstance(entry, dict):
            for k in list(entry):
                if "sha" in k or "hash" in k:
                    entry[k] = sha256(run.read(rel))
        elif isinstance(entry, str):
            files[name] = sha256(run.read(rel))
        data = json.dumps(done, indent=2, sort_keys=True).encode() + b"\n"
        run.write(done_rel, data)
        manifest = run.manifest()
        if policy in manifest["units"]:
            manifest["units"][policy]["sha256"] = sha256(data)
        run.set_manifest(manifest)

    def add(name, edit, fixed=True, file="model.safetensors"):
        rel = f"{policy}/{file}"

        def mutate(run, work):
            run.write(rel, edit(run.read(rel)))
            if fixed:
                fix_done(run, rel)
        for command in (["sample", "--checkpoint", "{run}/" + policy, "--prompt", "1+1", "--max-tokens", "4"],
                        ["verify", "--run", "{run}"]):
            cases.append(Case("checkpoint", f"{file}:{name}{'' if fixed else '-hash'}@{command[0]}", mutate,
                              command, [file]))

    def tensor_edit(fn):
        def edit(data):
            header, body = safetensors_parse(data)
            header, body = fn(header, bytearray(body))
            return safetensors_build(header, bytes(body))
        return edit

    def fill(value):
        def fn(header, body):
            name = sorted(k for k in header if k != "__metadata__")[0]
            start, end = header[name]["data_offsets"]
            body[start:end] = struct.pack("<f", value) * ((end - start) // 4)
            return header, body
        return fn

    def one(value):
        def fn(header, body):
            name = sorted(k for k in header if k != "__metadata__")[-1]
            start, _ = header[name]["data_offsets"]
            body[start:start + 4] = struct.pack("<f", value)
            return header, body
        return fn

    add("all-nan", tensor_edit(fill(float("nan"))))
    add("all-inf", tensor_edit(fill(float("inf"))))
    add("one-nan", tensor_edit(one(float("nan"))))
    add("one-neg-inf", tensor_edit(one(float("-inf"))))
    add("header-len-huge", lambda d: struct.pack("<Q", 2**62) + d[8:])
    add("header-len-zero", lambda d: struct.pack("<Q", 0) + d[8:])
    add("header-not-json", lambda d: struct.pack("<Q", 8) + b"notjson!" + d[16:])
    add("truncated-body", lambda d: d[: len(d) - 100])
    add("truncated-header", lambda d: d[:12])
    add("empty", lambda d: b"")

    def set_first(field, value):
        def fn(header, body):
            name = sorted(k for k in header if k != "__metadata__")[0]
            header[name][field] = value
            return header, body
        return fn
    add("dtype-f16", tensor_edit(set_first("dtype", "F16")))
    add("dtype-garbage", tensor_edit(set_first("dtype", 7)))
    add("shape-wrong", tensor_edit(set_first("shape", [1, 2])))
    add("shape-negative", tensor_edit(set_first("shape", [-1, 4])))
    add("shape-overflow", tensor_edit(set_first("shape", [2**32, 2**32, 2**32])))
    add("offsets-past-end", tensor_edit(set_first("data_offsets", [0, 2**40])))
    add("offsets-reversed", tensor_edit(set_first("data_offsets", [100, 0])))
    add("offsets-negative", tensor_edit(set_first("data_offsets", [-8, 0])))

    def drop_tensor(header, body):
        name = sorted(k for k in header if k != "__metadata__")[0]
        del header[name]
        return header, body
    add("tensor-missing", tensor_edit(drop_tensor))
    add("format-version-9", tensor_edit(lambda h, b: (dict(h, __metadata__=dict(h.get("__metadata__", {}), format_version="9")), b)))
    add("bitflip-hash", lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:], fixed=False)

    def config_edit(fn):
        def edit(data):
            config = json.loads(data)
            fn(config)
            return json.dumps(config).encode()
        return edit
    for field, value in [("heads", 3), ("heads", 0), ("width", -64), ("vocab_size", 10), ("context_length", 2**40),
                         ("layers", 0), ("layers", 10**9), ("mlp_multiplier", 0), ("width", "64"), ("heads", 2.5)]:
        add(f"{field}={value}", config_edit(lambda c, f=field, v=value: c.update({f: v})), file="config.json")
    add("not-json", lambda d: b"{", file="config.json")
    add("deep", lambda d: b"[" * 100000 + b"]" * 100000, file="config.json")
    add("missing-field", config_edit(lambda c: c.pop(next(iter(c)))), file="config.json")
    return cases


# ---------------------------------------------------------------- memory cases


def memory_cases(rng, base):
    cases = []
    memory = os.path.join(base, "memory")
    files = []
    for directory, _, names in os.walk(memory):
        for name in sorted(names):
            rel = os.path.relpath(os.path.join(directory, name), base)
            if not name.startswith(".") and "lock" not in name:
                files.append(rel)
    files.sort()
    commands = [["memory", "ls", "--run", "{run}"], ["memory", "dump", "--run", "{run}"],
                ["memory", "verify", "--run", "{run}"], ["verify", "--run", "{run}"]]

    def add(name, mutate, names, expect="error", warn=None):
        for command in commands:
            cases.append(Case("memory", f"{name}@{' '.join(command[:2]) if command[0] == 'memory' else command[0]}",
                              mutate, command, names, expect=expect, warn=warn))

    files = [f for f in files if os.path.basename(f) != "LOCK"]  # a lock file's bytes mean nothing
    live = max((f for f in files if os.path.basename(f).startswith("seg-")), default=None)
    for rel in files:
        data = open(os.path.join(base, rel), "rb").read()
        label_rng = random.Random(rel)
        for label, bad in mutations(data, label_rng, 2, text=rel.endswith(".json")):
            def mutate(run, work, rel=rel, bad=bad):
                run.write(rel, bad)
            if rel == live and label != "deleted":
                # Damage at the end of the live segment is what a crash mid-append leaves: the
                # store drops the uncommitted tail, and must say so. An emptied live segment looks
                # exactly like a fresh one (appends do not rewrite the manifest), so it is allowed.
                add(f"{rel}:{label}", mutate, [os.path.basename(rel)], expect="any",
                    warn=None if label == "empty" else ["torn", "dropped", "cut", "corrupt"])
                continue
            add(f"{rel}:{label}", mutate, [os.path.basename(rel), "memory"])
        def remove(run, work, rel=rel):
            os.remove(run.path(rel))
        add(f"{rel}:deleted", remove, [os.path.basename(rel), "memory"])
    # The memory manifest naming a segment that does not exist (renumbered, or one more).
    manifest_rel = "memory/manifest.json"
    if manifest_rel in files:
        def renumbered(run, work):
            m = json.loads(run.read(manifest_rel))
            m["segments"][0]["number"] = 99
            run.write(manifest_rel, json.dumps(m).encode())
        add("manifest-names-missing-segment", renumbered, ["seg-000099", "segment 99"])

        def extra(run, work):
            m = json.loads(run.read(manifest_rel))
            last = m["segments"][-1]
            # It does not chain (a crash right after a rollover lists a segment that does).
            m["segments"].append({"dictionary": 0, "firstEvent": last["firstEvent"] + 100, "number": last["number"] + 5})
            run.write(manifest_rel, json.dumps(m).encode())
        add("manifest-extra-missing-segment", extra, ["seg-", "segment"])

        def snapshot_hash(run, work):
            m = json.loads(run.read(manifest_rel))
            m["snapshots"][0]["hash"] = "0" * 16
            run.write(manifest_rel, json.dumps(m).encode())
        add("manifest-snapshot-hash-wrong", snapshot_hash, ["snap-", "snapshot"])
    return cases


# ---------------------------------------------------------------- exec tasks files and checker output


def tasks_cases(rng, repo):
    cases = []
    good = open(os.path.join(repo, "data/exec/tasks.jsonl"), "rb").read()
    first = json.loads(good.split(b"\n")[0])
    checker = f"python3 {repo}/data/exec/check_python.py"

    def add(name, data, task_id="py-add", expect="error"):
        def mutate(run, work, data=data):
            with open(os.path.join(work, "tasks.jsonl"), "wb") as f:
                f.write(data)
        # With expect="any" (fields only the checker interprets), the check must still not pass.
        check = (lambda out: "a task the checker cannot run passed" if b"[pass]" in out else None)
        cases.append(Case("tasks", name, mutate,
                          ["check", "--family", "exec", "--tasks-file", "{work}/tasks.jsonl", "--checker", checker,
                           "--task-id", task_id, "--canonical"], ["tasks.jsonl"], expect=expect, check=check))

    def with_first(fn):
        task = json.loads(json.dumps(first))
        fn(task)
        return json.dumps(task).encode() + b"\n" + good
    add("empty", b"")
    add("not-json", b"hello\n" + good)
    add("truncated", good[: len(good) // 3])
    add("binary", bytes(rng.randrange(256) for _ in range(300)))
    add("deep", b"[" * 100000 + b"]" * 100000 + b"\n")
    add("duplicate-id", with_first(lambda t: None))
    add("missing-id", with_first(lambda t: t.pop("id")))
    add("id-number", with_first(lambda t: t.update(id=5)))
    add("missing-prompt", with_first(lambda t: t.pop("prompt")))
    add("level-negative", with_first(lambda t: t.update(level=-1, id="py-x")))
    add("level-huge", with_first(lambda t: t.update(level=2**62, id="py-x")))
    add("tests-not-array", with_first(lambda t: t.update(tests=5, id="py-x")), task_id="py-x", expect="any")
    add("array-line", b"[1,2,3]\n" + good)
    add("huge-line", b"{\"id\":\"" + b"a" * (40 << 20) + b"\"}\n")
    add("id-empty", with_first(lambda t: t.update(id="")))
    return cases


def checker_cases(rng, repo):
    cases = []
    outputs = [
        ("empty", b""), ("prose", b"all good, passed!"), ("array", b"[true]"), ("passed-string", b'{"passed":"true","feedback":""}'),
        ("no-feedback", b'{"passed":true}'), ("two-objects", b'{"passed":true,"feedback":""}{"passed":true,"feedback":""}'),
        ("deep", b"[" * 100000 + b"]" * 100000), ("score-2", b'{"passed":false,"feedback":"x","score":2}'),
        ("score-nan", b'{"passed":false,"feedback":"x","score":NaN}'), ("offset-negative", b'{"passed":false,"feedback":"x","error_offset":-4}'),
        ("offset-huge", b'{"passed":false,"feedback":"x","error_offset":9223372036854775807}'),
        ("offset-overflow", b'{"passed":false,"feedback":"x","error_offset":99999999999999999999999}'),
        ("kind-unknown", b'{"passed":false,"feedback":"x","kind":"weird"}'), ("invalid-utf8", b'{"passed":true,"feedback":"\xff"}'),
        ("truncated", b'{"passed":true,"feedb'), ("nul", b'{"passed":true,\x00"feedback":""}'),
        ("huge-feedback", b'{"passed":true,"feedback":"' + b"a" * (8 << 20) + b'"'),
        ("passed-number", b'{"passed":1,"feedback":""}'), ("location-number", b'{"passed":false,"feedback":"x","location":5}'),
        ("binary", bytes(rng.randrange(256) for _ in range(500))),
    ]
    for name, output in outputs:
        def mutate(run, work, output=output):
            with open(os.path.join(work, "out.bin"), "wb") as f:
                f.write(output)
            with open(os.path.join(work, "checker.py"), "w") as f:
                f.write("import sys\nsys.stdin.read()\nsys.stdout.buffer.write(open(%r,'rb').read())\n"
                        % os.path.join(work, "out.bin"))

        def check(stdout):
            try:
                result = json.loads(stdout)
            except ValueError:
                return "check --json printed no JSON"
            text = json.dumps(result)
            if result.get("passed") is True or '"passed": true' in text.split('"critique"')[0]:
                return "malformed checker output counted as a pass"
            if not any(k in text for k in ("checker-error", "invalid checker output", "output-limit", "checker-crash")):
                return "malformed checker output not reported as a checker failure"
            return None
        cases.append(Case("checker", name, mutate,
                          ["check", "--family", "exec", "--tasks-file", f"{repo}/data/exec/tasks.jsonl", "--checker",
                           "python3 {work}/checker.py", "--task-id", "py-add", "--canonical", "--json"],
                          [], expect="any", check=check))
    return cases


# ---------------------------------------------------------------- running


def build_base(hindcast, work):
    base = os.path.join(work, "base")
    if os.path.exists(os.path.join(base, "policy", "round-0001", "DONE")):
        return base
    shutil.rmtree(base, ignore_errors=True)
    spec = os.path.join(work, "corpus.toml")
    with open(spec, "w") as f:
        f.write(TINY_SPEC)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    subprocess.run([hindcast, "run", spec, "--run", base], check=True, env=env, stdout=subprocess.DEVNULL)
    # Every memory stage ends with a compaction, so the live segment is empty; retire a note so
    # that the segment holds a committed event (the memory cases need one to lose).
    listing = subprocess.run([hindcast, "memory", "ls", "--run", base], check=True, env=env,
                             stdout=subprocess.PIPE).stdout.decode().splitlines()
    note = next((line.split()[0] for line in listing[1:] if line.strip()), None)
    if note:
        subprocess.run([hindcast, "memory", "retire", note, "--reason", "corpus", "--run", base], check=True,
                       env=env, stdout=subprocess.DEVNULL)
    return base


def run_case(hindcast, base, case, scratch, timeout, env):
    work = tempfile.mkdtemp(dir=scratch)
    run_dir = os.path.join(work, "run")
    shutil.copytree(base, run_dir, symlinks=True)
    run = Run(run_dir)
    case.mutate(run, work)
    before = tree_state(run_dir)
    command = [hindcast] + [part.replace("{run}", run_dir).replace("{work}", work) for part in case.command]
    started = time.monotonic()
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=env,
                              cwd=work)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        code, out, err = None, e.stdout or b"", e.stderr or b""
    elapsed = time.monotonic() - started
    after = tree_state(run_dir)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if case.check_created and code != 0 and os.path.exists(os.path.join(work, case.check_created)):
        changed.append(case.check_created)
    text = (out + err).decode("utf-8", "replace")
    if code is None:
        verdict = "hang"
    elif code < 0 or code in (132, 133, 134, 135, 136, 139):
        verdict = "trap"
    elif changed and (code != 0 or case.read_only):
        verdict = "damaged"
    elif code == 0 and case.expect == "error":
        verdict = "silent"
    elif code == 0 and case.check is not None and case.check(out):
        verdict = "silent"
    elif code == 0 and case.warn and not any(w in text.lower() for w in case.warn):
        verdict = "silent"
    elif code != 0 and case.expect == "error" and case.names and not any(n in text for n in case.names):
        verdict = "unnamed"
    elif code != 0 and case.expect == "any" and case.check is not None:
        verdict = "ok"
    else:
        verdict = "ok"
    detail = {"kind": case.kind, "case": case.name, "verdict": verdict, "exit": code, "seconds": round(elapsed, 2),
              "changed": changed[:5], "output": text.strip()[-400:]}
    shutil.rmtree(work, ignore_errors=True)
    return detail


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hindcast", required=True)
    parser.add_argument("--work", default=None, help="scratch directory (default: a new temporary one)")
    parser.add_argument("--subset", type=int, default=1, help="run every N-th case")
    parser.add_argument("--kinds", default="spec,shard,manifest,metrics,checkpoint,memory,tasks,checker")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--json", default=None, help="write every case's result to this file")
    parser.add_argument("--list", action="store_true", help="only list the cases")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    hindcast = os.path.abspath(args.hindcast)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    work = args.work or tempfile.mkdtemp(prefix="hindcast-corpus-")
    os.makedirs(work, exist_ok=True)
    base = build_base(hindcast, work)
    rng = random.Random(20261203)
    kinds = args.kinds.split(",")
    builders = {"spec": lambda: spec_cases(rng), "shard": lambda: shard_cases(rng),
                "manifest": lambda: manifest_cases(rng), "metrics": lambda: metrics_cases(rng),
                "checkpoint": lambda: checkpoint_cases(rng), "memory": lambda: memory_cases(rng, base),
                "tasks": lambda: tasks_cases(rng, repo), "checker": lambda: checker_cases(rng, repo)}
    cases = [c for kind in kinds for c in builders[kind]()]
    cases = cases[:: max(1, args.subset)]
    if args.list:
        for case in cases:
            print(case.kind, case.name, " ".join(case.command))
        return 0
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    scratch = os.path.join(work, "cases")
    os.makedirs(scratch, exist_ok=True)
    results = []
    for case in cases:
        result = run_case(hindcast, base, case, scratch, args.timeout, env)
        results.append(result)
        if args.verbose or result["verdict"] != "ok":
            print(f"{result['verdict']:8} {case.kind:10} {case.name}  (exit {result['exit']}, {result['seconds']} s)"
                  + ("" if result["verdict"] == "ok" else "\n         " + result["output"][-300:].replace("\n", "\n         ")
                     + (f"\n         changed: {result['changed']}" if result["changed"] else "")),
                  flush=True)
    counts = {}
    for r in results:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    by_kind = {}
    for r in results:
        by_kind.setdefault(r["kind"], {}).setdefault(r["verdict"], 0)
        by_kind[r["kind"]][r["verdict"]] += 1
    print(f"{len(results)} cases: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in
                                                 ["ok", "trap", "hang", "damaged", "silent", "unnamed"]))
    for kind, verdicts in by_kind.items():
        print(f"  {kind:10} " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"counts": counts, "by_kind": by_kind, "cases": results}, f, indent=1)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if counts.get("ok", 0) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
