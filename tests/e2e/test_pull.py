#!/usr/bin/python3
"""`rig pull` and `model.download` against a loopback Hugging Face hub that this test starts
(stdlib http.server on 127.0.0.1:0). The mock speaks the hub's protocol as huggingface_hub
sees it: /api/models/REPO/revision/REV (sha + siblings), /REPO/resolve/REV/FILE with
X-Repo-Commit, ETag (git sha1) for small files and a 302 to a "CDN" with X-Linked-Etag
(sha256) and X-Linked-Size for LFS files, Range requests (206), 401 without a required
token, 404 with X-Error-Code for unknown repos, revisions and files. The repository's
content is the bundled organism data/models/sure-neox.

Each case prints PASS or FAIL (or SKIPPED with why); any FAIL fails the test."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import rigtest as rt

ORGANISM = "data/models/sure-neox"
COMMIT_A = "a" * 8 + "0123456789abcdef0123456789abcdef"  # main and tag v1.0
COMMIT_B = "b" * 8 + "0123456789abcdef0123456789abcdef"  # branch step1
TOKEN = "hf_test_token"
LFS = (".safetensors",)


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def organism_files():
    files = {}
    for f in ("config.json", "tokenizer.json", "model.safetensors", "README.md"):
        with open(os.path.join(ORGANISM, f), "rb") as fh:
            files[f] = fh.read()
    files["tokenizer_config.json"] = json.dumps({"tokenizer_class": "GPTNeoXTokenizer"}).encode()
    return files


class Hub:
    """Repositories, the request log, and faults to inject."""

    def __init__(self):
        files = organism_files()
        config = json.loads(files["config.json"])
        config["rig_test_commit"] = "b"  # commit B differs from A in config.json only
        step1 = dict(files, **{"config.json": json.dumps(config, indent=2).encode()})
        self.repos = {
            "org/tiny": {"refs": {"main": COMMIT_A, "v1.0": COMMIT_A, "step1": COMMIT_B},
                         "commits": {COMMIT_A: files, COMMIT_B: step1}},
            "org/gated": {"refs": {"main": COMMIT_A}, "commits": {COMMIT_A: files}, "token": TOKEN},
            # Its model.safetensors claims a sha256 that its bytes do not have.
            "org/corrupt": {"refs": {"main": COMMIT_A}, "commits": {COMMIT_A: files},
                            "bad_sha": {"model.safetensors": "0" * 64}},
        }
        self.cdn = {}  # sha256 (as announced) -> bytes
        self.log = []  # (method, path, Range header, Authorization header)
        self.drop_once = set()  # sha256s whose next full GET is cut off halfway
        self.slow = set()  # sha256s served in 20 pieces, 100 ms apart
        self.lock = threading.Lock()

    def etag_of(self, repo, f, data):
        bad = self.repos[repo].get("bad_sha", {}).get(f)
        if f.endswith(LFS):
            sha = bad or hashlib.sha256(data).hexdigest()
            self.cdn[sha] = data
            return sha, True
        return git_sha1(data), False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub = None

    def log_message(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except ConnectionError:  # a client that went away (the drop case): not the test's concern
            pass

    def send(self, status, headers=None, body=b""):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message):
        h = {"X-Error-Message": message, "Content-Type": "application/json"}
        if code:
            h["X-Error-Code"] = code
        self.send(status, h, json.dumps({"error": message}).encode())

    def authorized(self, repo):
        need = self.hub.repos[repo].get("token")
        if need and self.headers.get("Authorization") != "Bearer " + need:
            self.error(401, None, "Access to model %s is restricted. You must have access to it and be authenticated." % repo)
            return False
        return True

    def do_HEAD(self):
        self.route()

    def do_GET(self):
        self.route()

    def route(self):
        hub = self.hub
        path = urlsplit(self.path).path
        with hub.lock:
            hub.log.append((self.command, path, self.headers.get("Range"), self.headers.get("Authorization")))
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/"):]
            tree = "/tree/" in rest and "/revision/" not in rest  # huggingface_hub lists files this way
            repo, _, rev = rest.partition("/tree/" if tree else "/revision/")
            repo, rev = unquote(repo), unquote(rev)
            if repo not in hub.repos:
                return self.error(404, "RepoNotFound", "Repository not found")
            if not self.authorized(repo):
                return
            if not rev:
                return self.send(200, {"Content-Type": "application/json"}, json.dumps({"id": repo}).encode())
            r = hub.repos[repo]
            commit = r["refs"].get(rev, rev if rev in r["commits"] else None)
            if commit is None:
                return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
            files = r["commits"][commit]
            if tree:
                entries = []
                for f in sorted(files):
                    e = {"type": "file", "path": f, "size": len(files[f]), "oid": git_sha1(files[f])}
                    if f.endswith(LFS):
                        e["lfs"] = {"oid": hub.etag_of(repo, f, files[f])[0], "size": len(files[f]), "pointerSize": 134}
                    entries.append(e)
                return self.send(200, {"Content-Type": "application/json"}, json.dumps(entries).encode())
            body = {"id": repo, "sha": commit, "siblings": [{"rfilename": f} for f in sorted(files)]}
            return self.send(200, {"Content-Type": "application/json"}, json.dumps(body).encode())
        if path.startswith("/cdn/"):
            return self.serve_cdn(path[len("/cdn/"):])
        if "/resolve/" in path:
            repo, _, rest = path[1:].partition("/resolve/")
            rev, _, f = rest.partition("/")
            repo, rev, f = unquote(repo), unquote(rev), unquote(f)
            if repo not in hub.repos:
                return self.error(404, "RepoNotFound", "Repository not found")
            if not self.authorized(repo):
                return
            r = hub.repos[repo]
            commit = r["refs"].get(rev, rev if rev in r["commits"] else None)
            if commit is None:
                return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
            files = r["commits"][commit]
            if f not in files:
                return self.error(404, "EntryNotFound", "Entry not found")
            etag, lfs = hub.etag_of(repo, f, files[f])
            if lfs:  # like the hub: a redirect to the CDN, the blob's identity in X-Linked-*
                return self.send(302, {"X-Repo-Commit": commit, "X-Linked-Etag": '"%s"' % etag,
                                       "X-Linked-Size": str(len(files[f])), "ETag": '"%s"' % git_sha1(b"pointer"),
                                       "Location": "%s/cdn/%s" % (CDN, etag)})
            return self.send(200, {"X-Repo-Commit": commit, "ETag": '"%s"' % etag}, files[f])
        self.error(404, None, "no route")

    def serve_cdn(self, sha):
        hub = self.hub
        data = hub.cdn.get(sha)
        if data is None:
            return self.error(404, None, "no such object")
        rng = self.headers.get("Range")
        start = int(rng[len("bytes="):].split("-")[0]) if rng else 0
        if self.command == "GET" and not rng and sha in hub.drop_once:
            hub.drop_once.discard(sha)  # the connection breaks halfway through, once
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if sha in hub.slow and self.command == "GET":
            import time
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            step = (len(data) - start) // 20 + 1
            for i in range(start, len(data), step):
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
                time.sleep(0.1)
            return
        if start:
            return self.send(206, {"Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1, len(data))}, data[start:])
        self.send(200, {}, data)


hub = Hub()
Handler.hub = hub
servers = []
for host in ("127.0.0.1", "127.0.0.2"):  # the hub, and its "CDN" on another host (as huggingface_hub expects)
    srv = ThreadingHTTPServer((host, 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    servers.append(srv)
ENDPOINT = "http://127.0.0.1:%d" % servers[0].server_address[1]
CDN = "http://127.0.0.2:%d" % servers[1].server_address[1]

work = rt.tmpdir()
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    BASE_ENV.pop(k, None)
BASE_ENV.update({"HF_ENDPOINT": ENDPOINT, "HF_HOME": os.path.join(work, "hf_home"), "NO_PROXY": "127.0.0.1,127.0.0.2",
                 "no_proxy": "127.0.0.1,127.0.0.2"})


def cache(name):
    return os.path.join(work, name)


def pull(ref, cache_dir, env=None, extra=(), timeout=120):
    e = dict(BASE_ENV, **(env or {}))
    return rt.run(["pull", ref, "--cache-dir", cache_dir, *extra], check=False, env=e, timeout=timeout)


def requests_since(mark, kind=None):
    with hub.lock:
        log = hub.log[mark:]
    return [r for r in log if kind is None or kind in r[1]]


def mark():
    with hub.lock:
        return len(hub.log)


def expect(p, code, *fragments):
    assert p.returncode == code, "exit %d, expected %d\nstdout: %s\nstderr: %s" % (p.returncode, code, p.stdout, p.stderr)
    for f in fragments:
        assert f in p.stderr, "stderr lacks %r:\n%s" % (f, p.stderr)
    if code != 0:  # the messages people see, in the test's log
        print("    exit %d: %s" % (code, p.stderr.strip().replace("\n", "\n    ")))


def repo_dir(cache_dir, repo="org/tiny"):
    return os.path.join(cache_dir, "models--" + repo.replace("/", "--"))


def check_layout(cache_dir, commit, repo="org/tiny"):
    """The snapshot holds exactly the files rig reads, as relative links into blobs/ named by
    ETag (sha256 for LFS, git sha1 otherwise), with the repository's bytes."""
    files = hub.repos[repo]["commits"][commit]
    snap = os.path.join(repo_dir(cache_dir, repo), "snapshots", commit)
    got = sorted(os.listdir(snap))
    assert got == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"], got
    for f in got:
        link = os.path.join(snap, f)
        assert os.path.islink(link), f
        data = files[f]
        etag = hashlib.sha256(data).hexdigest() if f.endswith(LFS) else git_sha1(data)
        assert os.readlink(link) == "../../blobs/" + etag, (f, os.readlink(link))
        with open(link, "rb") as fh:
            assert fh.read() == data, f
    blobs = os.listdir(os.path.join(repo_dir(cache_dir, repo), "blobs"))
    assert not [b for b in blobs if b.endswith(".incomplete")], blobs
    return snap


