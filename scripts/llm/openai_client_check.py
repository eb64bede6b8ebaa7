#!/usr/bin/env python3
"""Drives an OpenAI-compatible server with the official `openai` client and prints what it got.

Usage: openai_client_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)

Prints one JSON object: the model list, a seeded sampling request (n=2, logprobs=3, stop), an
echo scoring request (max_tokens 0, echo, logprobs, prompt_logprobs), a token-id prompt, and
the status codes and messages of deliberately bad requests. Used by HindcastServeTests, which
compares the results with the embedded sampler and scorer. Exits 3 if `openai` is missing.
"""
import json
import sys

try:
    import openai
except ImportError:
    sys.stderr.write("the Python package 'openai' is missing: run scripts/bootstrap.sh --test "
                     "(or python3 -m pip install openai)\n")
    sys.exit(3)


def main():
    base_url = sys.argv[1]
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)
    out = {"openai_version": openai.__version__}
    models = client.models.list()
    out["models"] = [m.id for m in models.data]
    model = out["models"][0]

    sampled = client.completions.create(
        model=model, prompt=["<task>12+7<answer>", "<task>3+4<answer>"], n=2, temperature=0.8,
        top_p=0.95, max_tokens=12, seed=42, logprobs=3, stop=["9"])
    out["sampled"] = [c.model_dump() for c in sampled.choices]
    out["sampled_usage"] = sampled.usage.model_dump()

    scored = client.completions.create(
        model=model, prompt="<task>12+7<answer>19<end>", max_tokens=0, echo=True, logprobs=2,
        extra_body={"prompt_logprobs": 1})
    out["scored"] = scored.choices[0].model_dump()

    ids = client.completions.create(model=model, prompt=[256, 49, 43, 50, 261], max_tokens=4,
                                    temperature=0, seed=1)
    out["ids"] = ids.choices[0].model_dump()

    bad = []
    for body in [
        {"prompt": "x", "n": 0},
        {"prompt": "x", "temperature": -1},
        {"prompt": "x", "logprobs": 99},
        {"prompt": [], "max_tokens": 1},
        {"prompt": "x", "max_tokens": 2, "stop": [1]},
        {"prompt": "x", "max_tokens": 2, "extra_body": {"wrong_field": 1}},
    ]:
        extra = body.pop("extra_body", None)
        try:
            client.completions.create(model=model, extra_body=extra, **body)
            bad.append({"status": 200})
        except openai.APIStatusError as error:
            bad.append({"status": error.status_code, "body": error.body})
    try:
        client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
        bad.append({"status": 200})
    except openai.APIStatusError as error:
        bad.append({"status": error.status_code, "body": error.body})
    out["bad"] = bad
    print(json.dumps(out))


if __name__ == "__main__":
    main()
