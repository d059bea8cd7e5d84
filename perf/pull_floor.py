#!/usr/bin/env python3
"""What forwarding alone costs the cold pull-through path (issue 27): the go command through a
plain nginx reverse proxy in front of the upstream, against the upstream directly.

The same graph, upstream and checksum database as perf/pull.py; the proxy (nginx, pinned to
the server core like goshelf, keep-alive to the upstream, its request log buffered as the
upstream's) forwards every request, sumdb included, and keeps nothing. A cold shelf forwards
too, and on top fetches, verifies, stores and logs each module before it answers; so this
ratio is what no design that answers a miss from the upstream's bytes can go under, and what
is left of issue 27's 1.3x after it is the budget for all of the shelf's own work.

    perf/pull_floor.py --bin target/release/goshelf [--runs 5] [--quick]

(`--bin` makes the checksum database of the graph, as in perf/pull.py.)
"""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pull  # noqa: E402


def proxy(upstream_port, workdir):
    """nginx forwarding everything to 127.0.0.1:`upstream_port` (keep-alive), storing
    nothing; otherwise configured as the upstream is (`harness.Nginx`)."""
    return h.Nginx(
        None, workdir,
        http=f"upstream up {{ server 127.0.0.1:{upstream_port}; keepalive 16; }}",
        server="""location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffers 64 64k;
        }""")


def main():
    args = pull.arguments(__doc__).parse_args()
    go = h.find_go()
    tmp = tempfile.mkdtemp(prefix="goshelf-floor-")
    go_tmp = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tmp
    ds, root, vkey, sumdb_base = pull.upstream_tree(args.bin, args.quick, tmp)
    ng = h.Nginx(root, tmp).start()
    proxy_dir = os.path.join(tmp, "proxy")
    os.makedirs(proxy_dir)
    px = proxy(ng.port, proxy_dir).start()
    sides = {
        "direct": (f"http://127.0.0.1:{ng.port}", ng.port),
        "proxied": (f"http://127.0.0.1:{px.port}", px.port),
    }
    times = {k: [] for k in sides}
    try:
        for kind, (base, _) in sides.items():  # untimed: warm the go binary, nginx's files
            pull.go_download(go, ds, base + h.BASE, f"{vkey} {base}{sumdb_base}", go_tmp, kind)
        for r in range(args.runs):
            for kind in (["direct", "proxied"] if r % 2 == 0 else ["proxied", "direct"]):
                base, _ = sides[kind]
                dt = pull.go_download(go, ds, base + h.BASE, f"{vkey} {base}{sumdb_base}",
                                      go_tmp, kind)
                times[kind].append(dt)
                h.log(f"  run {r}: {kind}: {dt:.2f}s")
    finally:
        px.stop()
        ng.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    d, p = h.med(times["direct"]), h.med(times["proxied"])
    print(f"\n| go mod download all, {ds.graph_n} modules | median of {args.runs} |")
    print("|---|---|")
    print(f"| direct from the upstream (nginx) | {d:.2f} s |")
    print(f"| through an nginx proxy that keeps nothing | {p:.2f} s = {p / d:.2f}x direct |")
    print("raw:", {k: [round(x, 2) for x in v] for k, v in times.items()})


if __name__ == "__main__":
    main()
