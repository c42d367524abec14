"""``python -m manygil check``: which modules import in own-GIL interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from manygil import check


def run_check(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "manygil", "check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_json_reports_ok_refused_and_error_with_exit_status_1():
    r = run_check("json", "readline", "no_such_module_xyz", "--json")
    assert r.returncode == 1, r.stderr
    got = {row["module"]: row for row in json.loads(r.stdout)}
    assert got["json"] == {"module": "json", "status": "ok", "extension": None, "error": None}
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
    assert "3 modules: 3 ok, 0 refused, 0 error" in r.stdout
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


def test_pillow_image_is_refused_by_imaging():
    pytest.importorskip("PIL", reason="Pillow wheels are not installed for this build")
    results = check.check_modules(["PIL", "PIL.Image"])
    assert [(r.module, r.status, r.extension) for r in results] == [
        ("PIL", "ok", None),
        ("PIL.Image", "refused", "PIL._imaging"),
    ]


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


def test_import_output_does_not_garble_the_report(tmp_path):
    (tmp_path / "noisy_module.py").write_text("print('HELLO FROM IMPORT')\n")
    r = subprocess.run(
        [sys.executable, "-m", "manygil", "check", "noisy_module", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path) + ":" + ":".join(p for p in sys.path if p)},
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["status"] == "ok"


def test_default_modules_are_the_installed_distributions_top_levels():
    names = check.installed_modules()
    assert "pytest" in names and "manygil" in names
    assert names == sorted(names)
    assert all(n.isidentifier() and not n.startswith("__") for n in names)


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