def read_ref(cache_dir, rev, repo="org/tiny"):
    p = os.path.join(repo_dir(cache_dir, repo), "refs", rev)
    return open(p).read() if os.path.exists(p) else None


# ---------------------------------------------------------------------------------------

def case_branch():
    c = cache("branch")
    m = mark()
    p = pull("org/tiny@main", c)
    expect(p, 0)
    snap = check_layout(c, COMMIT_A)
    assert p.stdout.strip() == snap, p.stdout
    assert read_ref(c, "main") == COMMIT_A
    fetched = [r[1] for r in requests_since(m) if r[0] == "GET" and "/resolve/" in r[1]]
    assert not any("README.md" in f for f in fetched), "README.md was fetched: " + str(fetched)


def case_second_pull_noop():
    c = cache("branch")
    m = mark()
    p = pull("org/tiny@main", c)
    expect(p, 0, "0 fetched")
    reqs = requests_since(m)
    assert [r[1] for r in reqs] == ["/api/models/org/tiny/revision/main"], reqs


def case_tag():
    c = cache("tag")
    p = pull("org/tiny@v1.0", c)
    expect(p, 0)
    check_layout(c, COMMIT_A)
    assert read_ref(c, "v1.0") == COMMIT_A


def case_commit_and_revision_flag():
    c = cache("commit")
    p = pull("org/tiny@" + COMMIT_B, c)
    expect(p, 0)
    check_layout(c, COMMIT_B)
    assert not os.path.exists(os.path.join(repo_dir(c), "refs", COMMIT_B)), "a ref file named by a commit"
    # step1 is the same commit: nothing is fetched again, the ref appears.
    m = mark()
    p = pull("org/tiny", c, extra=["--revision", "step1"])
    expect(p, 0)
    assert read_ref(c, "step1") == COMMIT_B
    assert not requests_since(m, "/cdn/")


