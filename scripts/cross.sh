#!/usr/bin/env bash
# Release binaries for small boards (README "Raspberry Pi and other small boards"):
#   bash scripts/cross.sh                 aarch64 (Pi 3/4/5, Zero 2 W on a 64-bit OS) and armv7
#   bash scripts/cross.sh aarch64         one of them
# Installs the Rust targets and Debian's cross linkers when missing (as root, or with sudo).
# The binaries land in target/<triple>/release/goshelf. The Pi Zero/1 (ARMv6) is not built:
# Debian's arm-linux-gnueabihf toolchain targets ARMv7, so its binaries die there with an
# illegal instruction.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
targets=("${@:-aarch64 armv7}")
# shellcheck disable=SC2206
targets=(${targets[*]})

for t in "${targets[@]}"; do
    case "$t" in
        aarch64) triple=aarch64-unknown-linux-gnu; gcc=aarch64-linux-gnu-gcc; pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
        armv7) triple=armv7-unknown-linux-gnueabihf; gcc=arm-linux-gnueabihf-gcc; pkgs="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" ;;
        *) echo "cross.sh: unknown target $t (aarch64 or armv7)" >&2; exit 2 ;;
    esac
    if ! command -v "$gcc" >/dev/null; then
        echo "cross.sh: installing $pkgs with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        # shellcheck disable=SC2086
        as_root apt-get install -y --no-install-recommends $pkgs ||
            { as_root apt-get update && as_root apt-get install -y --no-install-recommends $pkgs; }
    fi
    rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
    upper=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    # The linker for the binary, and the C compiler for ring's assembly and C parts.
    env "CARGO_TARGET_${upper}_LINKER=$gcc" "CC_${triple//-/_}=$gcc" \
        cargo build --release --locked --bin goshelf --target "$triple"
    echo "cross.sh: target/$triple/release/goshelf"
done
