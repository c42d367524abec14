"""The package's layout (issue 25, item 4): what users import keeps working, the Rust glue
finds every Python function it calls by name, and no module depends on a layer above it."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "python", "manygil")
GLUE = os.path.join(ROOT, "crates", "manygil-python", "src")
PY_NAMES = os.path.join(GLUE, "runtime", "py_names.rs")


# --- public import paths ------------------------------------------------------------------

# Each path a user imports, with the third-party package it needs (None: none).
PUBLIC_MODULES = [
    ("manygil", None),
    ("manygil.interpreters", None),
    ("manygil.pool", None),
    ("manygil.serve", None),
    ("manygil.cache", None),
    ("manygil.check", None),
    ("manygil.bench", None),
    ("manygil.bench.scenarios", None),
    ("manygil.__main__", None),
    ("manygil.django", "django"),
    ("manygil.flask_caching", "flask_caching"),
    ("manygil.dask", "distributed"),
    ("manygil.joblib", "joblib"),
]


@pytest.mark.parametrize("module,needs", PUBLIC_MODULES, ids=[m for m, _ in PUBLIC_MODULES])
def test_each_public_module_imports(module, needs):
    if needs is not None:
        pytest.importorskip(needs)
    assert importlib.import_module(module).__name__ == module


def test_every_name_of_manygil_all_resolves():
    import manygil

    missing = [n for n in manygil.__all__ if not hasattr(manygil, n)]
    assert missing == []
    # The synchronization primitives are the native types (the _sync re-export is gone).
    assert manygil.Lock is manygil._native.Lock
    assert importlib.util.find_spec("manygil._sync") is None


def test_the_names_serve_documents_resolve():
    from manygil.serve import EXIT_STUCK, StartupError, StuckLimitError, cache, main, serve

    assert callable(serve) and callable(main) and EXIT_STUCK == 75
    assert issubclass(StartupError, RuntimeError) and issubclass(StuckLimitError, RuntimeError)
    # Shown to users (tracebacks, reprs) under the path they import them from.
    assert StartupError.__module__ == "manygil.serve"
    import manygil.cache

    assert cache is manygil.cache


def _documented_imports() -> list[tuple[str, str, str | None]]:
    """``(file, module, name)`` of every ``import manygil...`` and ``from manygil...
    import name`` line in README.md and docs/*.md."""
    files = [os.path.join(ROOT, "README.md")] + [
        os.path.join(ROOT, "docs", f) for f in sorted(os.listdir(os.path.join(ROOT, "docs")))
    ]
    found = []
    for path in files:
        if not path.endswith(".md"):
            continue
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"^\s*from (manygil[\w.]*) import ([\w, ]+)", text, re.M):
            for name in m.group(2).split(","):
                if name.strip():
                    found.append((os.path.basename(path), m.group(1), name.strip()))
        for m in re.finditer(r"^\s*import (manygil[\w.]*)", text, re.M):
            found.append((os.path.basename(path), m.group(1), None))
    return found


def test_every_import_the_docs_show_works():
    """The docs' ``import``/``from ... import`` lines, each run in a fresh process."""
    found = _documented_imports()
    assert len(found) >= 10, found  # the docs do show imports: the pattern still finds them
    needs = {"manygil.django": "django", "manygil.dask": "distributed", "manygil.joblib": "joblib"}
    lines = []
    for _, module, name in found:
        extra = needs.get(module)
        if extra is not None and importlib.util.find_spec(extra) is None:
            continue
        lines.append(f"from {module} import {name}" if name else f"import {module}")
    code = "\n".join(sorted(set(lines))) + "\nprint('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr


def test_python_m_manygil_commands_and_the_bench_module_run():
    for args in (["-m", "manygil", "--version"], ["-m", "manygil.bench", "--help"]):
        r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (args, r.stderr)
    from manygil.__main__ import COMMANDS, command_main

    for name in COMMANDS:
        assert callable(command_main(name)), name


# --- what the Rust glue calls by name -------------------------------------------------------


def _rust_names() -> list[tuple[str, str]]:
    text = open(PY_NAMES, encoding="utf-8").read()
    return re.findall(r'name\(c"(manygil[\w.]*)", c"(\w+)"\)', text)


def test_every_python_function_the_glue_calls_resolves():
    names = _rust_names()
    assert len(names) >= 10, names
    code = (
        "import importlib, sys\n"
        f"for module, attr in {names!r}:\n"
        "    assert callable(getattr(importlib.import_module(module), attr)), (module, attr)\n"
        "print('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr


def test_the_glue_names_manygil_modules_in_one_file_only():
    """Other files name the native module itself and type names (``manygil.Lock``), never
    a Python module of the package to import."""
    offenders = []
    for dirpath, _, files in os.walk(GLUE):
        for f in files:
            path = os.path.join(dirpath, f)
            if not f.endswith(".rs") or path == PY_NAMES:
                continue
            for lineno, line in enumerate(open(path, encoding="utf-8"), 1):
                for m in re.finditer(r'c"(manygil\.[\w.]*)"', line):
                    name = m.group(1)
                    if name == "manygil._native" or name.startswith("manygil._native."):
                        continue
                    if name.split(".")[1][:1].isupper():  # a type's name, e.g. manygil.Lock
                        continue
                    offenders.append(f"{os.path.relpath(path, GLUE)}:{lineno}: {name}")
    assert offenders == []


# --- layers -------------------------------------------------------------------------------

# Each module's layer; a module imports only from its own layer or below. Sub-packages are
# grouped by who calls them (README, "Layout").
LAYERS = [
    # the native module and the homes of the public names everything uses
    {"manygil._native", "manygil._errors", "manygil._queue", "manygil._config"},
    # what the Rust glue calls by name, and what runs in every worker
    {"manygil._wire"},
    {"manygil.interpreters"},
    # what pools and servers share (logs, snapshots, profiles); what Pool calls
    {"manygil._observe", "manygil._pool"},
    {"manygil.pool", "manygil.cache"},
    # what serve.py calls
    {"manygil._serve"},
    {"manygil.serve"},
    # integrations, commands
    {
        "manygil.dask",
        "manygil.joblib",
        "manygil.django",
        "manygil.flask_caching",
        "manygil.check",
        "manygil._cli",
        "manygil.bench",
        "manygil.__main__",
    },
]


def _layer(module: str) -> int:
    if module == "manygil":  # the package's face: its lazy names stand for every layer
        return len(LAYERS)
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        prefix = ".".join(parts[:n])
        for i, group in enumerate(LAYERS):
            if prefix in group:
                return i
    raise AssertionError(f"{module} is in no layer of LAYERS")


def _package_modules():
    for dirpath, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
                is_package = rel.endswith(".__init__")
                yield path, rel.removesuffix(".__init__"), is_package


def _imports(path: str, module: str, is_package: bool):
    """``(line, imported module or attribute path)`` of each import of manygil in a file,
    at any depth (functions' imports too)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "manygil":
                    yield node.lineno, a.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "manygil":
                for a in node.names:
                    yield node.lineno, target, a.name


def test_no_module_imports_from_a_layer_above_it():
    upward = []
    for path, module, is_package in _package_modules():
        mine = _layer(module)
        for lineno, target, name in _imports(path, module, is_package):
            full = target
            if name and target == "manygil" and _is_module(f"manygil.{name}"):
                full = f"manygil.{name}"
            if full != "manygil" and _layer(full) > mine:
                upward.append(f"{module}:{lineno} imports {full}")
    assert upward == []


def test_no_module_below_the_top_imports_the_top_package():
    """``import manygil`` or ``from manygil import X`` inside the package (the top package's
    lazy names pull in whatever they stand for) appears only in ``__main__``."""
    found = []
    for path, module, is_package in _package_modules():
        if module in ("manygil", "manygil.__main__"):
            continue
        for lineno, target, name in _imports(path, module, is_package):
            if target == "manygil" and (name is None or not _is_module(f"manygil.{name}")):
                found.append(f"{module}:{lineno}: {target} {name or ''}")
    assert found == []


def _is_module(dotted: str) -> bool:
    return importlib.util.find_spec(dotted) is not None


def test_each_sub_package_init_imports_nothing():
    """A worker importing ``manygil._wire.unpickle`` imports ``manygil._wire`` first: the
    sub-packages' ``__init__`` files are docstrings only."""
    for sub in ("_wire", "_pool", "_observe", "_serve", "_cli"):
        tree = ast.parse(open(os.path.join(PACKAGE, sub, "__init__.py"), encoding="utf-8").read())
        assert [type(n).__name__ for n in tree.body] == ["Expr"], sub
