#!/usr/bin/python3
"""End-to-end test of `rig tokenize`: ids, --special, --decode, --skip-special and the exit
codes of bad input, against ../shared/golden/tokenizer_golden.json (HF tokenizers' output).
Exit 77 (skipped) when ../shared is absent."""
import json
import os
import subprocess
import sys
import tempfile

RIG = os.environ.get("RIG_BIN", "build/rig")
SHARED = os.environ.get("RIG_SHARED", "../shared")

GOLDEN = os.path.join(SHARED, "golden", "tokenizer_golden.json")
if not os.path.exists(GOLDEN):
    print(f"SKIPPED: {GOLDEN} not found (set RIG_SHARED)")
    sys.exit(77)

TOKENIZERS = {
    "bytebpe-1k": os.path.join(SHARED, "golden", "tokenizers", "bytebpe-1k.json"),
    "llama2style-1k": os.path.join(SHARED, "golden", "tokenizers", "llama2style-1k.json"),
    # a model directory holding tokenizer.json
    "gpt2": os.path.join(SHARED, "fixtures", "tokenizers", "gpt2"),
}


def rig(args, stdin):
    p = subprocess.run([RIG, "tokenize", *args], input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def jsonl(values):
    return "".join(json.dumps(v) + "\n" for v in values).encode("utf-8")


def lines(out):
    return [json.loads(line) for line in out.splitlines()]


golden = json.load(open(GOLDEN, encoding="utf-8"))
checked = 0
for name, path in TOKENIZERS.items():
    if not os.path.exists(path):
        print(f"  {name}: not found, skipped")
        continue
    entries = golden[name]
    texts = [e["text"] for e in entries]

    rc, out, err = rig([path], jsonl(texts))
    assert rc == 0, f"{name}: exit {rc}: {err}"
    assert lines(out) == [e["ids"] for e in entries], f"{name}: ids differ from HF"

    rc, out, err = rig([path, "--special"], jsonl(texts))
    assert rc == 0, f"{name} --special: exit {rc}: {err}"
    assert lines(out) == [e["ids_with_special"] for e in entries], f"{name}: ids with special differ"

    rc, out, err = rig([path, "--decode"], jsonl([e["ids"] for e in entries]))
    assert rc == 0, f"{name} --decode: exit {rc}: {err}"
    assert lines(out) == [e["decoded"] for e in entries], f"{name}: decoded text differs"

    rc, out, err = rig([path, "--decode", "--skip-special"], jsonl([e["ids_with_special"] for e in entries]))
    assert rc == 0, f"{name} --decode --skip-special: exit {rc}: {err}"
    assert lines(out) == [e["decoded_skip_special"] for e in entries], f"{name}: skip-special text differs"
    checked += len(entries)
    print(f"  {name}: {len(entries)} entries identical to HF (ids, --special, --decode, --skip-special)")

path = TOKENIZERS["bytebpe-1k"]
bad = []


def expect_fail(what, args, stdin, code, *parts):
    rc, out, err = rig(args, stdin)
    assert rc == code, f"{what}: expected exit {code}, got {rc} (stderr: {err!r})"
    assert "error" in err and all(p in err for p in parts), f"{what}: unclear error {err!r}"
    assert "Traceback" not in err and "terminate called" not in err, f"{what}: crashed: {err!r}"
    bad.append(what)


expect_fail("invalid UTF-8 on stdin", [path], b'"ok"\n"a\xff b"\n', 4, "line 2", "UTF-8")
expect_fail("not JSON on stdin", [path], b"hello\n", 4, "line 1")
expect_fail("not a string", [path], b"[1, 2]\n", 4, "expected a JSON string")
expect_fail("not ids with --decode", [path, "--decode"], b'"text"\n', 4, "expected a JSON array")
expect_fail("negative id", [path, "--decode"], b"[5, -3]\n", 4, "-3")
# An id past the vocabulary decodes to nothing, as HF tokenizers does (padded embeddings).
rc, out, err = rig([path, "--decode"], b"[5, 99999999]\n[5]\n")
assert rc == 0 and lines(out)[0] == lines(out)[1], f"id past the vocabulary: {rc} {out!r} {err!r}"
expect_fail("missing tokenizer", ["/nonexistent/dir"], b"", 3, "/nonexistent/dir")
expect_fail("no PATH", [], b"", 2)
expect_fail("unknown option", [path, "--bogus"], b"", 2, "--bogus")

with tempfile.TemporaryDirectory() as tmp:
    text = open(path, encoding="utf-8").read()
    cut = os.path.join(tmp, "truncated.json")
    with open(cut, "w", encoding="utf-8") as f:
        f.write(text[: len(text) // 3])
    expect_fail("truncated tokenizer.json", [cut], b'"a"\n', 3, cut)

    unknown = os.path.join(tmp, "unknown.json")
    j = json.loads(text)
    j["decoder"] = {"type": "CTC"}
    with open(unknown, "w", encoding="utf-8") as f:
        json.dump(j, f)
    expect_fail("unknown component", [unknown], b'"a"\n', 3, unknown, "decoder.type", "CTC")

    # a model directory without tokenizer.json
    expect_fail("model dir without tokenizer.json", [tmp], b'"a"\n', 3, "tokenizer.json")

print(f"ok: {checked} golden entries, {len(bad)} bad-input cases exit cleanly")
