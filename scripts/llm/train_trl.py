#!/usr/bin/env python3
"""Train a GGUF model on a Hindcast export with TRL on the CPU, and write the result as GGUF.

    python3 scripts/llm/train_trl.py to-hf   --gguf MODEL.gguf --out HF_DIR
    python3 scripts/llm/train_trl.py train   --model HF_DIR --export EXPORT_DIR --out HF_DIR2
                                             [--sft-steps 4] [--distill-steps 4] [--lr 1e-5] [--seed 0]
    python3 scripts/llm/train_trl.py to-gguf --model HF_DIR --like MODEL.gguf --out NEW.gguf

`to-hf` de-quantizes a llama-architecture GGUF into a Hugging Face folder (transformers' GGUF
loader; `save_pretrained` refuses a GGUF-loaded model, so the weights are loaded into a model
built from the same config). `train` runs, in order, TRL's SFTTrainer on the verified hindsight
rewrites (`sft.jsonl`, conversational prompt/completion) and a distillation loop toward the
teacher's stored top-k log-probs (`teacher-logprobs.jsonl`): for every student token the loss is
the cross-entropy from the teacher's top-k distribution (renormalized) to the student's, on the
student's own sampled tokens and under the student's prompt. TRL has no trainer for stored
per-token teacher scores (its GKD trainer queries a live teacher), so that part is a plain torch
loop over the same model. `to-gguf` writes the trained weights into a copy of the original GGUF's
metadata (tokenizer, chat template) as F16 matrices and F32 norms, undoing the Q/K row permutation that
transformers applied when it loaded the GGUF, so llama.cpp's server can serve it.

Prints one JSON line per phase with its losses and wall seconds. Deterministic for a given seed
and thread count (torch.manual_seed, one thread unless --threads).
"""

import argparse
import json
import math
import os
import random
import sys
import time


def log(event):
    print(json.dumps(event, sort_keys=True), flush=True)


def to_hf(args):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(os.path.abspath(args.gguf))
    started = time.time()
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings have no lm_head tensor of their own; anything else missing is an error.
    missing = [key for key in missing if key != "lm_head.weight"]
    if missing or unexpected:
        raise SystemExit(f"to-hf: weights do not match the config: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    log({"phase": "to-hf", "parameters": sum(p.numel() for p in model.parameters()),
         "seconds": round(time.time() - started, 1), "out": args.out})


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def messages(prompt):
    """An export's prompt: a list of chat messages (a chat run) or a string."""
    if isinstance(prompt, list):
        return prompt
    raise SystemExit("train: the export's prompts are not chat messages; export a run with [policy] context = \"chat\"")


