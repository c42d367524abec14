#!/usr/bin/env bash
# Create (or refresh) .venv/<version> for manygil development:
#   toolchain/venv.sh 3.13|3.13d|3.14|3.15 [--build-only]
# The interpreter comes from toolchain/python.sh. Dependencies come from
# toolchain/requirements-dev.txt; a stamp holding its hash makes a second run a no-op.
# --build-only installs just maturin (what `make demo` needs to build and run); a later
# run without it adds the rest to the same venv, keeping the manygil installed there.
set -euo pipefail
VERSION="${1:?usage: toolchain/venv.sh 3.13|3.13d|3.14|3.15 [--build-only]}"
MODE="${2:-}"
case "$MODE" in ""|--build-only) ;; *) echo "toolchain/venv.sh: unknown option '$MODE'" >&2; exit 2 ;; esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv/$VERSION"
REQS="$ROOT/toolchain/requirements-dev.txt"
EXTRAS="$ROOT/toolchain/requirements-extras.txt"
log() { printf '[venv %s] %s\n' "$VERSION" "$*" >&2; }

PY="$("$ROOT/toolchain/python.sh" "$VERSION")"
want="$(cat "$REQS" "$EXTRAS" | sha256sum | cut -c1-16) $PY"
stamp="$VENV/.manygil-stamp"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ -x "$VENV/bin/python" ] && { [ "$have" = "$want" ] \
        || { [ "$MODE" = --build-only ] && [ "$have" = "$want build-only" ]; }; }; then
    exit 0
fi
if [ -x "$VENV/bin/python" ] && [ "$have" = "$want build-only" ]; then
    log "adding the test and lint tools to $VENV"
else
    log "creating $VENV from $PY"
    rm -rf "$VENV"
    "$PY" -m venv --without-pip "$VENV"
    # Debian's python has no ensurepip wheels in the venv's reach: install pip from the
    # bundled wheel when there is one, otherwise use ensurepip (source builds).
    prefix="$("$PY" -c 'import sys; print(sys.base_prefix)')"
    pipwhl="$(ls "$prefix"/share/python-wheels/pip-*.whl 2>/dev/null | sort -V | tail -n1 || true)"
    if [ -n "$pipwhl" ]; then
        "$VENV/bin/python" "$pipwhl/pip" install -q --no-index "$pipwhl" >&2
    else
        "$VENV/bin/python" -m ensurepip >/dev/null
    fi
fi
if [ "$MODE" = --build-only ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "$(grep -E '^maturin\b' "$REQS")" >&2
    echo "$want build-only" > "$stamp"
    exit 0
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS" >&2
case "$VERSION" in
    *d) ;;  # debug build: binary wheels do not match its ABI tag
    *) "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
           --only-binary=:all: -r "$EXTRAS" >&2 ;;
esac
echo "$want" > "$stamp"
