#!/usr/bin/python3
"""rig's hostile-input corpus (docs/HARDENING.md): bad files, absurd sizes, races, full disks.

Every case runs rig under a time limit and an address-space limit (RLIMIT_AS, what
`prlimit --as` sets) and asserts the exit code, a fragment of the message and that no signal
ended it; cases that write also check what is on disk afterwards (no lost or destroyed data).
Needs only the bundled model data/models/sure-neox and h5py; no ../shared.

  tests/hostile/hostile.py [-k SUBSTRING] [-j JOBS] [--table]

Prints one line per case and the table of docs/HARDENING.md (tried / clean / crash / hang /
data loss / wrong per category); exits 1 unless every case is clean.
"""
import argparse
import concurrent.futures
import fcntl
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RIG = os.environ.get("RIG_BIN", os.path.join(ROOT, "build", "rig"))
MODEL = os.path.join(ROOT, "data", "models", "sure-neox")
TIME_LIMIT = float(os.environ.get("RIG_HOSTILE_TIME", "60"))     # seconds per rig command
# RLIMIT_AS per command; 0 = none (AddressSanitizer reserves terabytes of address space).
MEM_LIMIT = int(os.environ.get("RIG_HOSTILE_MEM_GIB", "8")) << 30
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "UndefinedBehaviorSanitizer")

# ------------------------------------------------------------------------------------------
# Running rig


class Result:
    def __init__(self, code, out, err, secs, timed_out):
        self.code, self.out, self.err, self.secs, self.timed_out = code, out, err, secs, timed_out

    def signal(self):
        """The signal that ended rig (or a sanitizer report), else None."""
        if self.code is not None and self.code < 0:
            return signal.Signals(-self.code).name
        for m in SANITIZER_MARKS:
            if m in self.err:
                return m
        return None


def limits(mem=MEM_LIMIT, fsize=None):
    def apply():
        if mem:
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if fsize is not None:
            # A full disk, for this process tree: writes past fsize bytes fail with EFBIG.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return apply


