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
# CPU time (user + system) of everything the step ran: on a busy machine the wall time
# says little; the CPU time says what the step costs.
times_file=$(mktemp)
times >"$times_file"   # in this shell: a pipe or $(...) would ask a subshell
cpu_ms=$(tail -n 1 "$times_file" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/);
    t += a[1] * 60 + a[2] } printf "%d", t * 1000 }')
rm -f "$times_file"
duration() { # milliseconds -> "1.2 s", "12 s", "2 min 05 s"
    if [ "$1" -lt 10000 ]; then printf '%d.%01d s' $(($1 / 1000)) $(($1 % 1000 / 100))
    elif [ "$1" -lt 60000 ]; then printf '%d s' $(($1 / 1000))
    else printf '%d min %02d s' $(($1 / 60000)) $(($1 % 60000 / 1000)); fi
}
took="$(duration "$ms")"
[ "$ms" -lt 1000 ] || took="$took (CPU $(duration "$cpu_ms"))"
if [ "$rc" -eq 0 ]; then echo "== $label: ok in $took"
else echo "== $label: FAILED (exit status $rc) after $took"; fi
exit "$rc"
