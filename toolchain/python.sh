#!/usr/bin/env bash
# Provision the CPython interpreters manygil builds and tests against.
#
#   toolchain/python.sh 3.13|3.13d|3.14|3.15   -> prints the path of a python3.X binary
#
# Idempotent; everything is cached under ${XDG_CACHE_HOME:-~/.cache}/manygil so a
# second run takes well under a second. Resolution order for 3.13/3.14/3.15:
#   1. a python3.X on PATH that is a GIL build, new enough, with Python.h;
#   2. the cached build in $CACHE/<version>;
#   3. a fresh one: 3.13 (and the 3.13 --with-pydebug build "3.13d") is compiled from
#      Debian trixie's source package; 3.14/3.15 are Debian sid binaries unpacked with
#      sid's glibc into a private prefix whose python binary is patched to use it.
# All apt traffic goes through a *private* apt configuration under $CACHE/apt; the
# system's sources are never edited. The mirror is read from the system's sources.
# Log lines go to stderr; only the interpreter path goes to stdout.
set -euo pipefail

VERSION="${1:?usage: toolchain/python.sh 3.13|3.13d|3.14|3.15}"
CACHE="${MANYGIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/manygil}"
APT_DIR="$CACHE/apt"
MIN_PATCH_313=5   # 3.13.0-3.13.4 predate sub-interpreter fixes (gh-126016 et al.)

log() { printf '[provision %s] %s\n' "$VERSION" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $* (install it by hand or run as root)"; fi
}

# --- 1. an acceptable interpreter already on PATH ------------------------------------
usable_python() { # $1 = binary, $2 = minor ("13"); succeeds if it is a GIL build with headers
    "$1" - "$2" <<'PY' 2>/dev/null
import os, sys, sysconfig
minor = int(sys.argv[1])
ok = (sys.version_info[:2] == (3, minor)
      and not sysconfig.get_config_var("Py_GIL_DISABLED")
      and (minor != 13 or sys.version_info[2] >= 5)
      and "/.pyenv/" not in sys.prefix
      and os.path.exists(os.path.join(sysconfig.get_path("include"), "Python.h")))
sys.exit(0 if ok else 1)
PY
}

# --- private apt ------------------------------------------------------------------------
mirror_uri() {
    # The first Debian (non-security) URI in the system's sources, deb822 or one-line form.
    local uri
    uri=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
            | awk '{print $2}' | grep -v security | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                | sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -v security | grep debian | head -n1 || true)
    fi
    [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*"
    echo "$uri"
}

APT_LISTS=   # $APT_DIR/<sid|trixie-src>, set by prepare_private_apt

private_apt() { # $@ = apt-get arguments; uses $APT_LISTS/sources.list
    # Run as root, apt warns on every file it downloads into a directory its _apt user
    # cannot reach (ours, under $CACHE); the download works, so that one message is dropped.
    # Every other line of stderr (real errors) stays, and apt-get's status is returned.
    { apt-get -q \
        -o Dir::Etc::sourcelist="$APT_LISTS/sources.list" \
        -o Dir::Etc::sourceparts=/dev/null \
        -o Dir::State::Lists="$APT_LISTS/lists" \
        -o Dir::Cache="$APT_LISTS/cache" \
        -o APT::Get::List-Cleanup=0 \
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
        "$@" 2>&1 1>&3 3>&- \
        | sed -u '/^[WN]: Download is performed unsandboxed as root/d' >&2 3>&-; } 3>&1
}

prepare_private_apt() { # $1 = sid (binaries for 3.14/3.15) | trixie-src (3.13's source)
    # One list set per purpose: the 3.14 demo needs only sid's Packages (~11 MB), not
    # trixie's Sources (another ~11 MB). apt-get download/source write to the cwd.
    local mirror stamp keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    mirror=$(mirror_uri)
    APT_LISTS="$APT_DIR/$1"
    mkdir -p "$APT_LISTS/lists/partial" "$APT_LISTS/cache/archives/partial"
    case "$1" in
        sid) echo "deb [signed-by=$keyring arch=amd64] $mirror sid main" ;;
        trixie-src) echo "deb-src [signed-by=$keyring] $mirror trixie main" ;;
    esac > "$APT_LISTS/sources.list.new"
    if ! cmp -s "$APT_LISTS/sources.list.new" "$APT_LISTS/sources.list" 2>/dev/null; then
        mv "$APT_LISTS/sources.list.new" "$APT_LISTS/sources.list"
        rm -f "$APT_LISTS/updated"
    fi
    # Refresh the private lists at most once a day.
    stamp="$APT_LISTS/updated"
    if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440)" ]; then
        log "apt-get update (private $1 lists, mirror $mirror)"
        private_apt update >&2 || die "private apt-get update failed"
        touch "$stamp"
    fi
}

ensure_system_packages() { # $@ = bookworm packages needed to build/patch
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing bookworm packages: ${missing[*]}"
    as_root apt-get -q update >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get -q install -y --no-install-recommends "${missing[@]}" >&2
}