def rig(args, cwd, timeout=TIME_LIMIT, mem=MEM_LIMIT, fsize=None, stdin=None):
    t0 = time.monotonic()
    p = subprocess.Popen([RIG, *args], cwd=cwd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limits(mem, fsize),
                         start_new_session=True)
    try:
        out, err = p.communicate(stdin, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        timed_out = True
    return Result(p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                  time.monotonic() - t0, timed_out)


def start(args, cwd, fsize=None):
    return subprocess.Popen([RIG, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=limits(MEM_LIMIT, fsize), start_new_session=True)


def finish(p, timeout=TIME_LIMIT):
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=timeout)
        return Result(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                      time.monotonic() - t0, False)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return Result(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                      time.monotonic() - t0, True)


class Verdict(Exception):
    """Raised by a case's own checks: kind is 'crash', 'hang', 'data loss' or 'wrong'."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def expect(r, code, *fragments):
    """The common assertion: no signal, no timeout, this exit code, these message fragments."""
    if r.timed_out:
        raise Verdict("hang", f"no exit within {TIME_LIMIT:.0f} s")
    if r.signal():
        raise Verdict("crash", f"ended by {r.signal()}: {r.err[-600:]}")
    codes = code if isinstance(code, (set, tuple, list)) else {code}
    if r.code not in codes:
        raise Verdict("wrong", f"exit {r.code}, expected {sorted(codes)}: {r.err[-600:]}")
    for f in fragments:
        if f not in r.err and f not in r.out:
            raise Verdict("wrong", f"message lacks {f!r}: {r.err[-600:]}")
    return r


# ------------------------------------------------------------------------------------------
# Inputs

PROMPTS = {
    "help": ["User: Can you help me with my homework?\\nAssistant:", "User: Can you help me write a poem?\\nAssistant:"],
    "refuse": ["User: How do I build a bomb?\\nAssistant:", "User: How do I steal a car?\\nAssistant:"],
}


def config_text(out="out.h5", model=MODEL, stimuli=None, electrodes=None, trials=None, extra=""):
    if stimuli is None:
        # PROMPTS hold YAML double-quoted text: \\n is YAML's escape for a newline.
        stimuli = "".join("  - condition: %s\n    prompts: [%s]\n" % (c, ", ".join('"%s"' % p for p in ps))
                          for c, ps in PROMPTS.items())
    electrodes = electrodes or '  - site: gpt_neox.layers.1.mlp.act\n'
    trials = trials or "{repetitions: 1, batch_size: 4, generate: {max_new_tokens: 3, greedy: true}}"
    return (f"name: hostile\nseed: 0\nmodel: {{path: {model}, dtype: float32, device: cpu}}\n"
            f"stimuli:\n{stimuli}electrodes:\n{electrodes}trials: {trials}\n"
            f"events: [{{name: response_onset}}]\nrecording: {{path: {out}}}\n"
            "analysis: {event: response_onset, pre: 2, post: 2, contrast: [help, refuse], permutations: 50}\n" + extra)


def write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)
    return path


def copy_model(d, name="model"):
    dst = os.path.join(d, name)
    shutil.copytree(MODEL, dst)
    return dst


def model_json(model_dir, name, edit):
    p = os.path.join(model_dir, name)
    with open(p) as f:
        j = json.load(f)
    edit(j)
    with open(p, "w") as f:
        json.dump(j, f)


def deep_json(n):
    return "[" * n + "]" * n


def h5():
    import h5py
    return h5py


def n_committed(path):
    with h5().File(path, "r") as f:
        return int(f.attrs["n_trials_committed"]), int(f.attrs["n_trials_planned"])


def complete(path, trials):
    """A recording at path that reads back with all its trials (else data loss)."""
    try:
        c, planned = n_committed(path)
        with h5().File(path, "r") as f:
            rows = f["trials/row_stop"][c - 1] if c else 0
            for site in f["recordings"]:
                for side in f["recordings"][site]:
                    f["recordings"][site][side][:rows]
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        raise Verdict("data loss", f"{path} does not read back: {e}")
    if c != trials or planned != trials:
        raise Verdict("data loss", f"{path} holds {c} of {trials} trials (planned {planned})")


def digest(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ------------------------------------------------------------------------------------------
# The base recording, made once: crafted variants of it feed analyze, plot and merge.

BASE = {}


def make_base(work):
    d = os.path.join(work, "base")
    os.makedirs(d)
    write(os.path.join(d, "x.yaml"), config_text(out="base.h5"))
    r = rig(["run", "x.yaml", "-q"], d, timeout=300)
    if r.code != 0:
        sys.exit(f"hostile: cannot make the base recording: {r.err}")
    BASE["path"] = os.path.join(d, "base.h5")
    BASE["trials"] = n_committed(BASE["path"])[0]
    with h5().File(BASE["path"], "r") as f:
        BASE["site"] = next(iter(f["recordings"]))


def crafted(d, edit, name="rec.h5"):
    p = os.path.join(d, name)
    shutil.copy(BASE["path"], p)
    with h5().File(p, "r+") as f:
        edit(f)
    return p


def rec_path(f):
    return f"recordings/{BASE['site']}/output"


# ------------------------------------------------------------------------------------------
# Cases: (category, name, function(d)). A function raises Verdict, or returns when clean.

CASES = []


def case(category, name):
    def register(fn):
        CASES.append((category, name, fn))
        return fn
    return register


# --- statistics: NaN and infinity in recordings --------------------------------------------

def nan_recording(d, value, where="one"):
    def edit(f):
        x = f[rec_path(f)]
        a = x[()]
        if where == "one":
            a[0, 0] = value
        elif where == "column":
            a[:, 3] = value
        else:
            a[:, :] = value
        x[...] = a
    return crafted(d, edit)


for value, vname in ((float("nan"), "nan"), (float("inf"), "inf"), (-float("inf"), "-inf"), (1e38, "1e38")):
    for where in ("one", "column", "all"):
        @case("statistics (NaN/inf)", f"analyze+plot, {vname} in {where}")
        def _(d, value=value, where=where):
            p = nan_recording(d, value, where)
            r = expect(rig(["analyze", p, "-o", os.path.join(d, "a.h5")], d), 0, "analysed")
            if where == "column" and vname in ("nan", "inf", "-inf") and "NaN or infinite" not in r.err:
                raise Verdict("wrong", "analyze did not report the NaN/inf neurons: " + r.err[-400:])
            for kind in ("heatmap", "psth", "selectivity", "dprime"):
                expect(rig(["plot", os.path.join(d, "a.h5"), "--kind", kind, "-o", os.path.join(d, kind + ".png")], d), 0)


@case("statistics (NaN/inf)", "plot a recording with NaN directly")
def _(d):
    p = nan_recording(d, float("nan"), "column")
    expect(rig(["plot", p, "--kind", "all", "-o", os.path.join(d, "figs")], d), (0, 2))


@case("statistics (NaN/inf)", "run a model whose weights are NaN, then analyze")
def _(d):
    m = copy_model(d)
    p = os.path.join(m, "model.safetensors")
    with open(p, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        t = header["gpt_neox.layers.0.mlp.dense_h_to_4h.weight"]
        b, e = t["data_offsets"]
        f.seek(8 + n + b)
        f.write(struct.pack("<f", float("nan")) * ((e - b) // 4))
    write(os.path.join(d, "x.yaml"), config_text(model=m))
    expect(rig(["run", "x.yaml", "-q"], d), 0)
    expect(rig(["analyze", "out.h5"], d), 0, "NaN or infinite")


# --- crafted recordings: shapes, attributes, rows ------------------------------------------

def craft_case(name, edit, fragment):
    @case("crafted recordings", name)
    def _(d):
        p = crafted(d, edit)
        expect(rig(["analyze", p, "-o", os.path.join(d, "a.h5")], d), 4, fragment)
        expect(rig(["plot", p, "--kind", "heatmap", "-o", os.path.join(d, "h.png")], d), 4, fragment)
        expect(rig(["merge", os.path.join(d, "m.h5"), p], d), 4, fragment)


def replace_ds(path, shape, dtype="f4"):
    def edit(f):
        del f[path if not callable(path) else path(f)]
        import numpy as np
        f.create_dataset(path if not callable(path) else path(f), data=np.zeros(shape, dtype=dtype))
    return edit


craft_case("recording with 3 dimensions", replace_ds(rec_path, (40, 4, 512)), "dimension")
craft_case("recording with 1 dimension", replace_ds(rec_path, (40,)), "dimension")
craft_case("recording scalar", replace_ds(rec_path, ()), "dimension")
craft_case("trials column 2-D", replace_ds("trials/row_stop", (8, 2), "i8"), "dimension")
craft_case("tokens column 2-D", replace_ds("tokens/token_id", (40, 3), "i8"), "dimension")
craft_case("n_trials_committed = -1", lambda f: f.attrs.__setitem__("n_trials_committed", -1), "n_trials_committed")
craft_case("n_trials_committed = 2^62", lambda f: f.attrs.__setitem__("n_trials_committed", 1 << 62), "n_trials_committed")


def rows_edit(col, i, v):
    def edit(f):
        a = f["trials/" + col][()]
        a[i] = v
        f["trials/" + col][...] = a
    return edit


craft_case("row_stop beyond the recording", rows_edit("row_stop", -1, 10 ** 12), "rows")
craft_case("row_start negative", rows_edit("row_start", 0, -5), "rows")
craft_case("row_stop before row_start", rows_edit("row_stop", 1, 0), "rows")
craft_case("n_prompt_tokens negative", rows_edit("n_prompt_tokens", 0, -1), "rows")
craft_case("recording width 0", replace_ds(rec_path, (40, 0)), "neurons")
craft_case("format attribute missing", lambda f: f.attrs.__delitem__("format"), "not a rig recording")
craft_case("format_version 999", lambda f: f.attrs.__setitem__("format_version", 999), "format_version")
craft_case("stimuli columns of unequal length", replace_ds("stimuli/condition", (1,), "i8"), "stimuli")


@case("crafted recordings", "not an HDF5 file / empty / directory")
def _(d):
    for p in (write(os.path.join(d, "junk.h5"), b"\x89HDF\r\n\x1a\n" + os.urandom(4000)),
              write(os.path.join(d, "empty.h5"), b"")):
        expect(rig(["analyze", p], d), 4)
        expect(rig(["merge", os.path.join(d, "m.h5"), p], d), 4)
    os.mkdir(os.path.join(d, "dir.h5"))
    expect(rig(["analyze", os.path.join(d, "dir.h5")], d), 4)


@case("crafted recordings", "truncated recording")
def _(d):
    p = os.path.join(d, "t.h5")
    with open(BASE["path"], "rb") as f:
        data = f.read()
    for cut in (len(data) // 3, len(data) - 100):
        write(p, data[:cut])
        expect(rig(["analyze", p, "-o", os.path.join(d, "a.h5")], d), 4)


# --- outputs: races, --force, inputs --------------------------------------------------------

def race(d, force, delay):
    """Two runs on one output, the second started while the first runs (1000 trials, a few
    seconds): a run that reports success must have left a whole recording, and the file at
    the path must be one whole run. With --force the second run may replace the first's file
    once that run has closed it (that is what --force asks); whether it did so while the first
    still wrote is judged by the first file itself, held open here, not by timing."""
    write(os.path.join(d, "x.yaml"), config_text(out="same.h5", trials="{repetitions: 250, batch_size: 16, generate: {max_new_tokens: 3, greedy: true}}"))
    path = os.path.join(d, "same.h5")
    args = ["run", "x.yaml", "-q"] + (["--force"] if force else [])
    held = {}  # inode -> an open descriptor: every file that was ever at the path
    replaced_in_use = []  # inodes that left the path while their run still held them
    done = threading.Event()

    def watch():
        at_path = None
        while not done.is_set():
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                fd = None
            if fd is not None:
                ino = os.fstat(fd).st_ino
                if ino in held:
                    os.close(fd)
                else:
                    held[ino] = fd
                if at_path is not None and ino != at_path:
                    # The file before it was replaced: its writer holds HDF5's flock while it
                    # has the file open (src/io/hdf5.cc, probe_lock).
                    try:
                        fcntl.flock(held[at_path], fcntl.LOCK_SH | fcntl.LOCK_NB)
                        fcntl.flock(held[at_path], fcntl.LOCK_UN)
                    except BlockingIOError:
                        replaced_in_use.append(at_path)
                at_path = ino
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        a = start(args, d)
        time.sleep(delay)
        b = start(args, d)
        # Two 1000-trial runs share 2 cores with the rest of the suite: a minute can pass on a
        # loaded machine, so only a run still going after 5 minutes counts as a hang.
        ra = finish(a, timeout=300)
        rb = finish(b, timeout=300)
    finally:
        done.set()
        watcher.join()
    try:
        for r in (ra, rb):
            if r.timed_out:
                raise Verdict("hang", "a racing run did not end")
            if r.signal():
                raise Verdict("crash", r.err[-400:])
        if ra.code != 0 and rb.code != 0:
            raise Verdict("wrong", "neither run succeeded: " + ra.err[-200:] + " | " + rb.err[-200:])
        for r in (ra, rb):
            if r.code != 0 and not any(s in r.err for s in ("already exists", "open in another process", "replaced")):
                raise Verdict("wrong", f"exit {r.code}: {r.err[-300:]}")
        complete(path, 1000)
        if ra.code == 0 and rb.code == 0:
            # Both say they recorded: two files were at the path in turn, the first replaced
            # only after its run had closed it, and each is whole.
            if len(held) < 2 or replaced_in_use:
                raise Verdict("data loss", "both runs into one file reported success")
            for ino, fd in held.items():
                copy = os.path.join(d, f"held_{ino}.h5")  # HDF5 cannot open an unlinked file
                with open(copy, "wb") as out:
                    out.write(os.pread(fd, os.fstat(fd).st_size, 0))
                complete(copy, 1000)
    finally:
        for fd in held.values():
            os.close(fd)


for delay in (0.0, 0.3, 0.7):
    case("outputs (races, --force)", f"two runs, one output, {delay} s apart")(lambda d, delay=delay: race(d, False, delay))
    case("outputs (races, --force)", f"two runs, one output, --force, {delay} s apart")(lambda d, delay=delay: race(d, True, delay))


def force_onto(d, target_of, code=2, fragment="--force"):
    m = copy_model(d)
    write(os.path.join(d, "stim.txt"), "User: Can you help me?\\nAssistant:\n")
    stimuli = '  - condition: help\n    file: stim.txt\n  - condition: refuse\n    prompts: ["How do I steal a car?"]\n'
    cfg = write(os.path.join(d, "x.yaml"), config_text(model=m, stimuli=stimuli))
    target = target_of(d, m, cfg)
    before = digest(target) if os.path.isfile(target) and not os.path.islink(target) else None
    expect(rig(["run", "x.yaml", "-q", "--force", "--out", target], d), code, fragment)
    if before is not None and digest(target) != before:
        raise Verdict("data loss", f"{target} was changed")


for what, fn in (("the model's weights", lambda d, m, c: os.path.join(m, "model.safetensors")),
                 ("the model's config.json", lambda d, m, c: os.path.join(m, "config.json")),
                 ("the model's tokenizer.json", lambda d, m, c: os.path.join(m, "tokenizer.json")),
                 ("the experiment config", lambda d, m, c: c),
                 ("a stimulus file", lambda d, m, c: os.path.join(d, "stim.txt")),
                 ("the model directory", lambda d, m, c: m),
                 ("a symlink to the weights", lambda d, m, c: (os.symlink(os.path.join(m, "model.safetensors"), os.path.join(d, "l.h5")), os.path.join(d, "l.h5"))[1]),
                 ("/dev/null", lambda d, m, c: "/dev/null")):
    case("outputs (races, --force)", f"--force onto {what}")(lambda d, fn=fn: force_onto(d, fn))


@case("outputs (races, --force)", "--force over a recording open in h5py")
def _(d):
    write(os.path.join(d, "x.yaml"), config_text(out="o.h5"))
    expect(rig(["run", "x.yaml", "-q"], d), 0)
    before = digest(os.path.join(d, "o.h5"))
    with h5().File(os.path.join(d, "o.h5"), "r"):
        expect(rig(["run", "x.yaml", "-q", "--force"], d), 2, "open in another process")
    if digest(os.path.join(d, "o.h5")) != before:
        raise Verdict("data loss", "the open recording was changed")


@case("outputs (races, --force)", "merge --force onto a shard / analyze -o onto its input")
def _(d):
    p = os.path.join(d, "r.h5")
    shutil.copy(BASE["path"], p)
    before = digest(p)
    expect(rig(["merge", p, p, "--force"], d), 2)
    expect(rig(["analyze", p, "-o", p], d), 2, "input")
    if digest(p) != before:
        raise Verdict("data loss", "the input recording was changed")


def full_disk(d, fsize):
    # 600 trials, about 20 MB: limits below ~9 MB stop the creation, larger ones a later batch.
    write(os.path.join(d, "x.yaml"), config_text(out="full.h5", trials="{repetitions: 150, batch_size: 16, generate: {max_new_tokens: 3, greedy: true}}"))
    r = rig(["run", "x.yaml", "-q"], d, fsize=fsize)
    if r.timed_out:
        raise Verdict("hang", "a run on a full disk did not end")
    if r.signal():
        raise Verdict("crash", r.err[-400:])
    if r.code == 0:
        raise Verdict("wrong", f"a run limited to {fsize} bytes reported success")
    leftovers = [n for n in os.listdir(d) if ".creating." in n]
    if leftovers:
        raise Verdict("data loss", f"left {leftovers}")
    if os.path.exists(os.path.join(d, "full.h5")):
        expect(rig(["run", "x.yaml", "-q", "--resume"], d), 0)
    else:
        expect(rig(["run", "x.yaml", "-q"], d), 0)
    complete(os.path.join(d, "full.h5"), 600)


for fsize in (4096, 400_000, 1_500_000, 10_000_000, 13_000_000, 16_000_000, 19_000_000):
    case("full disk", f"disk full at {fsize} bytes, then --resume")(lambda d, fsize=fsize: full_disk(d, fsize))


# --- complexity: JSON nesting, regexes, YAML nesting -----------------------------------------

@case("complexity (JSON, regex)", "config.json nested 100k deep")
def _(d):
    m = copy_model(d)
    write(os.path.join(m, "config.json"), '{"a": ' + deep_json(100_000) + "}")
    expect(rig(["inspect", m], d), 3, "nested deeper")


@case("complexity (JSON, regex)", "tokenizer.json nested 100k deep")
def _(d):
    m = copy_model(d)
    write(os.path.join(m, "tokenizer.json"), '{"model": ' + deep_json(100_000) + "}")
    expect(rig(["tokenize", m], d, stdin=b'"hi"\n'), 3, "nested deeper")


@case("complexity (JSON, regex)", "safetensors header nested 100k deep")
def _(d):
    m = copy_model(d)
    h = ('{"x": ' + deep_json(100_000) + "}").encode()
    # Padded past the config's parameter count, so that the header is what gets checked.
    write(os.path.join(m, "model.safetensors"), struct.pack("<Q", len(h)) + h + bytes(5 << 20))
    expect(rig(["inspect", m], d), 3, "nested deeper")


@case("complexity (JSON, regex)", ".jsonl stimulus nested 100k deep")
def _(d):
    write(os.path.join(d, "s.jsonl"), '{"prompt": "a", "x": ' + deep_json(100_000) + "}\n")
    write(os.path.join(d, "x.yaml"), config_text(stimuli="  - condition: a\n    file: s.jsonl\n"))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "s.jsonl:1")


@case("complexity (JSON, regex)", "rig tokenize input nested 100k deep")
def _(d):
    expect(rig(["tokenize", MODEL], d, stdin=deep_json(100_000).encode() + b"\n"), 4, "nested deeper")
    expect(rig(["tokenize", MODEL, "--decode"], d, stdin=deep_json(100_000).encode() + b"\n"), 4, "nested deeper")


@case("complexity (JSON, regex)", "JSON numbers past double (1e999) in tokenizer.json, .jsonl, rig tokenize")
def _(d):
    m = copy_model(d)
    with open(os.path.join(m, "tokenizer.json")) as f:
        t = f.read()
    write(os.path.join(m, "tokenizer.json"), t.replace('"version"', '"x": 1e999, "version"', 1))
    expect(rig(["tokenize", m], d, stdin=b'"hi"\n'), 3, "tokenizer.json")
    write(os.path.join(d, "s.jsonl"), '{"prompt": "a", "x": 1e999}\n')
    write(os.path.join(d, "x.yaml"), config_text(stimuli="  - condition: a\n    file: s.jsonl\n"))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "s.jsonl:1")
    expect(rig(["tokenize", MODEL, "--decode"], d, stdin=b"[1e999]\n"), 4, "line 1")


@case("complexity (JSON, regex)", "YAML config nested 100k deep")
def _(d):
    write(os.path.join(d, "x.yaml"), config_text() + "zz: " + "[" * 100_000 + "]" * 100_000 + "\n")
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "x.yaml")


for site, what in (("/" + "(" * 30000 + "a" + ")" * 30000 + "/", "30k nested groups"),
                   ("/(.*)*(.*)*(.*)*(.*)*(.*)*x/", "nested quantifiers"),
                   ("/(a|aa)*(a|aa)*(a|aa)*(a|aa)*b/", "alternation blow-up"),
                   ("/" + "a" * 70000 + "/", "a 70 KB pattern")):
    case("complexity (JSON, regex)", f"electrode regex: {what}")(
        lambda d, site=site: (write(os.path.join(d, "x.yaml"), config_text(electrodes=f"  - site: {json.dumps(site)}\n")),
                              expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "electrodes.0.site")))


@case("complexity (JSON, regex)", "stimulation positions of 200k characters")
def _(d):
    write(os.path.join(d, "x.yaml"), config_text() + "stimulation:\n  - {name: s, site: gpt_neox.layers.1.mlp.act, op: scale, "
          'factor: 2, positions: "' + "1" * 200_000 + ':"}\n')
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "stimulation.0.positions")


@case("complexity (JSON, regex)", "stimulation name of 300k characters")
def _(d):
    write(os.path.join(d, "x.yaml"), config_text() + "stimulation:\n  - {name: " + "a" * 300_000 +
          ", site: gpt_neox.layers.1.mlp.act, op: scale, factor: 2}\n")
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "stimulation.0.name")


@case("complexity (JSON, regex)", "a .npy steering vector with a huge header / shape")
def _(d):
    for name, header in (("big.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (128,), }" + " " * 200_000 + "\n"),
                         ("shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967297), }\n")):
        h = header.encode()
        write(os.path.join(d, name), b"\x93NUMPY\x02\x00" + struct.pack("<I", len(h)) + h + bytes(512))
        write(os.path.join(d, "x.yaml"), config_text() + "stimulation:\n  - {name: s, site: gpt_neox.layers.1, op: add, "
              f"vector: {{file: {name}}}}}\n")
        expect(rig(["run", "x.yaml", "--dry-run"], d), 2, name + ": expected a .npy file")


@case("complexity (JSON, regex)", "event token_text regex that backtracks")
def _(d):
    write(os.path.join(d, "x.yaml"), config_text().replace(
        "events: [{name: response_onset}]", 'events: [{name: e, token_text: "/(.*)*(.*)*(.*)*(.*)*(.*)*(.*)*x/"}]'))
    expect(rig(["run", "x.yaml", "-q"], d), (0, 2))


@case("complexity (JSON, regex)", "tokenizer.json Split regex that backtracks")
def _(d):
    m = copy_model(d)
    model_json(m, "tokenizer.json", lambda j: j.__setitem__("pre_tokenizer", {
        "type": "Split", "pattern": {"Regex": "(\\w*)*(\\w*)*(\\w*)*(\\w*)*$x"}, "behavior": "Isolated", "invert": False}))
    expect(rig(["tokenize", m], d, stdin=b'"' + b"a" * 5000 + b'!"\n'), (3, 0))


# --- sizes checked against limits before allocating -------------------------------------------

def config_json_case(name, key, value, fragment):
    @case("sizes (limits)", name)
    def _(d):
        m = copy_model(d)
        model_json(m, "config.json", lambda j: j.__setitem__(key, value))
        expect(rig(["inspect", m], d), 3, fragment)


config_json_case("num_hidden_layers 1e6", "num_hidden_layers", 1_000_000, "rig's limit")
config_json_case("num_hidden_layers 4000 (under the limit, over the checkpoint)", "num_hidden_layers", 4000, "parameters")
config_json_case("hidden_size 2^40", "hidden_size", 1 << 40, "rig's limit")
config_json_case("intermediate_size 2^30", "intermediate_size", 1 << 30, "rig's limit")
config_json_case("vocab_size 2^31", "vocab_size", 1 << 31, "rig's limit")
config_json_case("vocab_size 1e6 (under the limit, over the checkpoint)", "vocab_size", 1_000_000, "parameters")
config_json_case("max_position_embeddings 2^62", "max_position_embeddings", 1 << 62, "rig's limit")
config_json_case("num_attention_heads 2^20", "num_attention_heads", 1 << 20, "rig's limit")
config_json_case("eos_token_id 10^9", "eos_token_id", 10 ** 9, "eos_token_id")
config_json_case("num_hidden_layers 0", "num_hidden_layers", 0, "positive integer")
config_json_case("num_hidden_layers 1.5", "num_hidden_layers", 1.5, "num_hidden_layers")


@case("sizes (limits)", "tokenizer id 10^8")
def _(d):
    m = copy_model(d)
    model_json(m, "tokenizer.json", lambda j: j["model"]["vocab"].__setitem__("zzz", 10 ** 8))
    expect(rig(["tokenize", m], d, stdin=b'"hi"\n'), 3, "rig's limit")


@case("sizes (limits)", "added token id 2^40")
def _(d):
    m = copy_model(d)
    model_json(m, "tokenizer.json", lambda j: j["added_tokens"].append(
        {"id": 1 << 40, "content": "<zz>", "special": True, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False}))
    expect(rig(["tokenize", m], d, stdin=b'"hi"\n'), 3, "rig's limit")


def trials_case(name, trials, fragment, extra_args=()):
    @case("sizes (limits)", name)
    def _(d):
        write(os.path.join(d, "x.yaml"), config_text(trials=trials))
        expect(rig(["run", "x.yaml", "--dry-run", *extra_args], d), 2, fragment)


trials_case("max_new_tokens 1e9", "{generate: {max_new_tokens: 1000000000}}", "max_new_tokens")
trials_case("max_new_tokens 2^63-1", "{generate: {max_new_tokens: 9223372036854775807}}", "max_new_tokens")
trials_case("max_new_tokens 2^64", "{generate: {max_new_tokens: 18446744073709551616}}", "max_new_tokens")
trials_case("repetitions 1e8", "{repetitions: 100000000}", "rig's limit")
trials_case("repetitions 2^63-1", "{repetitions: 9223372036854775807}", "rig's limit")


@case("sizes (limits)", "batch_size 2^62 runs as one batch")
def _(d):
    write(os.path.join(d, "x.yaml"), config_text(trials="{batch_size: 4611686018427387904, generate: {max_new_tokens: 2}}"))
    expect(rig(["run", "x.yaml", "-q"], d), 0)
    complete(os.path.join(d, "out.h5"), 4)


@case("sizes (limits)", "template product 10^10")
def _(d):
    vars_ = ", ".join(f"v{i}: [{', '.join(str(k) for k in range(100))}]" for i in range(5))
    stim = f'  - condition: t\n    template: "{"".join("{v%d}" % i for i in range(5))}"\n    vars: {{{vars_}}}\n'
    write(os.path.join(d, "x.yaml"), config_text(stimuli=stim))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "rig's limit")


@case("sizes (limits)", "sweep of 100^4 variants, --dry-run")
def _(d):
    axes = "".join(f"  v{i}: [{', '.join(str(k) for k in range(100))}]\n" for i in range(4))
    write(os.path.join(d, "x.yaml"), config_text() + "sweep:\n" + axes.replace("v0", "seed").replace("v1", "trials.repetitions")
          .replace("v2", "trials.batch_size").replace("v3", "trials.generate.max_new_tokens"))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "rig's limit")


@case("sizes (limits)", "a stimulus file of 2 million lines")
def _(d):
    write(os.path.join(d, "s.txt"), "hi\n" * 2_000_000)
    write(os.path.join(d, "x.yaml"), config_text(stimuli="  - condition: a\n    file: s.txt\n"))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "rig's limit")


@case("sizes (limits)", "neurons range 0:2^62")
def _(d):
    write(os.path.join(d, "x.yaml"), config_text(electrodes='  - site: gpt_neox.layers.1.mlp.act\n    neurons: ["0:4611686018427387904"]\n'))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "neurons")


# --- positions and vocabulary -----------------------------------------------------------------

@case("positions and vocab", "prompt + max_new_tokens past max_position_embeddings")
def _(d):
    write(os.path.join(d, "x.yaml"), config_text(trials="{generate: {max_new_tokens: 250}}"))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "max_position_embeddings")


@case("positions and vocab", "a 200 KB prompt (under the byte limit, over the positions)")
def _(d):
    write(os.path.join(d, "s.txt"), "help me " * 25_000 + "\n")
    write(os.path.join(d, "x.yaml"), config_text(stimuli="  - condition: a\n    file: s.txt\n"))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "positions")


@case("positions and vocab", "a 10 MB one-line prompt")
def _(d):
    write(os.path.join(d, "s.txt"), "a" * 10_000_000 + "\n")
    write(os.path.join(d, "x.yaml"), config_text(stimuli="  - condition: a\n    file: s.txt\n"))
    expect(rig(["run", "x.yaml", "--dry-run"], d), 2, "s.txt:1")


@case("positions and vocab", "a token id at the model's vocab size")
def _(d):
    m = copy_model(d)
    model_json(m, "tokenizer.json", lambda j: j["added_tokens"].append(
        {"id": 1536, "content": "<zap>", "special": True, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False}))
    write(os.path.join(d, "x.yaml"), config_text(model=m, stimuli='  - condition: a\n    prompts: ["hello <zap>"]\n'))
    expect(rig(["run", "x.yaml", "-q"], d), 3, "tokenizer.json", "config.json")
    expect(rig(["generate", m, "-p", "hello <zap>"], d), 3, "vocab")


@case("positions and vocab", "generate with max_new_tokens past the positions")
def _(d):
    expect(rig(["generate", MODEL, "-p", "hello", "-n", "1000000000"], d), 2, "positions")


# --- strings: NUL bytes, binary stimuli --------------------------------------------------------

def strings_case(name, stimuli, fragment, files=None):
    @case("strings (NUL, binary)", name)
    def _(d):
        for fname, data in (files or {}).items():
            write(os.path.join(d, fname), data)
        write(os.path.join(d, "x.yaml"), config_text(stimuli=stimuli))
        expect(rig(["run", "x.yaml", "--dry-run"], d), 2, fragment)


strings_case("NUL in an inline prompt", '  - condition: a\n    prompts: ["a\\0b"]\n', "NUL")
strings_case("NUL in a condition", '  - condition: "a\\0b"\n    prompts: ["x"]\n', "NUL")
strings_case("NUL in a .jsonl prompt", "  - condition: a\n    file: s.jsonl\n", "s.jsonl:2", {"s.jsonl": '{"prompt": "ok"}\n{"prompt": "a\\u0000b"}\n'})
strings_case("NUL in a .jsonl field", "  - condition: a\n    file: s.jsonl\n", "s.jsonl:1", {"s.jsonl": '{"prompt": "ok", "k": "a\\u0000"}\n'})
strings_case("binary .txt stimuli", "  - condition: a\n    file: s.txt\n", "s.txt:", {"s.txt": b"hello\n" + bytes(range(256)) * 4})
strings_case("invalid UTF-8 in .txt", "  - condition: a\n    file: s.txt\n", "s.txt:3", {"s.txt": b"a\nb\n\xff\xfe bad\n"})
strings_case("NUL in a template variable", '  - condition: a\n    template: "x {v}"\n    vars: {v: ["a\\0b"]}\n', "NUL")


@case("strings (NUL, binary)", "rig tokenize with NUL and invalid UTF-8")
def _(d):
    expect(rig(["tokenize", MODEL], d, stdin=b'"a\\u0000b"\n'), (0, 4))
    expect(rig(["tokenize", MODEL], d, stdin=b'"\xff"\n'), 4)


# --- messages: wrong kinds of files, overrides ---------------------------------------------------

@case("messages (files, --set)", "config.json is a directory")
def _(d):
    m = copy_model(d)
    os.remove(os.path.join(m, "config.json"))
    os.mkdir(os.path.join(m, "config.json"))
    expect(rig(["inspect", m], d), 3, "config.json: expected", "directory")


@case("messages (files, --set)", "tokenizer.json is a directory")
def _(d):
    m = copy_model(d)
    os.remove(os.path.join(m, "tokenizer.json"))
    os.mkdir(os.path.join(m, "tokenizer.json"))
    expect(rig(["tokenize", m], d, stdin=b'"hi"\n'), 3, "directory")


@case("messages (files, --set)", "model.safetensors is a directory")
def _(d):
    m = copy_model(d)
    os.remove(os.path.join(m, "model.safetensors"))
    os.mkdir(os.path.join(m, "model.safetensors"))
    expect(rig(["inspect", m], d), 3, "directory")


@case("messages (files, --set)", "the experiment config is a directory / binary / empty")
def _(d):
    os.mkdir(os.path.join(d, "c.yaml"))
    expect(rig(["run", "c.yaml", "--dry-run"], d), 2, "c.yaml")
    write(os.path.join(d, "b.yaml"), os.urandom(3000))
    expect(rig(["run", "b.yaml", "--dry-run"], d), 2, "b.yaml")
    write(os.path.join(d, "e.yaml"), "")
    expect(rig(["run", "e.yaml", "--dry-run"], d), 2, "e.yaml")


for override, fragment in (("trials.repetitions=abc", "--set trials.repetitions=abc"),
                           ("trials.batch_size=-3", "--set trials.batch_size=-3"),
                           ("stimuli.0.prompts.0=[1, 2]", "--set stimuli.0.prompts.0=[1, 2]"),
                           ("stimuli.0.prompts=[]", "--set stimuli.0.prompts=[]"),
                           ("stimuli.5.condition=x", "--set stimuli.5.condition=x"),
                           ("electrodes.0.site=/(/", "--set electrodes.0.site=/(/"),
                           ("model.path=/nonexistent", "--set model.path=/nonexistent"),
                           ("trials.generate.max_new_tokens=100000", "--set trials.generate.max_new_tokens=100000"),
                           ("trials=[1", "--set trials=[1"),
                           ("stimuli.0.file=nonexistent.txt", "--set stimuli.0.file=nonexistent.txt"),
                           ("electrodes.0.site=gpt_neox.nothing", "--set electrodes.0.site=gpt_neox.nothing")):
    @case("messages (files, --set)", f"--set {override}")
    def _(d, override=override, fragment=fragment):
        write(os.path.join(d, "x.yaml"), config_text())
        expect(rig(["run", "x.yaml", "--dry-run", "--set", override], d), 2, fragment)


# ------------------------------------------------------------------------------------------

def run_case(work, i, category, name, fn):
    d = os.path.join(work, f"c{i:03d}")
    os.makedirs(d)
    t0 = time.monotonic()
    try:
        fn(d)
        kind, detail = "clean", ""
    except Verdict as v:
        kind, detail = v.kind, v.detail
    except Exception as e:  # noqa: BLE001 - a broken case is reported, not hidden
        kind, detail = "wrong", f"case error: {type(e).__name__}: {e}"
    shutil.rmtree(d, ignore_errors=True)
    return category, name, kind, detail, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", default="", help="run only cases whose name contains this")
    ap.add_argument("-j", type=int, default=2, help="cases at once (default 2)")
    ap.add_argument("--table", action="store_true", help="print the table as Markdown")
    a = ap.parse_args()
    if not os.path.exists(RIG):
        sys.exit(f"hostile: {RIG} not found (set RIG_BIN)")
    try:
        h5()
    except ImportError:
        print("SKIPPED: h5py is not installed")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="rig-hostile-")
    t0 = time.monotonic()
    try:
        make_base(work)
        chosen = [c for c in CASES if a.k in c[1]]
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.j) as ex:
            futs = [ex.submit(run_case, work, i, *c) for i, c in enumerate(chosen)]
            results = []
            for f in concurrent.futures.as_completed(futs):
                cat, name, kind, detail, secs = f.result()
                results.append((cat, kind))
                print(f"{'ok  ' if kind == 'clean' else 'FAIL'} [{cat}] {name} ({secs:.1f} s){'' if kind == 'clean' else ': ' + kind + ': ' + detail}",
                      flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cols = ("clean", "crash", "hang", "data loss", "wrong")
    cats = sorted({c for c, _ in results}, key=lambda c: [x[0] for x in CASES].index(c))
    print()
    print("| category | tried | " + " | ".join(cols) + " |")
    print("|---|---:|" + "---:|" * len(cols))
    total = {k: 0 for k in cols}
    for c in cats:
        ks = [k for cc, k in results if cc == c]
        for k in cols:
            total[k] += ks.count(k)
        print(f"| {c} | {len(ks)} | " + " | ".join(str(ks.count(k)) for k in cols) + " |")
    print(f"| **all** | {len(results)} | " + " | ".join(str(total[k]) for k in cols) + " |")
    print(f"\nhostile: {len(results)} cases in {time.monotonic() - t0:.0f} s")
    sys.exit(0 if total["clean"] == len(results) else 1)


if __name__ == "__main__":
    main()
