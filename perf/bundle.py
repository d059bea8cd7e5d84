#!/usr/bin/env python3
"""Air-gap bundles (issue 28): `goshelf export` and `goshelf import` against uploading the
same versions over HTTP, in one run.

A fresh shelf takes N versions (log-normal sizes, median 24 KiB, at most 1 MiB) by upload
(16 connections; the reference: the same validation and storage, reached over HTTP); it is
stopped and exported; a fresh file imports the export, every version verified against the
first shelf's checksum database (`--trust-sumdb`), checked by the upload rules and stored in
the pull-through cache with its record appended. Prints seconds, versions/s and MiB/s of each
step, and the import's rate as a ratio of the upload's. The server and the CLI run on core 0.

    python3 perf/bundle.py --bin target/release/goshelf [--versions 2000]
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def run(binary, args, env=None):
    t0 = time.monotonic()
    out = subprocess.run(
        ["taskset", "-c", h.SERVER_CPU, binary, *args],
        capture_output=True, text=True, env=dict(os.environ, **(env or {})),
    )
    took = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {out.stdout}{out.stderr}")
    return took, out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--versions", type=int, default=2000)
    args = ap.parse_args()
    rng = random.Random(7)
    versions = []
    for k in range(args.versions):
        size = h.tail_size(rng, hi=1 << 20)
        versions.append(h.Version(f"example.com/bundle/m{k // 50:03d}", f"v1.0.{k % 50}", size))
    for v in versions:
        h.build_zip(v, rng)
    mib = sum(len(v.zip) for v in versions) / (1 << 20)
    work = tempfile.mkdtemp(prefix="goshelf-bundle-", dir=os.environ.get("PERF_DIR"))
    gs = None
    try:
        gs = h.Goshelf(args.bin, work).start()
        up_s = h.upload_all(gs.port, versions)
        gs.stop()
        gs = None
        _, key = run(args.bin, ["sumdb", "key", "--db", os.path.join(work, "goshelf.redb")])
        key = key.strip().split("=", 1)[-1]
        out = os.path.join(work, "export")
        off = {"GOSHELF_UPSTREAM_SUMDB": "off"}
        os.sync()
        ex_s, _ = run(args.bin, ["export", out, "--db", os.path.join(work, "goshelf.redb")], off)
        os.sync()
        im_s, report = run(
            args.bin,
            ["import", out, "--db", os.path.join(work, "imported.redb"), "--trust-sumdb", key],
            off,
        )
        first = report.splitlines()[0]
        want = f"imported {len(versions)} versions ({len(versions)} into the cache"
        if not first.startswith(want):
            raise RuntimeError(f"unexpected import report: {report}")
        n = len(versions)
        print(f"{n} versions, {mib:.1f} MiB of zips")
        print(f"upload (16 connections): {up_s:.2f} s, {n / up_s:.0f} versions/s, {mib / up_s:.1f} MiB/s")
        print(f"export: {ex_s:.2f} s, {n / ex_s:.0f} versions/s, {mib / ex_s:.1f} MiB/s")
        print(f"import: {im_s:.2f} s, {n / im_s:.0f} versions/s, {mib / im_s:.1f} MiB/s")
        print(f"import rate / upload rate: {up_s / im_s:.2f}x")
    finally:
        if gs:
            gs.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