def sft(model, tokenizer, rows, args):
    """A few steps of TRL's SFTTrainer on verified rewrites; returns the per-step losses."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    data = Dataset.from_list([{"prompt": messages(r["prompt"]), "completion": r["completion"]} for r in rows])
    config = SFTConfig(
        output_dir=os.path.join(args.out, "sft-trainer"), max_steps=args.sft_steps,
        per_device_train_batch_size=args.batch, learning_rate=args.lr, lr_scheduler_type="constant",
        warmup_steps=0, logging_steps=1, save_strategy="no", report_to=[], seed=args.seed,
        completion_only_loss=True, use_cpu=True, dataloader_num_workers=0, bf16=False, fp16=False,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def distill(model, tokenizer, rows, args):
    """Steps of cross-entropy from the stored teacher top-k to the student, on the student's tokens."""
    import torch

    rng = random.Random(args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    model.train()
    losses = []
    examples = []
    for row in rows:
        prompt_ids = tokenizer.apply_chat_template(
            messages(row["student_prompt"]), add_generation_prompt=True, tokenize=True)
        if hasattr(prompt_ids, "keys"):  # a BatchEncoding in some transformers versions
            prompt_ids = prompt_ids["input_ids"]
        completion = row["completion_tokens"]
        tops = row["teacher_top_ids"]
        top_logprobs = row["teacher_top_logprobs"]
        if not completion or len(tops) != len(completion) or any(len(t) == 0 for t in tops):
            continue
        examples.append((list(prompt_ids), completion, tops, top_logprobs))
    if not examples:
        return losses
    for step in range(args.distill_steps):
        batch = [examples[rng.randrange(len(examples))] for _ in range(args.batch)]
        optimizer.zero_grad()
        total = 0.0
        tokens = 0
        for prompt_ids, completion, tops, top_logprobs in batch:
            ids = torch.tensor([prompt_ids + completion])
            logits = model(input_ids=ids).logits[0]
            # Logits at position p predict token p + 1: the completion's predictions start at len(prompt) - 1.
            start = len(prompt_ids) - 1
            student = torch.log_softmax(logits[start:start + len(completion)].float(), dim=-1)
            for t in range(len(completion)):
                teacher = torch.tensor(top_logprobs[t], dtype=torch.float32)
                weights = torch.softmax(teacher, dim=0)  # renormalized top-k
                total = total - (weights * student[t, torch.tensor(tops[t])]).sum()
                tokens += 1
        loss = total / max(1, tokens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


def train(args):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    rows = read_jsonl(os.path.join(args.export, "sft.jsonl"))
    started = time.time()
    if rows and args.sft_steps > 0:
        losses = sft(model, tokenizer, rows, args)
        log({"phase": "sft", "rows": len(rows), "steps": args.sft_steps, "losses": losses,
             "seconds": round(time.time() - started, 1)})
    else:
        log({"phase": "sft", "rows": len(rows), "steps": 0, "skipped": "no verified rewrites" if not rows else "--sft-steps 0"})

    rows = read_jsonl(os.path.join(args.export, "teacher-logprobs.jsonl"))
    started = time.time()
    losses = distill(model, tokenizer, rows, args) if args.distill_steps > 0 else []
    log({"phase": "distill", "rows": len(rows), "steps": len(losses), "losses": losses,
         "seconds": round(time.time() - started, 1)})
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)


def permute(weights, heads):
    """llama.cpp's row order for Q and K (the inverse of transformers' reverse permutation)."""
    rows = weights.shape[0]
    return (weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def to_gguf(args):
    import numpy as np
    import gguf
    from safetensors.numpy import load_file

    started = time.time()
    reader = gguf.GGUFReader(args.like)
    arch_field = reader.fields["general.architecture"]
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
    if arch != "llama":
        raise SystemExit(f"to-gguf: only llama-architecture models are supported, not {arch}")
    heads = int(reader.fields["llama.attention.head_count"].parts[-1][0])
    kv_heads = int(reader.fields["llama.attention.head_count_kv"].parts[-1][0])
    layers = int(reader.fields["llama.block_count"].parts[-1][0])

    weights = {}
    for file in sorted(os.listdir(args.model)):
        if file.endswith(".safetensors"):
            weights.update(load_file(os.path.join(args.model, file)))
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                 "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
                 "post_attention_layernorm": "ffn_norm"}
    for i in range(layers):
        for hf, gg in per_layer.items():
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{gg}.weight"

    wanted = {tensor.name for tensor in reader.tensors}
    writer = gguf.GGUFWriter(args.out, arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            writer.add_uint32(key, int(gguf.LlamaFileType.MOSTLY_F16))
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            item = field.types[-1]
            if item == gguf.GGUFValueType.STRING:
                value = [bytes(field.parts[i]).decode("utf-8", errors="surrogateescape") for i in field.data]
            else:
                value = [field.parts[i].tolist()[0] for i in field.data]
            writer.add_key_value(key, value, kind, sub_type=item)
        elif kind == gguf.GGUFValueType.STRING:
            writer.add_key_value(key, bytes(field.parts[field.data[0]]).decode("utf-8"), kind)
        else:
            writer.add_key_value(key, field.parts[field.data[0]].tolist()[0], kind)

    written = set()
    for hf, gg in names.items():
        if gg not in wanted or hf not in weights:
            continue
        tensor = weights[hf].astype(np.float32)
        if hf.endswith("q_proj.weight"):
            tensor = permute(tensor, heads)
        elif hf.endswith("k_proj.weight"):
            tensor = permute(tensor, kv_heads)
        # Matrices in F16 (half the memory traffic of F32 when served), norms in F32.
        if tensor.ndim == 2:
            tensor = tensor.astype(np.float16)
        writer.add_tensor(gg, np.ascontiguousarray(tensor))
        written.add(gg)
    if written != wanted:
        raise SystemExit(f"to-gguf: tensors not written: {sorted(wanted - written)}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    log({"phase": "to-gguf", "tensors": len(written), "seconds": round(time.time() - started, 1), "out": args.out})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    a = commands.add_parser("to-hf")
    a.add_argument("--gguf", required=True)
    a.add_argument("--out", required=True)
    b = commands.add_parser("train")
    b.add_argument("--model", required=True)
    b.add_argument("--export", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--sft-steps", type=int, default=4)
    b.add_argument("--distill-steps", type=int, default=4)
    b.add_argument("--batch", type=int, default=4)
    b.add_argument("--lr", type=float, default=1e-5)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--threads", type=int, default=1)
    c = commands.add_parser("to-gguf")
    c.add_argument("--model", required=True)
    c.add_argument("--like", required=True, help="the GGUF the model came from (metadata, tokenizer)")
    c.add_argument("--out", required=True)
    args = parser.parse_args()
    {"to-hf": to_hf, "train": train, "to-gguf": to_gguf}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