# --- 3.13 from trixie's source package ---------------------------------------------------
build_313() { # $1 = prefix, $2.. = extra configure flags
    local prefix="$1"; shift
    ensure_system_packages build-essential pkg-config xz-utils libssl-dev libffi-dev zlib1g-dev \
        libbz2-dev liblzma-dev libsqlite3-dev libreadline-dev uuid-dev libncurses-dev libgdbm-dev
    local src="$CACHE/src"
    mkdir -p "$src"
    local tarball
    tarball=$(ls "$src"/python3.13_3.13.*.orig.tar.xz 2>/dev/null | sort -V | tail -n1 || true)
    if [ -z "$tarball" ]; then
        prepare_private_apt trixie-src
        log "downloading trixie's python3.13 source package"
        (cd "$src" && private_apt source --download-only python3.13 >&2) \
            || die "apt-get source --download-only python3.13 failed"
        tarball=$(ls "$src"/python3.13_3.13.*.orig.tar.xz | sort -V | tail -n1)
    fi
    local work
    work=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf "$work"' RETURN
    tar -xJf "$tarball" -C "$work"
    local tree
    tree=$(find "$work" -maxdepth 1 -type d -name 'Python-3.13*' | head -n1)
    [ -n "$tree" ] || die "unexpected layout in $tarball"
    log "configure + make in $tree (about 2-3 minutes on 2 cores)"
    rm -rf "$prefix"
    (cd "$tree" \
        && ./configure --prefix="$prefix" "$@" >"$work/configure.log" 2>&1 \
        && make -j"$(nproc)" >"$work/make.log" 2>&1 \
        && make install >"$work/install.log" 2>&1) \
        || { tail -n 40 "$work"/*.log >&2; die "building CPython 3.13 failed (logs above)"; }
    touch "$prefix/.manygil-complete"
}

# --- 3.14 / 3.15 from sid binaries ---------------------------------------------------------
SID_LIBS=(libc6 libssl3t64 libffi8 libsqlite3-0 libzstd1 libreadline8t64 libncursesw6 libtinfo6
          libdb5.3t64 libuuid1 liblzma5 libbz2-1.0 libexpat1 zlib1g libgcc-s1 libmpdec4)

unpack_sid() { # $1 = minor ("14"), $2 = prefix
    local v="3.$1" prefix="$2"
    ensure_system_packages patchelf
    prepare_private_apt sid
    local debs="$CACHE/debs/$v"
    rm -rf "$debs"; mkdir -p "$debs"
    local pkgs=("python$v" "python$v-minimal" "libpython$v-minimal" "libpython$v-stdlib" "libpython$v"
                "libpython$v-dev" "python$v-dev" python3-pip-whl "${SID_LIBS[@]}")
    log "downloading sid packages: ${pkgs[*]}"
    # libmpdec4 may not exist on every sid snapshot (3.13+ bundles mpdecimal); tolerate its absence.
    (cd "$debs" && private_apt download "${pkgs[@]}" >&2) \
        || (cd "$debs" && private_apt download "${pkgs[@]/libmpdec4/}" >&2) \
        || die "apt-get download of sid packages failed"
    rm -rf "$prefix"; mkdir -p "$prefix"
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
    local py="$prefix/usr/bin/python$v"
    [ -x "$py" ] || die "no $py after unpacking"
    local libdir="$prefix/usr/lib/x86_64-linux-gnu"
    # Only the python binary is pointed at the private glibc; nothing else (and never
    # LD_LIBRARY_PATH) sees it. /lib64 -> usr/lib64 layouts differ; find the loader.
    local ld
    ld=$(find "$prefix" -name 'ld-linux-x86-64.so.2' | head -n1)
    [ -n "$ld" ] || die "sid's libc6 did not provide ld-linux-x86-64.so.2"
    patchelf --set-interpreter "$ld" --force-rpath --set-rpath "$libdir" "$py"
    "$py" -c 'import ssl, sqlite3, decimal, ctypes, zlib, lzma, bz2' \
        || die "unpacked python$v cannot import its stdlib extensions"
    compile_stdlib "$py" "$prefix/usr/lib/python$v" "$prefix"
    touch "$prefix/.manygil-complete"
    rm -rf "$debs"
}

# Debian's packages ship no .pyc files (its postinst compiles them at install time): without
# them every interpreter compiles each stdlib module it imports from source, which makes
# each new interpreter slower and several MiB larger than on a normal install.
compile_stdlib() { # $1 = python, $2 = its stdlib directory, $3 = the prefix (stamped)
    log "compiling the standard library to .pyc (as Debian's install step does)"
    "$1" -m compileall -q -j0 -x '/(test|idlelib|tkinter|turtledemo)/' "$2" >/dev/null \
        || die "compileall of $2 failed"
    touch "$3/.manygil-pyc"
}

# --- main ------------------------------------------------------------------------------------
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-$VERSION"
flock 9   # two concurrent `make` runs must not build the same prefix twice

case "$VERSION" in
    3.13|3.14|3.15)
        minor=${VERSION#3.}
        if cand=$(command -v "python$VERSION") && usable_python "$cand" "$minor"; then
            echo "$cand"; exit 0
        fi ;;
    3.13d) ;;
    *) die "unknown version '$VERSION' (expected 3.13, 3.13d, 3.14 or 3.15)" ;;
esac

prefix="$CACHE/$VERSION"
case "$VERSION" in
    3.13)  py="$prefix/bin/python3.13"
           [ -f "$prefix/.manygil-complete" ] || build_313 "$prefix" --enable-shared \
               LDFLAGS="-Wl,-rpath,$prefix/lib" ;;
    3.13d) py="$prefix/bin/python3.13"
           [ -f "$prefix/.manygil-complete" ] || build_313 "$prefix" --with-pydebug --enable-shared \
               LDFLAGS="-Wl,-rpath,$prefix/lib" ;;
    3.14|3.15)
           minor=${VERSION#3.}
           py="$prefix/usr/bin/python$VERSION"
           [ -f "$prefix/.manygil-complete" ] || unpack_sid "$minor" "$prefix"
           # Prefixes unpacked before the stdlib was compiled there.
           [ -f "$prefix/.manygil-pyc" ] || compile_stdlib "$py" "$prefix/usr/lib/python$VERSION" "$prefix" ;;
esac
[ -x "$py" ] || die "expected $py to exist"
echo "$py"
