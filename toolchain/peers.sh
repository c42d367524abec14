#!/usr/bin/env bash
# Install the peers that `python -m manygil bench --scenario serve` compares manygil serve
# against: wrk (the load generator, Debian package) system-wide, and the Python servers of
# toolchain/requirements-peers.txt (gunicorn, granian, uvicorn) into .venv/<version>:
#   toolchain/peers.sh [3.14]
# Safe to run again (a no-op when everything is there).
set -euo pipefail
VERSION="${1:-3.14}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv/$VERSION"
log() { printf '[peers] %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing wrk (Debian package)"
    if ! $sudo apt-get install -y -q wrk >/dev/null 2>&1; then
        $sudo apt-get update -q >/dev/null
        $sudo apt-get install -y -q wrk >/dev/null
    fi
fi
# redis-server: the Redis row of bench/bench_serve_cache.py (a cache process-based servers
# share between workers, against manygil's shared cache).
if ! command -v redis-server >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing redis-server (Debian package)"
    if ! $sudo apt-get install -y -q redis-server >/dev/null 2>&1; then
        $sudo apt-get update -q >/dev/null
        $sudo apt-get install -y -q redis-server >/dev/null
    fi
fi
[ -x "$VENV/bin/python" ] || "$ROOT/toolchain/venv.sh" "$VERSION"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
    -r "$ROOT/toolchain/requirements-peers.txt" -r "$ROOT/toolchain/requirements-extras.txt" >&2
log "wrk $(wrk --version 2>&1 | head -n1 | awk '{print $2}'), $("$VENV/bin/python" -m pip list 2>/dev/null | grep -iE '^(gunicorn|granian|flask) ' | awk '{printf "%s %s, ", $1, $2}')ready"
