#!/usr/bin/env bash
# Install the peers that `python -m manygil bench --scenario serve` compares manygil serve
# against: wrk (the load generator) and nginx (bench/bench_serve_static.py's static-file
# peer), Debian packages, system-wide, and the Python servers of
# toolchain/requirements-peers.txt (gunicorn, granian, uvicorn, hypercorn) into .venv/<version>:
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
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing nginx (Debian package nginx-light; the benchmark runs its own, the package's service is not started)"
    # Debian starts a package's service on install unless policy-rc.d says no: say no
    # for this install when nothing says it already.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        trap '$sudo rm -f "$policy"' EXIT
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod +x "$policy"
    fi
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null 2>&1; then
        $sudo apt-get update -q >/dev/null
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null
    fi
    if [ -n "$policy" ]; then
        $sudo rm -f "$policy"
        trap - EXIT
    fi
fi
[ -x "$VENV/bin/python" ] || "$ROOT/toolchain/venv.sh" "$VERSION"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
    -r "$ROOT/toolchain/requirements-peers.txt" -r "$ROOT/toolchain/requirements-extras.txt" >&2
log "wrk $(wrk --version 2>&1 | head -n1 | awk '{print $2}'), $(/usr/sbin/nginx -v 2>&1 | awk '{print $3}'), $("$VENV/bin/python" -m pip list 2>/dev/null | grep -iE '^(gunicorn|granian|flask|uvicorn|hypercorn) ' | awk '{printf "%s %s, ", $1, $2}')ready"
