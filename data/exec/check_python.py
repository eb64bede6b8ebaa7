#!/usr/bin/env python3
"""Hindcast exec checker: runs an attempt as a Python function against unit tests.

Protocol (docs/exec-protocol.md). Reads one JSON object from stdin:

    {"task": {"id": ..., "entry_point": "add", "tests": [{"args": [1, 2], "expected": 3}, ...],
              "timeout_seconds": 1.0 (optional, per test)},
     "attempt": "def add(a, b):\n    return a + b"}

and writes one JSON object to stdout:

    {"passed": bool, "score": float, "feedback": str, "kind": str, "error_offset": int,
     "location": str, "critique": {"text": str, "cause": str}, "details": {...}}

A chat model's reply is accepted as it comes: when the attempt holds a fenced block
(```python ... ```), the first block is the code that runs, and offsets still count in the whole
attempt. Feedback follows the LeetCode style: the first error found, with the call, what it returned
and what was expected. `error_offset` is the UTF-8 byte offset in the attempt of the line
(or, for syntax errors, the character) where the error is. The attempt's own prints are
captured so they cannot corrupt this output. The sandbox around this script enforces the hard
limits; the per-test timeout here only makes the feedback name the slow test.
"""
import contextlib
import io
import json
import re
import signal
import sys
import traceback

ATTEMPT_FILE = "<attempt>"


class TestTimeout(BaseException):
    """Raised by the alarm when one test runs too long (BaseException: the attempt's
    `except Exception` cannot swallow it)."""


def byte_offset(code, line, column=1):
    """UTF-8 byte offset of 1-based (line, column) in code; clamped to the text."""
    lines = code.split("\n")
    line = max(1, min(line, len(lines)))
    offset = sum(len(text.encode("utf-8")) + 1 for text in lines[: line - 1])
    text = lines[line - 1]
    if column is None or column < 1:
        column = len(text) - len(text.lstrip()) + 1
    return min(offset + len(text[: column - 1].encode("utf-8")), len(code.encode("utf-8")))


