#!/usr/bin/env bash
# Runs goshelf's fuzz targets (fuzz/) for a bounded time each (issue 5, "Hostile input").
#
#   scripts/fuzz.sh [TARGET...]            all five targets when none is named
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_ENGINE   libfuzzer | stable | auto (default): libfuzzer needs a nightly toolchain and
#                 cargo-fuzz (`cargo install cargo-fuzz`); stable runs fuzz_stable, a replay and
#                 mutation loop without coverage feedback, on any toolchain.
#   FUZZ_ARGS     extra arguments for libFuzzer (e.g. "-jobs=2 -workers=2")
#
# Seeds: fuzz/seeds/<target>/, the hostile upload corpus (tests/fixtures/hostile) for
# zip_validate, and fuzz/regressions/<target>/ (every crash found so far, replayed first).
# libFuzzer grows fuzz/corpus/<target>/ (git-ignored) and writes crashes to
# fuzz/artifacts/<target>/. The script stops at the first target that crashes and exits 1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
seconds=${FUZZ_SECONDS:-60}
engine=${FUZZ_ENGINE:-auto}
all=(zip_validate path_version modfile goproxy_request request_head)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

if [ "$engine" = auto ]; then
    if cargo +nightly --version >/dev/null 2>&1 && cargo fuzz --version >/dev/null 2>&1; then
        engine=libfuzzer
    else
        engine=stable
        echo "fuzz.sh: no nightly toolchain or no cargo-fuzz; using the stable runner" >&2
    fi
fi

seed_dirs() {
    local t=$1
    mkdir -p "$fuzz/seeds/$t" "$fuzz/regressions/$t"
    echo "$fuzz/seeds/$t" "$fuzz/regressions/$t"
    if [ "$t" = zip_validate ]; then
        echo "$root/tests/fixtures/hostile"
    fi
}

max_len() {
    case $1 in
        zip_validate) echo 262144 ;;
        *) echo 4096 ;;
    esac
}

cd "$fuzz"
for t in "${targets[@]}"; do
    read -r -a seeds <<<"$(seed_dirs "$t" | tr '\n' ' ')"
    echo "=== $t: $engine, ${seconds}s" >&2
    if [ "$engine" = libfuzzer ]; then
        mkdir -p "corpus/$t"
        # libFuzzer reads directories recursively only one level deep: list the fixture files.
        extra=()
        for d in "${seeds[@]}"; do
            while IFS= read -r -d '' sub; do extra+=("$sub"); done \
                < <(find "$d" -mindepth 1 -type d -print0)
        done
        # shellcheck disable=SC2086
        cargo +nightly fuzz run -O "$t" "corpus/$t" "${seeds[@]}" "${extra[@]}" -- \
            -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_ARGS:-}
    else
        cargo run --quiet --release --no-default-features --bin fuzz_stable -- \
            "$t" --seconds "$seconds" --max-len "$(max_len "$t")" "${seeds[@]}"
    fi
done
