"""toolchain/compat_table.py, which renders docs/compatibility.md (`make compat`) from
`python -m manygil check --json` on the import names of the most-downloaded packages.

tests/data/compat/ holds a real sample: packages.txt (in toolchain/top-packages.txt's
form), installs.tsv (what toolchain/compat.sh's install loop wrote for it in the 3.14
test venv, with `pip install --no-index`, so grpcio failed) and collected.json, written by
`toolchain/compat_table.py collect --packages ... --installs ... --out ...` run by that
venv's Python (its "results" are check's own JSON rows). Regenerate them the same way
after changing what check reports.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "compat"


@pytest.fixture(scope="module")
def compat():
    spec = importlib.util.spec_from_file_location(
        "compat_table", ROOT / "toolchain" / "compat_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc():
    return json.loads((DATA / "collected.json").read_text())


def table_rows(text: str) -> dict[str, list[str]]:
    """The Markdown table's rows by package: the cells after the package name."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith(("| package", "|---")):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


def test_the_sample_is_check_json_output(doc):
    # The fixture's rows have exactly the fields `check --json` prints.
    keys = {"module", "status", "extension", "error", "refused", "loaded", "lost", "warnings"}
    assert doc["results"] and all(set(r) == keys for r in doc["results"])
    assert {p["name"] for p in doc["packages"]} >= {"pyyaml", "numpy", "flask", "grpcio"}


def test_rows_say_status_what_is_refused_and_the_way_out(compat, doc):
    rows = table_rows(compat.render(doc))
    # package: rank, version, import names, status, refused or lost, way out
    assert rows["flask"][3] == "ok" and rows["flask"][4] == rows["flask"][5] == ""
    assert rows["numpy"][2:4] == ["`numpy`", "refused"]
    assert rows["numpy"][4] == "`numpy._core._multiarray_umath` refused"
    yaml = rows["pyyaml"]
    assert (yaml[2], yaml[3]) == ("`yaml`", "degraded"), "not `_yaml`: a helper"
    assert "`yaml._yaml`" in yaml[4] and "CSafeLoader" in yaml[4]
    assert "safe_load" in yaml[5], "the pure-Python way out"
    assert rows["lxml"][3] == "degraded" and "`lxml.etree`" in rows["lxml"][4]
    assert rows["psycopg"][3] == "degraded" and "PSYCOPG_IMPL=python" in rows["psycopg"][5]
    grpc = rows["grpcio"]
    assert grpc[3] == "not installable" and "Could not find a version" in grpc[4]
    # A namespace package's parts, not the namespace (mpl_toolkits is shared).
    assert "`mpl_toolkits.mplot3d`" in rows["matplotlib"][2]
    assert rows["matplotlib"][3] == "refused"


def test_counts_python_version_date_and_how_to_regenerate_come_first(compat, doc):
    text = compat.render(doc)
    rows = table_rows(text)
    head = text.split("| package")[0]
    counted = {s: sum(r[3] == s for r in rows.values()) for s in compat.STATUSES}
    summary = ", ".join(f"{counted[s]} {s}" for s in compat.STATUSES)
    assert f"**Of {len(rows)} packages: {summary}.**" in head
    assert counted["ok"] >= 1 and counted["refused"] >= 1 and counted["degraded"] >= 1
    assert f"CPython {doc['python']}" in head and doc["date"] in head
    assert "make compat" in head
    assert list(rows) == sorted(rows, key=compat.canonical), "sorted by package name"


def test_rendering_is_deterministic_whatever_the_order_collected(compat, doc):
    shuffled = dict(doc, packages=doc["packages"][::-1], results=doc["results"][::-1])
    assert compat.render(shuffled) == compat.render(doc)


def test_a_package_with_several_import_names(compat):
    pkg = {"name": "parts", "rank": 1, "pin": "parts==1", "install": "ok", "version": "1"}
    pkg["modules"] = ["parts.a", "parts.b", "parts.c"]

    def result(module, status, **extra):
        base = {"module": module, "status": status, "extension": None, "error": None}
        return {**base, "refused": [], "loaded": [], "lost": None, "warnings": [], **extra}

    refused = result("parts.c", "refused", extension="grpc._cython.cygrpc")
    ok = {m: result(m, "ok") for m in pkg["modules"][:2]}
    row = compat.package_row(pkg, {**ok, "parts.c": refused})
    assert row["status"] == "degraded", "some import and one does not"
    assert row["detail"] == "`parts.c`: `grpc._cython.cygrpc` refused"
    row = compat.package_row(pkg, {m: {**refused, "module": m} for m in pkg["modules"]})
    assert (row["status"], row["detail"]) == ("refused", "`grpc._cython.cygrpc` refused")
    row = compat.package_row(pkg, ok)
    assert row["detail"] == "`parts.c`: not checked", "a name check did not report on"


def test_compact_names_many_siblings_by_their_parent(compat):
    names = [f"google.type.m{i}_pb2" for i in range(5)] + ["google.rpc.code_pb2"]
    assert compat.compact(names) == "`google.rpc.code_pb2`, `google.type.*` (5)"


def test_the_command_renders_a_file(tmp_path):
    out = tmp_path / "compatibility.md"
    r = subprocess.run(
        [sys.executable, ROOT / "toolchain" / "compat_table.py", "render"]
        + [DATA / "collected.json", "--out", out],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("# Compatibility of the 8 most-downloaded")


def test_committed_table_matches_its_renderer():
    # docs/compatibility.md is the renderer's output: its counts agree with its rows.
    text = (ROOT / "docs" / "compatibility.md").read_text()
    rows = table_rows(text)
    assert len(rows) == 100
    for status in ("ok", "degraded", "refused"):
        n = sum(r[3] == status for r in rows.values())
        assert f"{n} {status}" in text.split("| package")[0]
