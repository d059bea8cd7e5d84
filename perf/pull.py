#!/usr/bin/env python3
"""The pull-through cache (issue 27) against the go command using the upstream directly.

The upstream is nginx serving a generated module graph (perf/harness.py's: 300 modules, 4
versions each, log-normal zip sizes, a 50 MiB tail) in the GOPROXY layout, with a checksum
database of it: a source goshelf logs the graph, and its lookups and tiles (complete and
partial) are written as files, so nginx answers `/sumdb/<name>/...` too and both sides verify
every module against the same signed tree.

  * direct: `go mod download all`, GOPROXY=<nginx>, GOSUMDB=<the source's key> (the go
    command verifies through nginx's sumdb files);
  * cold: a fresh goshelf (new database each run) with upstream=<nginx> and
    upstream_sumdb=<the source's key and nginx's URL>; the go command with GOPROXY=<shelf>/go
    and GOSUMDB either the shelf's own key ("shelf": README's two client lines) or the
    source's key ("upstream": a client that keeps its GOSUMDB, verifying through the
    shelf's proxy of that database): the shelf fetches, verifies and keeps every module;
  * warm: the same again against that shelf, now holding everything (fresh module cache).

Each is run for every client setting: `--procs 1,4` runs the go command with GOMAXPROCS 1
(one request at a time: every cold miss's latency adds up) and 4 (the go command's
concurrency on a 4-core machine: it fetches 4 modules at once), both pinned to one core.
Each run uses a fresh module cache (in /dev/shm); runs alternate direct/cold/warm; medians.
Also printed: the shelf's CPU time during the cold runs (user and system, all threads: steadier
than wall times on a noisy machine) and the bytes it sent to its disk (SD-card wear).
goshelf and nginx are pinned to core 0, the go command to core 1.

Two settings bring the upstream closer to the internet's: `--log-size N` makes its checksum
database N records (as sum.golang.org's tens of millions, the graph's records far apart:
each lookup needs tiles of its own; `big_log`, with its own key; needs Python's
`cryptography`), and `--rtt MS` puts perf/delay.py between everyone and nginx (a round trip
per request and per new connection, for the direct runs and the shelf alike; unpinned). The
tree does not grow during a run (sum.golang.org's does, which makes every verification fetch
the tiles of the tree's right edge again).

    perf/pull.py --bin target/release/goshelf [--quick] [--runs 5] [--procs 1,4]
        [--sumdb shelf,upstream] [--log-size 1000000] [--rtt 10]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def fetch(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as r:
        return r.read()


def tile_path(base, level, n, partial=0):
    """The URL path of hash tile n at `level` (height 8) under `base`; `partial`: its width
    when it is not full (x/mod's tile path: groups of three digits, `x` before all but the
    last)."""
    k, elems = n, [f"{n % 1000:03d}"]
    while k >= 1000:
        k //= 1000
        elems.insert(0, f"x{k % 1000:03d}")
    return f"{base}/tile/8/{level}/" + "/".join(elems) + (f".p/{partial}" if partial else "")


def sumdb_files(port, root, versions):
    """Writes the source's sumdb answers under root + BASE/sumdb/<name>/: supported, a lookup
    per version, and every hash tile of the final tree (complete and partial). Returns the
    verifier key and the sumdb URL under nginx's root."""
    vkey = fetch(port, "/sumdb-key").decode().strip()
    name = vkey.split("+")[0]
    base = f"{h.BASE}/sumdb/{name}"
    size = int(fetch(port, f"{base}/latest").decode().split("\n")[1])
    paths = [f"{base}/lookup/{h.escape(v.module)}@{h.escape(v.version)}" for v in versions]
    level, width = 0, size
    while width > 0:
        full, part = divmod(width, 256)
        for n in range(full + (1 if part else 0)):
            paths.append(tile_path(base, level, n, part if n == full else 0))
        level, width = level + 1, full
    for p in paths:
        dest = os.path.join(root, p.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(fetch(port, p))
    open(os.path.join(root, base.lstrip("/"), "supported"), "wb").close()
    return vkey, base


def big_log(port, root, versions, size, seed=27):
    """Writes under root + BASE/sumdb/<name>/ a checksum database of `size` records (at
    least the graph's) signed with a key of its own: the graph's records (as the source
    logged them, fetched from `port`) at random places among fillers, as in sum.golang.org's
    tree, where a build's modules lie far apart (each lookup then needs tiles of its own).
    Fillers are random leaf hashes (nobody looks them up). Returns (verifier key, URL path).
    """
    import base64
    import hashlib
    import random
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    rng = random.Random(seed)
    texts = []
    src = fetch(port, "/sumdb-key").decode().strip().split("+")[0]
    for v in versions:
        path = f"{h.BASE}/sumdb/{src}/lookup/{h.escape(v.module)}@{h.escape(v.version)}"
        body = fetch(port, path)
        texts.append(body.split(b"\n", 1)[1].split(b"\n\n", 1)[0] + b"\n")
    n = max(size, len(texts))
    places = rng.sample(range(n), len(texts))
    at = dict(zip(places, range(len(texts))))
    sha = hashlib.sha256
    leaves = [sha(b"\x00" + texts[at[i]]).digest() if i in at else rng.randbytes(32)
              for i in range(n)]
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([sha(b"\x01" + below[2 * i] + below[2 * i + 1]).digest()
                       for i in range(len(below) // 2)])
    # The tree hash: the complete subtrees of n from the left, folded from the right.
    parts, start = [], 0
    for k in range(len(levels) - 1, -1, -1):
        if n - start >= 1 << k:
            parts.append(levels[k][start >> k])
            start += 1 << k
    th = parts[-1]
    for part in reversed(parts[:-1]):
        th = sha(b"\x01" + part + th).digest()

    key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    name = "perf.example/sumdb"
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    keyhash = sha(name.encode() + b"\n\x01" + pub).digest()[:4]
    alg_pub = b"\x01" + pub
    vkey = f"{name}+{keyhash.hex()}+{b64(alg_pub)}"
    text = f"go.sum database tree\n{n}\n{b64(th)}\n"
    note = (text + f"\n\u2014 {name} {b64(keyhash + key.sign(text.encode()))}\n").encode()

    base = f"{h.BASE}/sumdb/{name}"

    def write(path, data):
        dest = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data)

    for place, i in at.items():
        v = versions[i]
        write(f"{base}/lookup/{h.escape(v.module)}@{h.escape(v.version)}",
              f"{place}\n".encode() + texts[i] + b"\n" + note)
    level = 0
    while 8 * level < len(levels) and levels[8 * level]:
        hashes = levels[8 * level]
        full, part = divmod(len(hashes), 256)
        for t in range(full + (1 if part else 0)):
            width = 256 if t < full else part
            write(tile_path(base, level, t, part if t == full else 0),
                  b"".join(hashes[t * 256:t * 256 + width]))
        level += 1
    write(f"{base}/supported", b"")
    h.log(f"checksum database: {n} records, the graph's {len(texts)} among them")
    return vkey, base


def go_download(go, ds, proxy, gosumdb, tmp, tag, procs=1):
    d = tempfile.mkdtemp(prefix=f"pull-{tag}-", dir=tmp)
    main = os.path.join(d, "main")
    os.makedirs(main)
    with open(os.path.join(main, "go.mod"), "w") as f:
        f.write(h.go_mod("example.com/perf/main", [(v.module, v.version) for v in ds.graph_latest]))
    env = dict(os.environ, GOPROXY=proxy, GOSUMDB=gosumdb, GONOSUMDB="", GOPRIVATE="",
               GOFLAGS="-mod=mod -modcacherw", GOTOOLCHAIN="local",
               GOPATH=os.path.join(d, "gopath"), GOMODCACHE=os.path.join(d, "modcache"),
               GOCACHE=os.path.join(d, "gocache"), HOME=d, GOTELEMETRY="off",
               GOMAXPROCS=str(procs))
    t0 = time.monotonic()
    r = subprocess.run(["taskset", "-c", h.CLIENT_CPU, go, "mod", "download", "all"], cwd=main,
                       env=env, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"go mod download ({tag}) failed: {r.stderr[-3000:]}")
    shutil.rmtree(d)
    return dt


def cpu_seconds(pid):
    """User and system CPU time of a process so far (all its threads), in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def written_bytes(pid):
    """`write_bytes - cancelled_write_bytes` of a process (bytes sent to its disk; 0 on tmpfs)."""
    fields = dict(line.split(": ") for line in open(f"/proc/{pid}/io").read().splitlines())
    return int(fields["write_bytes"]) - int(fields["cancelled_write_bytes"])


def upstream_tree(binary, quick, tmp, log_size=0):
    """The upstream's files under `tmp`/root: the graph in the GOPROXY layout and the
    checksum database of it (made by a goshelf `binary` that logs the graph, then stopped;
    with `log_size`, that many records, `big_log`). Returns (dataset, root, the database's
    verifier key, its URL path under root)."""
    ds = h.Dataset(quick)
    ds.materialize(ds.graph)
    h.log(f"graph: {ds.graph_n} modules, {len(ds.graph)} versions, "
          f"{sum(len(v.zip) for v in ds.graph) >> 20} MiB of zips")
    root = os.path.join(tmp, "root")
    h.write_layout(root, ds.graph)
    src_dir = os.path.join(tmp, "source")
    os.makedirs(src_dir)
    source = h.Goshelf(binary, src_dir).start()
    h.upload_all(source.port, ds.graph)
    if log_size:
        vkey, sumdb_base = big_log(source.port, root, ds.graph, log_size)
    else:
        vkey, sumdb_base = sumdb_files(source.port, root, ds.graph)
    source.stop()
    return ds, root, vkey, sumdb_base


class Shelf(h.Goshelf):
    """A goshelf whose upstream is nginx."""

    def __init__(self, binary, workdir, upstream, upstream_sumdb):
        super().__init__(binary, workdir)
        self.upstream, self.upstream_sumdb = upstream, upstream_sumdb

    def start(self):
        env = dict(os.environ, GOSHELF_ADMIN_TOKEN=h.TOKEN, RUST_LOG=os.environ.get("SHELF_LOG", "info"),
                   GOSHELF_UPSTREAM=self.upstream, GOSHELF_UPSTREAM_SUMDB=self.upstream_sumdb,
                   GOSHELF_SUMDB_LOOKUP_BUDGET="100000")
        errlog = open(os.path.join(self.workdir, "goshelf.log"), "ab")
        self.proc = subprocess.Popen(
            ["taskset", "-c", h.SERVER_CPU, self.binary, "serve", "--listen", "127.0.0.1:0",
             "--db", self.db], stdout=subprocess.PIPE, stderr=errlog, env=env, text=True)
        for line in self.proc.stdout:
            if "listening on http://" in line:
                self.port = int(line.rsplit(":", 1)[1].strip())
                break
        else:
            raise RuntimeError(f"goshelf exited (see {errlog.name})")
        import threading
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        h.wait_http(self.port, "/healthz")
        return self


def arguments(doc):
    """The options of the pull-through scripts: --bin, --quick, --runs."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--quick", action="store_true", help="30 modules instead of 300")
    ap.add_argument("--runs", type=int, default=5)
    return ap


def main():
    ap = arguments(__doc__)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--procs", default="1,4", help="the go command's GOMAXPROCS values")
    ap.add_argument("--sumdb", default="shelf,upstream",
                    help="the cold client's GOSUMDB: the shelf's own key, the upstream's")
    ap.add_argument("--rtt", type=float, default=0,
                    help="milliseconds of round trip between everyone and the upstream "
                         "(perf/delay.py, unpinned; 0: none)")
    ap.add_argument("--log-size", type=int, default=0,
                    help="records in the upstream checksum database, the graph's spread "
                         "among them (default: the graph's alone)")
    args = ap.parse_args()
    procs = [int(p) for p in args.procs.split(",")]
    sumdbs = args.sumdb.split(",")
    go = h.find_go()
    tmp = tempfile.mkdtemp(prefix="goshelf-pull-")
    go_tmp = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tmp
    ds, root, vkey, sumdb_base = upstream_tree(args.bin, args.quick, tmp, args.log_size)
    ng = h.Nginx(root, tmp).start()
    up_port, relay = ng.port, None
    if args.rtt:
        relay = subprocess.Popen(
            [sys.executable, os.path.join(h.HERE, "delay.py"), str(ng.port), str(args.rtt)],
            stdout=subprocess.PIPE, text=True)
        up_port = int(relay.stdout.readline().split()[-1])
        h.log(f"upstream behind a round trip of {args.rtt:g} ms")
    nginx_proxy = f"http://127.0.0.1:{up_port}{h.BASE}"
    upstream_sumdb = f"{vkey} http://127.0.0.1:{up_port}{sumdb_base}"
    configs = [(p, sd) for p in procs for sd in sumdbs]
    times = {c: {"direct": [], "cold": [], "warm": []} for c in configs}
    written = {c: [] for c in configs}  # bytes the shelf sent to its disk during each cold run
    cpu = {c: [] for c in configs}  # the shelf's CPU time during each cold run
    shelves = []
    try:
        # One untimed run each way warms the go binary and nginx's files.
        go_download(go, ds, nginx_proxy, vkey, go_tmp, "warmup")
        for r in range(args.runs):
            for c in configs:
                p, sd = c
                d = os.path.join(tmp, f"shelf{r}-{p}-{sd}")
                os.makedirs(d)
                shelf = Shelf(args.bin, d, nginx_proxy, upstream_sumdb).start()
                shelves.append(shelf)
                key = vkey if sd == "upstream" else fetch(shelf.port, "/sumdb-key").decode().strip()
                via = f"http://127.0.0.1:{shelf.port}/go"
                order = ["direct", "cold", "warm"] if r % 2 == 0 else ["cold", "warm", "direct"]
                for kind in order:
                    os.sync()
                    if kind == "direct":
                        dt = go_download(go, ds, nginx_proxy, vkey, go_tmp, kind, p)
                    elif kind == "cold":
                        before, cpu0 = written_bytes(shelf.pid), cpu_seconds(shelf.pid)
                        dt = go_download(go, ds, via, key, go_tmp, kind, p)
                        written[c].append(written_bytes(shelf.pid) - before)
                        cpu[c].append(cpu_seconds(shelf.pid) - cpu0)
                    else:
                        dt = go_download(go, ds, via, key, go_tmp, kind, p)
                    times[c][kind].append(dt)
                    h.log(f"  run {r}, GOMAXPROCS {p}, GOSUMDB {sd}: {kind}: {dt:.2f}s")
                h.log(f"  shelf peak RSS {h.rss_kib(shelf.pid, 'VmHWM') / 1024:.1f} MiB")
                shelf.stop()
    finally:
        for s in shelves:
            s.stop()
        ng.stop()
        if relay:
            relay.kill()
    zips = sum(len(v.zip) for v in ds.graph_latest)
    where = (f", the upstream {args.rtt:g} ms away" if args.rtt else "") + (
        f", its checksum database {max(args.log_size, len(ds.graph))} records"
        if args.log_size else "")
    print(f"\n`go mod download all`, {ds.graph_n} modules ({len(ds.graph)} versions, "
          f"{zips / 2**20:.1f} MiB of zips fetched{where}), medians of {args.runs}:\n")
    print("| GOMAXPROCS | cold client's GOSUMDB | direct | cold | cold / direct | warm | "
          "warm / direct | the shelf's CPU, cold | written by the shelf, cold |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        md = {k: h.med(v) for k, v in times[c].items()}
        w = h.med(written[c])
        print(f"| {c[0]} | {c[1]} | {md['direct']:.2f} s | {md['cold']:.2f} s | "
              f"{md['cold'] / md['direct']:.2f}x | {md['warm']:.2f} s | "
              f"{md['warm'] / md['direct']:.2f}x | {h.med(cpu[c]):.2f} s | "
              f"{w / 2**20:.1f} MiB ({w / zips:.2f}x) |")
    for c in configs:
        print(f"raw {c}:", {k: [round(x, 2) for x in v] for k, v in times[c].items()},
              "cold CPU:", [round(x, 2) for x in cpu[c]])
    if args.keep:
        print("kept:", tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
