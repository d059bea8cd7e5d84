#!/usr/bin/env bash
# Mutation testing of the domain core (issue 25): cargo-mutants over the Go rules in
# src/gomod/ and the checksum log in src/sumdb/, against the tests that cover them, with a
# per-file table of what the tests catch.
#
#   scripts/mutants.sh [--domain] [--shard K/N] [--jobs J] [FILE...]
#
# FILE...     the files to mutate (default: every .rs file of src/gomod and src/sumdb; files
#             of src/store are tested against the store's unit tests too).
# --domain    run the domain integration tests too (tests/gomod_*: the conformance data,
#             go.mod and zip uploads; hostile_uploads; sumdb: the checksum database end to
#             end), not only the unit tests of src/gomod and src/sumdb (`cargo test --lib --
#             gomod:: sumdb::`). Each mutant then links the integration test binary again
#             and runs about 40 s of tests: about 1.5 minutes a mutant.
# --shard K/N run the K-th of N parts of the mutants (cargo-mutants --shard), so the run can
#             be spread over machines or evenings.
# --jobs J    mutants built and tested at once (default 1; each needs a build directory).
#
# Each mutant gets a timeout of 60 s (240 s with --domain): a mutant that
# makes a loop endless is reported as a timeout, and should be caught instead: loops over
# input are bounded by it (iterators, not index steps), and tests call parsers through
# `testing::within`, which fails a call that takes longer than 5 s. Not part of the README
# test command: the whole set (about 2,800 mutants, 5.5 a minute with --jobs 2) takes hours
# on 2 cores. Run it before a release note; BENCHMARKS.md keeps the summary.
#
# Needs cargo-mutants (`cargo install --locked cargo-mutants@27.1.0`). The output of the
# last run is in mutants.out/ (missed.txt lists what no test noticed).
set -euo pipefail
cd "$(dirname "$0")/.."

domain=false
shard=""
jobs=1
files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --domain) domain=true ;;
        --shard) shard="$2"; shift ;;
        --jobs) jobs="$2"; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) files+=("$1") ;;
    esac
    shift
done
if [ ${#files[@]} -eq 0 ]; then
    mapfile -t files < <(find src/gomod src/sumdb -name '*.rs' | sort)
fi
if ! cargo mutants --version >/dev/null 2>&1; then
    echo "mutants.sh: cargo-mutants is missing: cargo install --locked cargo-mutants@27.1.0" >&2
    exit 2
fi

# No debug info in the mutants' builds: the rebuild of the library's test binary after each
# mutation then takes about 5 s instead of about 22 s (the link of the debug info dominated);
# a failing test still names itself and its assertion.
export CARGO_PROFILE_DEV_DEBUG=0
# 60 s per mutant for the unit tests (about 4 s); the domain tests take about 40 s on two
# busy cores (the checksum database's end-to-end tests start servers and run the go command).
timeout=60
if $domain; then
    timeout=240
fi
args=(--no-shuffle -j "$jobs" --timeout "$timeout")
for f in "${files[@]}"; do
    args+=(-f "$f")
done
if [ -n "$shard" ]; then
    args+=(--shard "$shard")
fi
# `-C` reaches both the build and the test step, so each mutant builds only the test
# binaries it runs (`-- ARG` would reach the test step alone, and every integration test
# binary would be linked again for each mutant).
# The test names go to the test binaries, after a second `--` (cargo-mutants hands what
# follows its own `--` to `cargo test`, which takes one test name of its own at most).
if $domain; then
    # Unit tests and the domain integration tests (the `tests` binary), by name.
    test_args=(-C --lib -C --test -C tests -- -- gomod sumdb hostile_uploads)
else
    # The unit tests of src/gomod and src/sumdb (184 tests, about 4 s): the rest of the
    # library's unit tests take four times as long and are not about these rules. Files of
    # src/store bring the store's unit tests (a real redb file each, about 1 s).
    filters=(gomod:: sumdb::)
    for f in "${files[@]}"; do
        case "$f" in src/store/*) filters+=(store::); break ;; esac
    done
    test_args=(-C --lib -- -- "${filters[@]}")
fi

status=0
cargo mutants "${args[@]}" "${test_args[@]}" || status=$?
# 0: all caught; 2: some missed; 3: some timed out; anything else is a failure of the run.
case "$status" in 0|2|3) ;; *) exit "$status" ;; esac

# The per-file table.
echo
echo "| file | mutants | caught | missed | timeout | unviable |"
echo "|---|---|---|---|---|---|"
for f in "${files[@]}"; do
    count() { grep -c "^$f:" "mutants.out/$1.txt" 2>/dev/null || true; }
    c=$(count caught); m=$(count missed); t=$(count timeout); u=$(count unviable)
    total=$(( ${c:-0} + ${m:-0} + ${t:-0} + ${u:-0} ))
    [ "$total" -gt 0 ] && echo "| $f | $total | ${c:-0} | ${m:-0} | ${t:-0} | ${u:-0} |"
done
exit 0
