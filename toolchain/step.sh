#!/usr/bin/env bash
# Run one step of `make demo` / `make test`, saying what it does and how long it took:
#   toolchain/step.sh [--log FILE] "what it does" command [args...]
# prints "== what it does" before, "== what it does: ok in 12 s" (or FAILED) after, and
# exits with the command's status. With --log, the command's output goes to FILE and is
# shown only if the command fails.
set -uo pipefail
logfile=
if [ "${1:-}" = --log ]; then logfile="${2:?--log needs a file}"; shift 2; fi
label="${1:?usage: toolchain/step.sh [--log FILE] LABEL COMMAND [ARGS...]}"; shift
echo "== $label"
start=$(date +%s%N)
if [ -n "$logfile" ]; then
    mkdir -p "$(dirname "$logfile")"
    "$@" >"$logfile" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] || cat "$logfile"
else
    "$@"
    rc=$?
fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$ms" -lt 10000 ]; then took=$(printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)))
elif [ "$ms" -lt 60000 ]; then took="$((ms / 1000)) s"
else took=$(printf '%d min %02d s' $((ms / 60000)) $((ms % 60000 / 1000))); fi
if [ "$rc" -eq 0 ]; then echo "== $label: ok in $took"
else echo "== $label: FAILED (exit status $rc) after $took"; fi
exit "$rc"
