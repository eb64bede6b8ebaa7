#!/usr/bin/env python3
"""Loads `hindcast export` output with the trainers' own readers and prints what they see.

Usage: check_export.py EXPORT_DIR

Reads trl-sdpo.jsonl, sft.jsonl and teacher-logprobs.jsonl with `datasets.load_dataset("json")`
(what TRL consumes) and verl.parquet with `pyarrow.parquet` and `datasets.load_dataset("parquet")`
(what verl's RLHFDataset does). Prints one JSON object: per file the row count, the column names
and the first row. Exits 3 when `datasets` or `pyarrow` is missing.
"""
import json
import os
import sys

try:
    import datasets
    import pyarrow.parquet as pq
except ImportError as error:
    sys.stderr.write(f"{error.name} is missing: run scripts/bootstrap.sh --test "
                     "(or python3 -m pip install datasets pyarrow)\n")
    sys.exit(3)


def main():
    directory = sys.argv[1]
    datasets.disable_progress_bars()
    out = {}
    for name in ["trl-sdpo", "sft", "teacher-logprobs"]:
        path = os.path.join(directory, name + ".jsonl")
        if os.path.getsize(path) == 0:  # datasets cannot read an empty file; 0 rows is an answer
            out[name] = {"rows": 0, "columns": [], "first": None}
            continue
        data = datasets.load_dataset("json", data_files=path, split="train")
        out[name] = {"rows": len(data), "columns": sorted(data.column_names),
                     "first": data[0] if len(data) else None}
    table = pq.read_table(os.path.join(directory, "verl.parquet"))
    data = datasets.load_dataset("parquet", data_files=os.path.join(directory, "verl.parquet"),
                                 split="train")
    out["verl"] = {"rows": table.num_rows, "columns": sorted(table.column_names),
                   "prompt_type": str(table.schema.field("prompt").type),
                   "first": data[0] if len(data) else None}
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
