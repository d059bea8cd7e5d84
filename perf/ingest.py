#!/usr/bin/env python3
"""Large-upload ingest, alone: uploads N distinct 200 MiB zips, one at a time, to a fresh
goshelf and prints, per upload, the wall time, the server's user and system CPU time, and
MiB/s, then the median. The server and curl are pinned apart as in harness.py.

    python3 perf/ingest.py --bin target/release/goshelf [--rounds 5] [--mib 200]

Quicker than the full harness when only the upload path changed; the harness's own figure
is one upload after 10,000 versions are stored.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mib", type=int, default=200)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="goshelf-ingest-", dir=os.environ.get("PERF_DIR"))
    gs = None
    try:
        zips = []
        for k in range(args.rounds):
            p = os.path.join(work, f"big{k}.zip")
            h.write_big_zip(p, "example.com/perf/big", f"v1.0.{k}", args.mib << 20, 100 + k)
            zips.append(p)
        # Otherwise the disk is still writing the zips back while the uploads are timed.
        os.sync()
        gs = h.Goshelf(args.bin, work).start()

        rates = []
        for p in zips:
            u0, s0 = h.cpu_times(gs.pid)
            dt = h.upload_file(gs.port, p)
            u1, s1 = h.cpu_times(gs.pid)
            rate = os.path.getsize(p) / (1 << 20) / dt
            rates.append(rate)
            print(f"wall {dt:.2f} s  user {u1 - u0:.2f} s  sys {s1 - s0:.2f} s  {rate:.0f} MiB/s", flush=True)
        print(f"median {statistics.median(rates):.0f} MiB/s over {len(rates)} uploads; "
              f"peak RSS {h.rss_kib(gs.pid, 'VmHWM') / 1024:.1f} MiB")
    finally:
        if gs is not None:
            gs.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
