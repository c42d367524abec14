#!/usr/bin/env bash
# Usage: toolchain/embed-env.sh VERSION [-- COMMAND ARGS...]
# The environment under which `cargo test -p manygil-python` links and runs Rust programs
# that embed the project's CPython VERSION (the Rust API's doctests, tests and example; see
# docs/rust.md "Building"): printed one NAME=value per line, or COMMAND run in it.
#
# Two layouts (toolchain/python.sh):
# - built from source (3.13): libpython is where sysconfig says; the programs find it via
#   LD_LIBRARY_PATH (doctests get no rpath from build.rs).
# - unpacked from Debian sid packages (3.14, 3.15): sysconfig names the packages' own
#   paths (/usr/...), and libpython needs sid's newer glibc, which lives beside it. The
#   programs are linked against that libpython, with sid's loader and an rpath to its
#   directory, and PYTHONHOME points the embedded interpreter at its stdlib. Never
#   LD_LIBRARY_PATH there: cargo, rustc and the linker would load sid's glibc too.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(toolchain/python.sh "$1")
read -r home libdir < <("$py" - <<'PY'
import os, sys, sysconfig
v = sysconfig.get_config_var
# Where it was configured to be, else where it was unpacked (under sys.base_prefix).
dirs = [v("LIBDIR"), os.path.join(sys.base_prefix, "lib", v("MULTIARCH") or ""), os.path.join(sys.base_prefix, "lib")]
found = [d for d in dirs if os.path.exists(os.path.join(d, v("LDLIBRARY")))]
if not found:
    sys.exit(f"no {v('LDLIBRARY')} in any of {dirs}: is CPython {sys.version.split()[0]} a shared build?")
print(sys.base_prefix, found[0])
PY
)
vars=("PYO3_PYTHON=$py")
if [ -e "$libdir/ld-linux-x86-64.so.2" ]; then
    flags="-L native=$libdir -C link-arg=-Wl,--dynamic-linker=$libdir/ld-linux-x86-64.so.2"
    # DT_RPATH (not RUNPATH): it applies to libpython's own needs (libm, libz) as well.
    flags+=" -C link-arg=-Wl,--disable-new-dtags -C link-arg=-Wl,-rpath,$libdir"
    flags+=" -C link-arg=-Wl,--allow-shlib-undefined"
    vars+=("RUSTFLAGS=$flags" "RUSTDOCFLAGS=$flags" "PYTHONHOME=$home")
else
    vars+=("LD_LIBRARY_PATH=$libdir")
fi
if [ "${2:-}" = "--" ]; then
    exec env "${vars[@]}" "${@:3}"
fi
printf '%s\n' "${vars[@]}"