def attempt_line(error):
    """The last line number inside the attempt in the error's traceback, or None."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == ATTEMPT_FILE:
            line = frame.lineno
    return line


def clip(text, limit):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value, limit=60):
    return clip(repr(value), limit)


def kebab(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def failure(kind, feedback, offset=None, location=None, critique=None, score=0.0, **details):
    result = {"passed": False, "score": score, "kind": kind, "feedback": feedback, "details": details}
    if offset is not None:
        result["error_offset"] = offset
    if location is not None:
        result["location"] = location
    if critique is not None:
        result["critique"] = critique
    return result


def explain_mismatch(call, got, expected):
    """A short critique of a wrong return value: what kind of wrong it is."""
    if got is None and expected is not None:
        return {"text": f"{call} returned None", "cause": "missing-return", "hint": "return the result"}
    if type(got) is not type(expected):
        return {"text": f"{call} returned a {type(got).__name__}, not a {type(expected).__name__}",
                "cause": "wrong-type"}
    if isinstance(got, (int, float)) and not isinstance(got, bool) and abs(got - expected) == 1:
        return {"text": f"{call} is off by one", "cause": "off-by-one", "hint": "check loop bounds and comparisons"}
    if isinstance(got, (list, str)) and len(got) == len(expected) and got == expected[::-1]:
        return {"text": f"{call} is reversed", "cause": "reversed-order"}
    if isinstance(got, (list, str)) and len(got) != len(expected):
        return {"text": f"{call} has {len(got)} items, not {len(expected)}", "cause": "wrong-length"}
    return {"text": f"{call} returned the wrong value", "cause": "wrong-result"}


def on_alarm(signum, frame):
    raise TestTimeout()


def run_limited(function, seconds, sink):
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return function()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


FENCE = re.compile(r"```[A-Za-z0-9_+.-]*[ \t]*\r?\n(.*?)(?:```|\Z)", re.S)


def code_of(attempt):
    """The code to run and its UTF-8 byte offset in the attempt: the first fenced block of a
    chat reply (```python ... ```), or else the whole attempt."""
    match = FENCE.search(attempt)
    if match is None:
        return attempt, 0
    return match.group(1), len(attempt[: match.start(1)].encode("utf-8"))


def check(task, attempt):
    entry = task["entry_point"]
    tests = task["tests"]
    seconds = float(task.get("timeout_seconds", 1.0))
    sink = io.StringIO()
    # Offsets are reported in the attempt; the code may be a fenced block inside it.
    source, base = code_of(attempt)

    def at(line, column=1):
        return base + byte_offset(source, line, column)

    try:
        code = compile(source, ATTEMPT_FILE, "exec")
    except ValueError as error:  # e.g. null bytes in the source
        return failure("parse-error", f"the code cannot be compiled: {error}", base,
                       critique={"text": "the code contains bytes Python cannot read", "cause": "syntax-error"})
    except SyntaxError as error:
        line = error.lineno or 1
        offset = at(line, error.offset or 1)
        message = f"line {line}: SyntaxError: {error.msg}"
        return failure("parse-error", message, offset, location=f"line {line}",
                       critique={"text": f"syntax error on line {line}: {error.msg}", "cause": "syntax-error"})

    namespace = {"__name__": "attempt"}
    try:
        run_limited(lambda: exec(code, namespace), seconds, sink)
    except TestTimeout:
        return failure("time-limit", f"defining the function took over {seconds:g} s")
    except BaseException as error:  # noqa: BLE001 - anything the attempt raises is feedback
        line = attempt_line(error) or 1
        name = type(error).__name__
        return failure("runtime-error", f"line {line}: {name}: {error}", at(line, None),
                       location=f"line {line}",
                       critique={"text": f"{name} while defining the code", "cause": kebab(name)})

    function = namespace.get(entry)
    if not callable(function):
        return failure("runtime-error", f"the attempt does not define {entry}()", base,
                       critique={"text": f"define a function named {entry}", "cause": "missing-function"})

    passed = 0
    first = None
    for number, test in enumerate(tests, start=1):
        args = test.get("args", [])
        expected = test.get("expected")
        call = f"{entry}({', '.join(short(arg, 30) for arg in args)})"
        try:
            got = run_limited(lambda: function(*args), seconds, sink)
        except TestTimeout:
            if first is None:
                first = failure("time-limit", f"test {number}: {call} timed out after {seconds:g} s",
                                location=f"test {number}",
                                critique={"text": f"{call} never finished", "cause": "time-limit",
                                          "hint": "look for a loop that never ends"},
                                test=number, input=call)
            break  # the remaining tests could hang as well
        except BaseException as error:  # noqa: BLE001
            if first is None:
                line = attempt_line(error)
                name = type(error).__name__
                where = f" (line {line})" if line else ""
                first = failure("runtime-error", f"test {number}: {call} raised {name}: {clip(str(error), 80)}{where}",
                                at(line, None) if line else None,
                                location=f"test {number}{where}",
                                critique={"text": f"{call} raised {name}", "cause": kebab(name)},
                                test=number, input=call, error=name)
            continue
        if got == expected and type(got) is type(expected):
            passed += 1
        elif first is None:
            first = failure("failing-test", f"test {number}: {call} returned {short(got)}, expected {short(expected)}",
                            location=f"test {number}: {call} returned {short(got)}",
                            critique=explain_mismatch(call, got, expected),
                            test=number, input=call, got=short(got), expected=short(expected))

    if first is None:
        return {"passed": True, "score": 1.0, "feedback": f"passed {passed} tests"}
    first["score"] = passed / len(tests) if tests else 0.0
    return first


def main():
    request = json.load(sys.stdin)
    result = check(request["task"], request["attempt"])
    sys.stdout.write(json.dumps(result))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
