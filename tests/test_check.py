"""``python -m manygil check``: which modules import in own-GIL interpreters."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from manygil import check


def run_check(*args, timeout=120, path=None):
    """``python -m manygil check *args``; ``path``: a folder put first on its import path."""
    env = None
    if path is not None:
        env = {"PYTHONPATH": str(path) + ":" + ":".join(p for p in sys.path if p)}
    return subprocess.run(
        [sys.executable, "-m", "manygil", "check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=path,
    )


def test_json_reports_ok_refused_and_error_with_exit_status_1():
    r = run_check("json", "readline", "no_such_module_xyz", "--json")
    assert r.returncode == 1, r.stderr
    got = {row["module"]: row for row in json.loads(r.stdout)}
    assert got["json"] == {
        "module": "json",
        "status": "ok",
        "extension": None,
        "error": None,
        "refused": [],
        "loaded": [],
        "lost": None,
        "warnings": [],
    }
    assert got["readline"]["status"] == "refused"
    assert got["readline"]["extension"] == "readline"
    assert "does not support loading in subinterpreters" in got["readline"]["error"]
    assert got["no_such_module_xyz"]["status"] == "error"
    assert got["no_such_module_xyz"]["error"].startswith("ModuleNotFoundError")
    assert list(got) == ["json", "readline", "no_such_module_xyz"], "in the order given"


def test_all_ok_exits_0_with_a_table():
    r = run_check("json", "email", "decimal")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["MODULE", "STATUS", "DETAIL"]
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["json", "ok"],
        ["email", "ok"],
        ["decimal", "ok"],
    ]
    assert "3 modules: 3 ok, 0 degraded, 0 refused, 0 error" in r.stdout
    assert r.stderr == "", "no progress bar when stderr is not a terminal and few modules"


def test_table_names_the_refusing_extension_and_the_way_out():
    r = run_check("readline")
    assert r.returncode == 1
    assert "readline  refused  extension readline does not support" in r.stdout
    assert 'Pool(fallback="process")' in r.stdout


def test_numpy_is_refused_by_its_core_extension():
    pytest.importorskip("numpy", reason="numpy wheels are not installed for this build")
    (result,) = check.check_modules(["numpy"])
    assert result.status == "refused"
    assert result.extension == "numpy._core._multiarray_umath"
    assert result.error == (
        "ImportError: module numpy._core._multiarray_umath does not support loading in "
        "subinterpreters"
    ), "CPython's own line, not numpy's long wrapper text"
    # numpy's other extension modules cannot be tried alone (importing one imports numpy
    # first): they are not listed as refused in their own right.
    assert result.refused == ("numpy._core._multiarray_umath",)


def test_pillow_is_degraded_and_pil_image_refused_by_imaging():
    # The top level imports, but the part people import does not: `check PIL` must not
    # say ok (issue 24, item 2).
    pytest.importorskip("PIL", reason="Pillow wheels are not installed for this build")
    pil, image = check.check_modules(["PIL", "PIL.Image"])
    assert (pil.status, image.status, image.extension) == ("degraded", "refused", "PIL._imaging")
    assert "PIL._imaging" in pil.refused


def test_pyyaml_is_degraded_naming_its_extension_and_what_is_lost():
    pytest.importorskip("yaml", reason="pyyaml is not installed for this build")
    (r,) = check.check_modules(["yaml"])
    assert (r.status, r.extension) == ("degraded", "yaml._yaml")
    assert "CSafeLoader" in r.lost


def test_psycopg_is_degraded_to_pure_python():
    pytest.importorskip("psycopg", reason="psycopg is not installed for this build")
    if importlib.util.find_spec("psycopg_binary") is None:
        pytest.skip("psycopg's binary part is not installed")
    (r,) = check.check_modules(["psycopg"])
    assert r.status == "degraded"
    assert any(name.startswith("psycopg_binary.") for name in r.refused), r
    assert "pure-Python" in r.lost


def test_psycopg_binary_is_checked_after_psycopg_not_reported_as_an_error():
    # psycopg_binary raises "the psycopg package should be imported before psycopg_binary"
    # when imported first: `check --installed` must not make that an error row (issue 24,
    # item 3).
    pytest.importorskip("psycopg", reason="psycopg is not installed for this build")
    if importlib.util.find_spec("psycopg_binary") is None:
        pytest.skip("psycopg's binary part is not installed")
    assert "psycopg_binary" in check.installed_modules()
    (r,) = check.check_modules(["psycopg_binary"])
    assert r.status == "degraded", r
    assert any(name.startswith("psycopg_binary.") for name in r.refused), r


def test_lxml_names_the_refused_etree_in_full_and_exits_1():
    pytest.importorskip("lxml", reason="lxml is not installed for this build")
    r = run_check("lxml", "--json")
    assert r.returncode == 1
    (row,) = json.loads(r.stdout)
    assert row["status"] == "degraded"
    assert "lxml.etree" in row["refused"], "full dotted names, not 'etree'"


def test_each_module_gets_a_fresh_interpreter(tmp_path, monkeypatch):
    # Each module records, at import, the interpreter importing it; with one worker the
    # two imports still happen in two different interpreters.
    for name in ("records_a", "records_b"):
        (tmp_path / f"{name}.py").write_text(
            "import manygil\n"
            f"open({str(tmp_path / 'ids')!r}, 'a').write(f'{{manygil.get_current().id}}\\n')\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    results = check.check_modules(["records_a", "records_b", "records_a"], workers=1)
    assert [r.status for r in results] == ["ok", "ok"], "duplicates are checked once"
    ids = (tmp_path / "ids").read_text().split()
    assert len(ids) == 2 and ids[0] != ids[1] and "0" not in ids


def test_a_hanging_import_is_reported_as_an_error(tmp_path, monkeypatch):
    (tmp_path / "hangs_on_import.py").write_text("while True:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (result,) = check.check_modules(["hangs_on_import"], timeout=0.5)
    assert result.status == "error"
    assert result.error.startswith("TimeoutError")


# --- issue 23, item 10: imports that hang, crash, exit or leave a thread ---------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import os\nos._exit(3)\n", "ended the checking process with exit status 3"),
        ("import ctypes\nctypes.string_at(0)\n", "killed the checking process with SIGSEGV"),
        (
            "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,)).start()\n",
            "its interpreter did not end",
        ),
        ("import time\nwhile True:\n    time.sleep(0.01)\n", "TimeoutError"),
    ],
    ids=["os._exit", "segfault", "thread", "stuck"],
)
def test_an_import_that_kills_exits_or_hangs_is_an_error_and_the_rest_is_checked(
    tmp_path, monkeypatch, source, expected
):
    (tmp_path / "hostile_import.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(check, "CLOSE_TIMEOUT", 2.0)
    results = check.check_modules(["json", "hostile_import", "email"], workers=1, timeout=5)
    assert [r.status for r in results] == ["ok", "error", "ok"], results
    assert expected in results[1].error, results[1]


def test_the_command_exits_1_with_a_table_when_an_import_exits_the_process(tmp_path):
    (tmp_path / "exits_on_import.py").write_text("import os\nos._exit(3)\n")
    r = run_check("exits_on_import", "json", path=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "exits_on_import  error" in r.stdout
    assert "2 modules: 1 ok, 0 degraded, 0 refused, 1 error" in r.stdout


# --- whole environments ------------------------------------------------------------------------


def test_a_requirements_file_names_the_distributions_to_check(tmp_path):
    (tmp_path / "more.txt").write_text("pytest>=7  # tests\n")
    (tmp_path / "requirements.txt").write_text(
        "# comment\n-r more.txt\n--index-url https://example.invalid/simple\n"
        "cloudpickle==3.1.2 ; python_version >= '3.8'\nno-such-distribution-xyz==1.0\n"
    )
    modules, missing = check.requirement_modules(str(tmp_path / "requirements.txt"))
    assert "pytest" in modules and "cloudpickle" in modules
    assert missing == ["no-such-distribution-xyz"]
    r = run_check("-r", str(tmp_path / "requirements.txt"), "--json")
    assert r.returncode == 1, "a distribution is not installed"
    rows = json.loads(r.stdout)
    assert {row["module"] for row in rows if row["module"]} >= {"pytest", "cloudpickle"}
    assert {
        "module": None,
        "distribution": "no-such-distribution-xyz",
        "status": "not installed",
    } in rows


def test_import_output_does_not_garble_the_report(tmp_path):
    (tmp_path / "noisy_module.py").write_text("print('HELLO FROM IMPORT')\n")
    r = run_check("noisy_module", "--json", path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["status"] == "ok"


def test_default_modules_are_the_installed_distributions_top_levels():
    names = check.installed_modules()
    assert "pytest" in names and "manygil" in names
    assert names == sorted(names)
    assert all(p.isidentifier() and not p.startswith("_") for n in names for p in n.split("."))


def test_progress_bar_on_request():
    r = run_check("json", "email", "--progress")
    assert r.returncode == 0
    assert "2/2" in r.stderr or "100%" in r.stderr


@pytest.mark.parametrize(
    "args", [["--jobs", "0", "json"], ["--timeout", "0", "json"], [".relative"]]
)
def test_bad_arguments_exit_2_with_a_message(args):
    r = run_check(*args)
    assert r.returncode == 2
    assert "python -m manygil check" in r.stderr


def test_listed_in_the_top_level_usage():
    r = subprocess.run(
        [sys.executable, "-m", "manygil", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "check" in r.stdout


# --- what a distribution provides --------------------------------------------------------------


def make_distribution(site, name, files):
    """A real installed distribution in ``site``: its files and a dist-info with RECORD."""
    import importlib.metadata

    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for f in files:
        (site / f).parent.mkdir(parents=True, exist_ok=True)
        (site / f).write_text("")
    record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD", "../../bin/tool"]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in record))
    return importlib.metadata.PathDistribution(info)


def test_distribution_modules_lists_public_names_and_namespace_parts(tmp_path):
    import importlib.machinery

    ext = importlib.machinery.EXTENSION_SUFFIXES[0]
    dist = make_distribution(
        tmp_path,
        "cloudy",
        [
            "cloudy/__init__.py",
            f"cloudy/_speedups{ext}",
            "cloudy_cli.py",
            f"_cloudy_backend{ext}",  # a private top-level extension, as cffi has
            "ns/cloud/__init__.py",  # a namespace package it shares: ns has no __init__
            "ns/storage.py",
            f"ns/_upb/_message{ext}",
            "_cloudy_helpers/__init__.py",
            "cloudy.libs/libfoo.so",
        ],
    )
    assert check.distribution_modules(dist) == ["cloudy", "cloudy_cli", "ns.cloud", "ns.storage"]
    assert check.distribution_extensions(dist) == [
        "_cloudy_backend",
        "cloudy._speedups",
        "ns._upb._message",
    ]


def test_installed_modules_name_the_parts_of_a_namespace_package():
    pytest.importorskip("matplotlib", reason="matplotlib is installed on 3.14 only")
    names = check.installed_modules()
    assert "mpl_toolkits.mplot3d" in names and "mpl_toolkits" not in names
    assert "yaml" in names and "_yaml" not in names


def test_a_package_is_checked_with_the_private_extensions_of_its_distribution():
    # mypy's wheels are compiled by mypyc: beside the package sits one shared library,
    # "<hash>__mypyc", a top-level private extension module (as cffi's _cffi_backend is),
    # whose name starts with a digit.
    import importlib.metadata

    dist = importlib.metadata.distribution("mypy")
    private = [n for n in check.distribution_extensions(dist) if n.endswith("__mypyc")]
    if not private:
        pytest.skip("mypy is installed without mypyc's compiled modules for this Python")
    assert private[0] in check.extension_modules("mypy")
    (r,) = check.check_modules(["mypy"])
    assert (r.status, r.extension) == ("refused", "mypy")
    assert r.refused == ("mypy", private[0]), "full names; mypy.* that need mypy not listed"


def test_an_extension_tried_alone_is_named_in_full_when_cpython_names_less():
    # psutil's extension refuses with "module _psutil_linux does not support loading in
    # subinterpreters": the probe still reports psutil._psutil_linux.
    pytest.importorskip("psutil", reason="psutil is not installed for this build")
    import manygil

    it = manygil.create()
    try:
        outcome = it.call(check._probe_extension, "psutil._psutil_linux")
    finally:
        it.close()
    assert outcome == ("refused", "psutil._psutil_linux")
