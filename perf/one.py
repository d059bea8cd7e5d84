#!/usr/bin/env python3
"""One goshelf alone on the harness's full dataset: for a profile of one workload.

Loads `harness.py`'s versions into a fresh goshelf (pinned to CPU 0), writes the workloads'
paths files, runs wrk (CPU 1) on the named workloads, and prints the requests per second, the
server's CPU time per request and the text shelf's hits (the answer cache's counter). With
`--hold` it then keeps the server up and prints its port, pid and the paths files, so that
`perf record -p PID` can watch a wrk run of one of them:

    perf/one.py --bin target/release/goshelf --workload "sumdb lookup" --workload info
    perf/one.py --bin target/release/goshelf --workload "sumdb full tile" --hold
"""

import argparse
import os
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def text_hits(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('goshelf_answer_cache_hits_total{shelf="text"}'):
                return int(float(line.split()[1]))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--workload", action="append", required=True,
                    help="a workload of harness.py (info, mod, list, 404, sumdb lookup, ...)")
    ap.add_argument("--quick", action="store_true", help="the quick dataset")
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--hold", action="store_true", help="keep the server up afterwards")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="goshelf-one-")
    ds = h.Dataset(args.quick)
    ds.materialize(ds.loaded + ds.fill)
    gs = h.Goshelf(args.bin, tmp).start()
    h.upload_all(gs.port, ds.loaded, conns=8)
    h.upload_all(gs.port, ds.fill, conns=16)
    gs.stop()
    gs.start()
    time.sleep(1)
    sumdb = h.sumdb_layout(gs.port, os.path.join(tmp, "root"), ds.loaded + ds.fill)
    work = h.paths_for(ds, tmp, sumdb)
    try:
        for name in args.workload:
            before = text_hits(gs.port)
            r = h.run_wrk(gs.port, work[name][0], 64, args.seconds, gs.pid)
            hits = text_hits(gs.port) - before
            print(f"{name}: {r['rps']:,.0f} req/s, {r['server_us']:.2f} µs of server CPU per "
                  f"request, text shelf hits {hits:,} of {r['requests']:,}", flush=True)
        if args.hold:
            print(f"holding: port {gs.port} pid {gs.pid}", flush=True)
            for name, (path, _, _) in work.items():
                print(f"  {name}: {path}", flush=True)
            while True:
                time.sleep(3600)
    finally:
        gs.stop()


if __name__ == "__main__":
    main()
