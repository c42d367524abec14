#!/usr/bin/env bash
# Regenerate docs/compatibility.md: which of the 100 most-downloaded PyPI packages import
# in own-GIL interpreters (`python -m manygil check` on each one's import names).
#   toolchain/compat.sh [--wheel | --check-only] [VERSION]   (3.13, 3.14 or 3.15; default 3.14)
#
# Makes a throwaway venv, target/compat/<version>/venv, from toolchain/python.sh's
# interpreter; puts manygil in it (the development build `make build` made for that
# version, through a .pth file; with --wheel, the release wheel of toolchain/wheel.sh);
# installs each pinned line of toolchain/top-packages.txt separately (that file also
# serves as constraints, so no install moves another listed package off its pin), each
# within COMPAT_INSTALL_TIMEOUT seconds (default 900), so that one failure only makes a
# "not installable" row; then toolchain/compat_table.py maps each distribution to its
# import names, runs `python -m manygil check --json` on them (COMPAT_JOBS checking
# processes, default 2) and renders the table. The install logs, installs.tsv and the
# collected JSON stay in target/compat/<version>/. Needs the network (PyPI).
# --check-only reuses the venv and installs of the last run: it only checks and renders.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
mode=dev
case "${1:-}" in --wheel|--check-only) mode="${1#--}"; shift ;; esac
V="${1:-3.14}"
case "$V" in 3.13|3.14|3.15) ;; *) echo "toolchain/compat.sh: unsupported version '$V' (expected 3.13, 3.14 or 3.15)" >&2; exit 2 ;; esac
PKGS="$ROOT/toolchain/top-packages.txt"
OUT="$ROOT/target/compat/$V"
VENV="$OUT/venv"
TIMEOUT="${COMPAT_INSTALL_TIMEOUT:-900}"
log() { printf '[compat %s] %s\n' "$V" "$*" >&2; }

make_venv() {
    rm -rf "$OUT"
    mkdir -p "$OUT/install"
    local py site whl
    py="$("$ROOT/toolchain/python.sh" "$V")"
    log "creating $VENV from $py"
    "$py" -m venv --without-pip "$VENV"
    # Debian's interpreters have no ensurepip wheel in a venv's reach: the development
    # venv's pip installs the listed pip into this one.
    "$ROOT/.venv/$V/bin/python" -m pip --python "$VENV/bin/python" --disable-pip-version-check \
        install -q -c "$PKGS" pip >&2
    if [ "$mode" = wheel ]; then
        whl="$("$ROOT/toolchain/wheel.sh" "$V" | tail -n1)"
        log "installing $(basename "$whl")"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$whl" >&2
    else
        if ! "$ROOT/.venv/$V/bin/python" -c 'import manygil._native' 2>/dev/null; then
            echo "toolchain/compat.sh: no development build for $V: run 'make build VERSIONS=$V' (or use --wheel)" >&2
            exit 1
        fi
        site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
        echo "$ROOT/python" > "$site/manygil-dev.pth"
        log "using the development build in $ROOT/python"
    fi
}

# One pip install per listed distribution; installs.tsv: name, pin, "ok" or "failed", why.
install_each() {
    local total n=0 pin name start status reason rc
    printf 'name\tpin\tinstall\treason\n' > "$OUT/installs.tsv"
    total="$(grep -cvE '^\s*(#|$)' "$PKGS")"
    while read -r pin; do
        case "$pin" in ''|'#'*) continue ;; esac
        n=$((n + 1))
        name="${pin%%[=<>!~ ;]*}"
        start=$(date +%s)
        if timeout -k 30 "$TIMEOUT" "$VENV/bin/python" -m pip install --disable-pip-version-check \
                --no-input -c "$PKGS" "$pin" >"$OUT/install/$name.log" 2>&1; then
            status=ok reason=
        else
            rc=$?
            status=failed
            if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                reason="pip install did not finish within $TIMEOUT s"
            else
                reason="$(grep -E '^(ERROR|error):' "$OUT/install/$name.log" | head -n1 | cut -c1-300 || true)"
                [ -n "$reason" ] || reason="$(tail -n1 "$OUT/install/$name.log" | cut -c1-300)"
            fi
        fi
        printf '%s\t%s\t%s\t%s\n' "$name" "$pin" "$status" "${reason//$'\t'/ }" >> "$OUT/installs.tsv"
        log "$n/$total $pin: $status ($(( $(date +%s) - start )) s)"
    done < "$PKGS"
}

"$ROOT/toolchain/venv.sh" "$V"
if [ "$mode" = check-only ]; then
    [ -s "$OUT/installs.tsv" ] || { echo "toolchain/compat.sh: --check-only needs a previous run's $OUT" >&2; exit 1; }
else
    make_venv
    install_each
fi
log "checking the import names of the installed packages"
"$VENV/bin/python" "$ROOT/toolchain/compat_table.py" collect --packages "$PKGS" \
    --installs "$OUT/installs.tsv" --jobs "${COMPAT_JOBS:-2}" --out "$OUT/compat.json"
"$VENV/bin/python" "$ROOT/toolchain/compat_table.py" render "$OUT/compat.json" \
    --out "$ROOT/docs/compatibility.md"
log "wrote docs/compatibility.md: $(grep -m1 -oE 'Of [0-9]+ packages: [^*]*' docs/compatibility.md)"