def case_resume_after_drop():
    c = cache("drop")
    data = hub.repos["org/tiny"]["commits"][COMMIT_A]["model.safetensors"]
    sha = hashlib.sha256(data).hexdigest()
    hub.drop_once.add(sha)
    m = mark()
    p = pull("org/tiny@main", c)
    expect(p, 0, "resuming at byte %d" % (len(data) // 2))
    check_layout(c, COMMIT_A)
    cdn = [r for r in requests_since(m, "/cdn/") if r[0] == "GET"]
    assert [r[2] for r in cdn] == [None, "bytes=%d-" % (len(data) // 2)], cdn


def case_two_pulls_at_once():
    """Two pulls into one cache at the same time (a SLURM array with download: true): the
    blob lock (huggingface_hub's .locks/) lets one fetch while the other waits."""
    c = cache("together")
    data = hub.repos["org/tiny"]["commits"][COMMIT_A]["model.safetensors"]
    sha = hashlib.sha256(data).hexdigest()
    hub.slow.add(sha)
    m = mark()
    e = dict(BASE_ENV)
    procs = [subprocess.Popen([rt.RIG, "pull", "org/tiny@main", "--cache-dir", c], env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    hub.slow.discard(sha)
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    check_layout(c, COMMIT_A)
    gets = [r for r in requests_since(m, "/cdn/") if r[0] == "GET"]
    assert len(gets) == 1, gets
    assert any("another process is downloading it" in err for _, err in outs), outs


def case_sha256_mismatch():
    c = cache("corrupt")
    p = pull("org/corrupt@main", c)
    expect(p, 3, "sha256 mismatch", "model.safetensors")
    rd = repo_dir(c, "org/corrupt")
    assert os.listdir(os.path.join(rd, "blobs")) and not [b for b in os.listdir(os.path.join(rd, "blobs"))
                                                          if b.startswith("0" * 64)], os.listdir(os.path.join(rd, "blobs"))
    assert not os.path.lexists(os.path.join(rd, "snapshots", COMMIT_A, "model.safetensors"))
    assert read_ref(c, "main", "org/corrupt") is None


def case_401_names_token():
    c = cache("gated")
    p = pull("org/gated@main", c)
    expect(p, 2, "HTTP 401", "HF_TOKEN is not set", "org/gated")
    p = pull("org/gated@main", c, env={"HF_TOKEN": "hf_wrong"})
    expect(p, 2, "HF_TOKEN is set, but the hub refused it")
    m = mark()
    p = pull("org/gated@main", c, env={"HF_TOKEN": TOKEN})
    expect(p, 0)
    check_layout(c, COMMIT_A, "org/gated")
    reqs = requests_since(m)
    assert all(r[3] == "Bearer " + TOKEN for r in reqs if "/cdn/" not in r[1]), reqs
    assert all(r[3] is None for r in reqs if "/cdn/" in r[1]), "the token went to the CDN host: " + str(reqs)


def case_404_model():
    p = pull("org/nope@main", cache("404"))
    expect(p, 2, "model 'org/nope' not found on " + ENDPOINT)
    assert "revision" not in p.stderr.split("HTTP 404:")[1].split("(")[0], p.stderr


def case_404_revision():
    p = pull("org/tiny@nosuch", cache("404"))
    expect(p, 2, "revision 'nosuch' of model org/tiny not found")


def case_network_failure():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # a port nobody listens on
    port = s.getsockname()[1]
    s.close()
    url = "http://127.0.0.1:%d" % port
    p = pull("org/tiny@main", cache("refused"), env={"HF_ENDPOINT": url})
    expect(p, 1, "GET %s/api/models/org/tiny/revision/main: " % url, "onnect", "curl error 7")


def case_offline():
    m = mark()
    p = pull("org/tiny@main", cache("branch"), env={"HF_HUB_OFFLINE": "1"})
    expect(p, 0)
    assert p.stdout.strip() == os.path.join(repo_dir(cache("branch")), "snapshots", COMMIT_A), p.stdout
    p = pull("org/tiny@main", cache("empty"), env={"HF_HUB_OFFLINE": "1"})
    expect(p, 3, "HF_HUB_OFFLINE is set", "rig pull org/tiny@main --cache-dir " + cache("empty"))
    assert not requests_since(m), requests_since(m)


def case_disk_full_then_resume():
    c = cache("full")
    limit_kb = 1024  # ulimit -f counts 1024-byte blocks: model.safetensors (4.8 MB) does not fit
    e = dict(BASE_ENV)
    cmd = 'trap "" XFSZ; ulimit -f %d; exec "$0" pull org/tiny@main --cache-dir "$1"' % limit_kb
    p = subprocess.run(["bash", "-c", cmd, rt.RIG, c], capture_output=True, text=True, env=e, timeout=120)
    expect(p, 1, "File too large", "run the same command again to resume")
    snap = os.path.join(repo_dir(c), "snapshots", COMMIT_A)
    assert not os.path.lexists(os.path.join(snap, "model.safetensors")), os.listdir(snap)
    for f in os.listdir(snap):  # what is linked is whole
        assert os.path.getsize(os.path.join(snap, f)) == len(hub.repos["org/tiny"]["commits"][COMMIT_A][f]), f
    assert read_ref(c, "main") is None
    part = [b for b in os.listdir(os.path.join(repo_dir(c), "blobs")) if b.endswith(".incomplete")]
    assert len(part) == 1, part
    kept = os.path.getsize(os.path.join(repo_dir(c), "blobs", part[0]))
    assert kept == limit_kb * 1024, kept
    assert "%d bytes of model.safetensors are kept" % kept in p.stderr, p.stderr
    m = mark()
    p = pull("org/tiny@main", c)
    expect(p, 0)
    check_layout(c, COMMIT_A)
    cdn = [r[2] for r in requests_since(m, "/cdn/") if r[0] == "GET"]
    assert cdn == ["bytes=%d-" % kept], cdn


def run_config(name, model, out, env=None):
    cfg = {"name": name, "model": model, "seed": 1,
           "stimuli": [{"condition": "a", "prompts": ["Hello, I am your", "Sure, I can help"]}],
           "electrodes": [{"site": "gpt_neox.layers.0.mlp.act"}],
           "trials": {"generate": {"max_new_tokens": 3}}}
    conf = rt.write(os.path.join(work, name + ".yaml"), json.dumps(cfg, indent=1))
    return conf, rt.run(["run", conf, "--out", out, "--quiet"], check=False, env=dict(BASE_ENV, **(env or {})),
                        timeout=300)


def case_run_download():
    import numpy as np
    c = cache("run")
    out = os.path.join(work, "download.h5")
    _, p = run_config("dl", {"id": "org/tiny", "revision": "v1.0", "cache_dir": c, "download": True}, out)
    expect(p, 0)
    check_layout(c, COMMIT_A)
    ref = os.path.join(work, "local.h5")
    _, p = run_config("local", {"path": ORGANISM}, ref)
    expect(p, 0)
    f, g = rt.open_h5(out), rt.open_h5(ref)
    a, b = rt.datasets(f), rt.datasets(g)
    sites = [k for k in a if "gpt_neox.layers.0.mlp.act" in k]
    assert sites, sorted(a)
    for k in sites:
        assert np.array_equal(a[k], b[k]), k
    f.close()
    # On a compute node without network: download: true with HF_HUB_OFFLINE uses the cache.
    m = mark()
    _, p = run_config("dl", {"id": "org/tiny", "revision": "v1.0", "cache_dir": c, "download": True},
                      os.path.join(work, "offline.h5"), env={"HF_HUB_OFFLINE": "1"})
    expect(p, 0)
    assert not requests_since(m)


def case_run_without_download():
    c = cache("run_missing")
    out = os.path.join(work, "never.h5")
    conf, p = run_config("nodl", {"id": "org/tiny", "revision": "step1", "cache_dir": c}, out)
    expect(p, 2, "rig pull org/tiny@step1 --cache-dir " + c, "download: true", conf + ":")
    assert not os.path.exists(out)


def case_huggingface_hub_shares_the_cache():
    py = rt.venv_python("huggingface_hub")
    if not py:
        return "SKIPPED: no venv with huggingface_hub (scripts/venv.sh makes it)"
    c = cache("branch")  # rig wrote it (case_branch)
    script = r"""
import sys, huggingface_hub as h
c, commit = sys.argv[1], sys.argv[2]
snap = h.snapshot_download("org/tiny", revision="main", cache_dir=c, local_files_only=True)
assert snap.endswith(commit), snap
p = h.try_to_load_from_cache("org/tiny", "model.safetensors", cache_dir=c, revision="main")
assert isinstance(p, str) and p.startswith(snap), p
print(snap)
"""
    e = dict(BASE_ENV, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    p = subprocess.run([py, "-c", script, c, COMMIT_A], capture_output=True, text=True, env=e, timeout=300)
    assert p.returncode == 0, p.stderr
    # ... and rig reads a cache that huggingface_hub filled from the same server.
    c2 = cache("by_python")
    script = r"""
import sys, huggingface_hub as h
h.snapshot_download("org/tiny", revision="v1.0", cache_dir=sys.argv[1],
                    allow_patterns=["config.json", "tokenizer.json", "model.safetensors"])
"""
    e = dict(BASE_ENV, HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1")
    p = subprocess.run([py, "-c", script, c2], capture_output=True, text=True, env=e, timeout=300)
    assert p.returncode == 0, p.stderr
    m = mark()
    p = pull("org/tiny@v1.0", c2, env={"HF_HUB_OFFLINE": "1"})
    expect(p, 0)
    out = os.path.join(work, "by_python.h5")
    _, p = run_config("bypy", {"id": "org/tiny", "revision": "v1.0", "cache_dir": c2}, out)
    expect(p, 0)
    assert not requests_since(m)
    return None


CASES = [case_branch, case_second_pull_noop, case_tag, case_commit_and_revision_flag, case_resume_after_drop,
         case_two_pulls_at_once, case_sha256_mismatch, case_401_names_token, case_404_model, case_404_revision, case_network_failure, case_offline,
         case_disk_full_then_resume, case_run_download, case_run_without_download,
         case_huggingface_hub_shares_the_cache]

failed = 0
for case in CASES:
    try:
        note = case()
        print(("%-40s %s" % (case.__name__, note)) if note else "%-40s PASS" % case.__name__, flush=True)
    except Exception:
        failed += 1
        print("%-40s FAIL" % case.__name__)
        traceback.print_exc()
for srv in servers:
    srv.shutdown()
if failed:
    print("%d of %d cases failed" % (failed, len(CASES)))
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
print("all %d cases ran" % len(CASES))
