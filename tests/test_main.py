"""``python -m manygil``: the command list, --version, unknown commands (real subprocesses)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import manygil
import pytest
from manygil.__main__ import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def run_manygil(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "manygil", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def pyproject_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def test_version_comes_from_the_package_metadata():
    assert manygil.__version__ == importlib.metadata.version("manygil")
    assert manygil.__version__ == pyproject_version()


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag_prints_name_and_version(flag):
    r = run_manygil(flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"manygil {pyproject_version()}\n"


@pytest.mark.parametrize("args", [[], ["-h"], ["--help"]])
def test_no_command_lists_every_command_on_one_line(args):
    r = run_manygil(*args)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("usage: python -m manygil <command>")
    for name, (_, help_) in COMMANDS.items():
        [line] = [ln for ln in lines if ln.split()[:1] == [name]]
        assert line.split(None, 1)[1] == help_
    assert {"bench", "demo"} <= COMMANDS.keys()


def test_unknown_command_is_an_error_naming_it():
    r = run_manygil("benhc")
    assert r.returncode == 2
    assert r.stdout == ""
    assert "unknown command 'benhc'" in r.stderr
    assert "bench" in r.stderr  # the valid choices are listed


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name):
    r = run_manygil(name, "--help")
    assert r.returncode == 0, r.stderr
    assert f"python -m manygil {name}" in r.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_commands_reject_unknown_options(name):
    r = run_manygil(name, "--no-such-option")
    assert r.returncode == 2
    assert "--no-such-option" in r.stderr


def test_commands_are_imported_only_when_run():
    code = (
        "import sys; from manygil.__main__ import main; main(sys.argv[1:]);"
        "print(sorted(m for m in sys.modules if m.startswith(('manygil.bench', 'manygil._cli.demo'))))"
    )
    r = run_manygil("--version", code=code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[]"
