"""The release wheel, installed the way a user installs it, runs the README's quick start.

The wheel comes from toolchain/wheel.sh (what `make wheel` ships; `make test` builds it
before the pytest runs, so here it is reused). It goes into a fresh virtual environment
that has pip and nothing else, and the README's first code block runs from a directory
outside the source tree, so nothing of the development set-up can stand in for it.
"""

from __future__ import annotations

import ast
import os
import re
import struct
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

# One run is enough (make test runs it on DEMO_VERSION only): the wheel build is not free.
pytestmark = [pytest.mark.wheel, pytest.mark.timeout(900)]


def readme_quick_start() -> str:
    """The first ```python block under the README's "## Quick start" heading."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Quick start\n", 1)[1]
    match = re.search(r"^```python\n(.*?)^```$", section, re.S | re.M)
    assert match, "README.md: no ```python block under '## Quick start'"
    return match.group(1)


def build_wheel() -> Path:
    r = subprocess.run(
        [str(ROOT / "toolchain" / "wheel.sh"), VERSION], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return Path(r.stdout.split()[-1])


def clean_venv(path: Path) -> Path:
    """A virtual environment with pip only (from the interpreter's bundled pip wheel when it
    has one, as on Debian, otherwise ensurepip); returns its python."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    bundled = sorted(Path(sys.base_prefix, "share", "python-wheels").glob("pip-*.whl"))
    if bundled:
        cmd = [str(python), f"{bundled[-1]}/pip", "install", "-q", "--no-index", str(bundled[-1])]
    else:
        cmd = [str(python), "-m", "ensurepip", "-q"]
    subprocess.run(cmd, check=True, capture_output=True)
    return python


def user_env() -> dict[str, str]:
    """This environment without what points into the development set-up."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_wheel_installs_in_a_clean_venv_and_runs_the_quick_start(tmp_path):
    wheel = build_wheel()
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert re.fullmatch(rf"manygil-[^-]+-{tag}-{tag}-manylinux_2_\d+_x86_64\.whl", wheel.name), (
        wheel.name
    )

    python = clean_venv(tmp_path / "venv")
    env = user_env()
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    # Its one dependency (cloudpickle, pure Python) comes from the package index, as for a
    # user.
    r = subprocess.run([*pip, "install", "-q", str(wheel)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # Nothing but pip, manygil and its one dependency.
    r = subprocess.run([*pip, "list", "--format=freeze"], capture_output=True, text=True, env=env)
    installed = sorted(line.split("==")[0] for line in r.stdout.split())
    assert installed == ["cloudpickle", "manygil", "pip"], r.stdout

    code = readme_quick_start()
    script = tmp_path / "work" / "quick_start.py"
    script.parent.mkdir()
    script.write_text(code)
    r = subprocess.run(
        [str(python), script.name],
        cwd=script.parent,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    total, timed_out, stats = r.stdout.splitlines()

    # What the README says the code prints, computed here with the README's own function.
    namespace: dict = {"__name__": "readme"}
    exec(code, namespace)
    assert int(total) == 8 * namespace["score"](2_000_000)
    assert timed_out == "timed out; the worker is reused"
    counters = ast.literal_eval(stats)
    assert {"workers", "submitted", "done", "failed", "queued"} <= counters.keys()
    assert counters["workers"] >= 1 and counters["queued"] == 0
    # ...and it ran from the installed wheel, not from this checkout.
    where = (
        "import manygil, sysconfig; print(manygil.__file__); print(sysconfig.get_path('platlib'))"
    )
    r = subprocess.run(
        [str(python), "-c", where], cwd=script.parent, capture_output=True, text=True, env=env
    )
    location, site = r.stdout.splitlines()
    assert Path(location).is_relative_to(site), (location, site)
    assert sysconfig.get_path("platlib") != site


def elf_section_names(data: bytes) -> set[str]:
    """The section names of a little-endian ELF64 file (its section header table)."""
    assert data[:6] == b"\x7fELF\x02\x01", "not a little-endian ELF64 file"
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]  # sh_offset of the section-name string table
    return {
        data[names_at + name : data.index(b"\0", names_at + name)].decode() for name, *_ in headers
    }


def test_wheel_carries_no_debug_info():
    wheel = build_wheel()
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        [lib] = [n for n in names if n.startswith("manygil/_native.") and n.endswith(".so")]
        sections = elf_section_names(z.read(lib))
    assert ".text" in sections and ".dynsym" in sections
    assert not {s for s in sections if s.startswith(".debug")}, sections
    assert ".symtab" not in sections
    # The package's sources are there; nothing from a development build is.
    assert "manygil/__init__.py" in names and "manygil/py.typed" in names
    assert [n for n in names if n.endswith(".so")] == [lib]
