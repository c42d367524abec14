#!/usr/bin/env bash
# Build manygil's release wheels:
#   toolchain/wheel.sh [--dist DIR] 3.13|3.14|3.15 ...   -> prints the path of each wheel
#
# Each wheel is built by `maturin build --release --strip` (the workspace's release profile
# keeps `debug = 1` for profiling; the shipped library carries no symbols or debug info)
# with the interpreter of .venv/<version> (toolchain/venv.sh), into target/wheel/<version>/.
# It shares target/py<version> with `make build`, so only manygil's own crates compile.
# maturin audits the library's glibc symbol versions and picks the manylinux tag.
# A wheel whose inputs (sources, manifests, README, maturin version) have not changed since
# it was built is reused. With --dist, each wheel is also copied into DIR, replacing older
# manygil wheels for the same Python there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
dist=
if [ "${1:-}" = --dist ]; then dist="${2:?--dist needs a directory}"; shift 2; fi
[ $# -gt 0 ] || { echo "usage: toolchain/wheel.sh [--dist DIR] VERSION..." >&2; exit 2; }

# Every file that goes into the wheel or decides how it is built: names and contents.
inputs_hash() {
    {
        find crates python -type f \
            -not -path '*/__pycache__/*' -not -path '*/target/*' -not -name '*.so' -print0 \
            | sort -z | xargs -0 sha256sum
        sha256sum Cargo.toml Cargo.lock pyproject.toml README.md toolchain/requirements-dev.txt
    } | sha256sum | cut -c1-16
}
sum=$(inputs_hash)

for v in "$@"; do
    case "$v" in 3.13|3.14|3.15) ;; *) echo "toolchain/wheel.sh: no release wheel for '$v' (expected 3.13, 3.14 or 3.15)" >&2; exit 2 ;; esac
    "$ROOT/toolchain/venv.sh" "$v"
    out="target/wheel/$v"
    stamp="$out/.manygil-inputs"
    whl=$(ls "$out"/manygil-*.whl 2>/dev/null | head -n1 || true)
    if [ -z "$whl" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
        rm -rf "$out"; mkdir -p "$out"
        log="target/wheel-$v.log"
        printf '[wheel %s] maturin build --release --strip (log: %s)\n' "$v" "$log" >&2
        # VIRTUAL_ENV and the interpreter as `make build` sets them: pyo3's build script
        # then sees the same configuration and the shared dependencies are not rebuilt.
        if ! VIRTUAL_ENV="$ROOT/.venv/$v" CARGO_TARGET_DIR="$ROOT/target/py$v" \
            ".venv/$v/bin/maturin" build --release --strip --interpreter ".venv/$v/bin/python" \
                --out "$out" >"$log" 2>&1; then
            cat "$log" >&2; echo "toolchain/wheel.sh: building the wheel for $v failed" >&2; exit 1
        fi
        whl=$(ls "$out"/manygil-*.whl)
        echo "$sum" > "$stamp"
    fi
    if [ -n "$dist" ]; then
        mkdir -p "$dist"
        tag=$(basename "$whl" | cut -d- -f3)   # cp314
        rm -f "$dist"/manygil-*-"$tag"-*.whl
        cp "$whl" "$dist/"
        whl="$dist/$(basename "$whl")"
    fi
    realpath "$whl"
done
