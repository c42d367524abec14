"""Tests of ``python -m manygil bench`` (manygil.bench). No timing is asserted anywhere."""

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

from manygil.bench import backends, cases, cli, report, runner, scenarios, table  # noqa: E402
from manygil.bench.server import THREAD_PREFIX, LoopbackServer  # noqa: E402
from waiting import wait_for_state  # noqa: E402

# The bench tool is tested on one Python (make test runs it on 3.14, which has every
# backend); the runtime it drives is tested on all three by the other files.
pytestmark = pytest.mark.bench

SCENARIOS = ["web", "image", "download", "micro"]
DIRECT = ["web", "image", "download", "micro.cpu"]
OK_STATUSES = {"ok", "skipped", "unavailable"}


def _env():
    paths = [str(PYTHON_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def _bench_threads():
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def _port_closed(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


# --- the whole command ---------------------------------------------------------------------


@pytest.mark.timeout(360)  # the whole bench run; its subprocess has its own 300 s limit
def test_quick_json_matches_schema(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "manygil.bench", "--quick", "--json", str(out), "--no-progress"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "best for web" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == report.SCHEMA_VERSION
    for key in ("tool", "created", "seconds", "ok", "failures", "config", "machine", "server"):
        assert key in doc
    assert doc["ok"] is True and doc["failures"] == []
    assert doc["config"]["mode"] == "quick" and doc["config"]["repeat"] == 2
    assert doc["config"]["scenarios"] == SCENARIOS
    assert doc["config"]["backends"] == list(backends.NAMES)
    assert isinstance(doc["config"]["workers"], int) and doc["config"]["workers"] >= 1
    machine = doc["machine"]
    assert isinstance(machine["cpu_count"], int)
    assert machine["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert machine["implementation"] == sys.implementation.name
    assert isinstance(machine["build_flags"]["Py_GIL_DISABLED"], bool)
    assert isinstance(machine["platform"], str)
    assert isinstance(doc["server"]["port"], int)

    assert set(doc["backends"]) == set(backends.NAMES)
    for name, info in doc["backends"].items():
        assert isinstance(info["available"], bool)
        assert info["available"] == (info["reason"] is None), name
    assert set(doc["scenarios"]) == set(SCENARIOS)
    expected_metrics = {"pool.startup", "pool.rss", "pool.pss"}
    for sc in doc["scenarios"].values():
        assert isinstance(sc["params"], dict)
        expected_metrics.update(sc["metrics"])
    assert set(doc["metrics"]) == expected_metrics

    for mid, metric in doc["metrics"].items():
        assert metric["better"] in ("lower", "higher")
        assert isinstance(metric["unit"], str)
        assert set(metric["backends"]) == set(backends.NAMES)
        for name, cell in metric["backends"].items():
            where = f"{mid} on {name}: {cell}"
            assert cell["status"] in OK_STATUSES, where
            if not doc["backends"][name]["available"]:
                assert cell["status"] == "unavailable", where
            if cell["status"] != "ok":
                assert isinstance(cell["reason"], str), where
                continue
            assert cell["result"] == metric["expected"], where
            assert len(cell["repeats"]) == 2, where
            assert cell["min"] <= cell["median"] <= cell["max"], where
            assert cell["best"] in (cell["min"], cell["max"]), where
    for name in ("serial", "threads", "processes"):
        assert doc["metrics"]["web"]["backends"][name]["status"] == "ok"
    assert doc["summary"]["speedup_vs_serial"]["serial"] == pytest.approx(1.0)
    assert set(doc["summary"]["best_for"]) == {"web", "image", "download"}
    assert _port_closed(doc["server"]["port"])


def test_python_m_manygil_bench_help():
    proc = subprocess.run(
        [sys.executable, "-m", "manygil", "bench", "--help"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--scenario" in proc.stdout


# --- scenario results ----------------------------------------------------------------------


@pytest.mark.parametrize("name", DIRECT)
def test_scenario_direct_serial_matches_expected(name):
    assert cases.reference(name, "quick") == cases.EXPECTED[name, "quick"]


@pytest.mark.skipif(not os.environ.get("MANYGIL_BENCH_SLOW"), reason="set MANYGIL_BENCH_SLOW=1")
@pytest.mark.parametrize("name", DIRECT)
def test_scenario_direct_serial_matches_expected_full(name):
    assert cases.reference(name, "full") == cases.EXPECTED[name, "full"]


@pytest.mark.parametrize("backend_name", ["processes", "interpreters"])
def test_scenarios_through_a_parallel_backend(backend_name):
    backend = backends.make(backend_name)
    if backend.unavailable():
        pytest.skip(backend.unavailable())
    built = cases.build("quick")
    p = built["download"].params
    with LoopbackServer(p["latency_ms"], p["body_bytes"]) as server:
        executor = backend.start(2)
        try:
            for sc in built.values():
                data = sc.prepare(sc.params, server)
                for metric in sc.metrics:
                    if metric.needs_shared_memory and not backend.shares_memory:
                        continue
                    if metric.needs_script_functions and backend.refuses_script_functions:
                        continue
                    value, result = metric.run(executor, backend, data)
                    assert json.loads(json.dumps(result)) == metric.expected, metric.id
                    assert value > 0
        finally:
            runner.shutdown(executor)


@pytest.mark.parametrize("backend_name", ["processes", "interpreters"])
def test_backends_said_to_refuse_a_function_of_main_do(backend_name):
    # micro.roundtrip_script skips them for that reason: the reason must be true.
    backend = backends.make(backend_name)
    if backend.unavailable():
        pytest.skip(backend.unavailable())
    assert backend.refuses_script_functions
    executor = backend.start(1)
    try:
        with pytest.raises(Exception):  # noqa: B017 - each refuses in its own way
            executor.submit(scenarios.script_noop()).result(timeout=120)
    finally:
        runner.shutdown(executor)


# --- the loopback server -------------------------------------------------------------------


def test_server_serves_and_stops():
    with LoopbackServer(latency_ms=1, body_bytes=1000) as server:
        port = server.port
        digest = scenarios.fetch(server.url(7))
        assert _bench_threads()
    assert digest == __import__("hashlib").sha256(scenarios.body_for(7, 1000)).hexdigest()
    assert not _bench_threads()
    assert _port_closed(port)


def test_server_stops_on_keyboard_interrupt_with_request_in_flight():
    outcome = []

    def client(url):
        try:
            outcome.append(scenarios.fetch(url, timeout=10))
        except OSError as exc:  # the server may cut the request short: also fine
            outcome.append(exc)

    with pytest.raises(KeyboardInterrupt):
        with LoopbackServer(latency_ms=300, body_bytes=100) as server:
            port = server.port
            t = threading.Thread(target=client, args=(server.url(1),))
            t.start()
            wait_for_state(lambda: len(_bench_threads()) >= 2, "a handler thread holds the request")
            raise KeyboardInterrupt
    t.join(10)
    assert not t.is_alive() and len(outcome) == 1
    assert not _bench_threads()
    assert _port_closed(port)


def test_run_leaves_no_thread_and_closes_port(tmp_path, capsys):
    before = set(threading.enumerate())
    out = tmp_path / "d.json"
    argv = ["--quick", "--scenario", "download", "--backend", "serial", "threads"]
    assert cli.main(argv + ["--repeat", "1", "--json", str(out), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert doc["metrics"]["download"]["backends"]["threads"]["status"] == "ok"
    assert set(threading.enumerate()) <= before
    assert _port_closed(doc["server"]["port"])


# --- command line errors, failures and optional plotting ------------------------------------


@pytest.mark.parametrize(
    "argv, valid", [(["--scenario", "nope"], SCENARIOS), (["--backend", "gpu"], backends.NAMES)]
)
def test_unknown_name_exits_2_listing_valid_names(argv, valid, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err
    for name in valid:
        assert name in err


def test_plot_without_matplotlib_prints_hint_and_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    png = tmp_path / "p.png"
    argv = ["--quick", "--scenario", "web", "--backend", "serial", "--repeat", "1"]
    assert cli.main(argv + ["--plot", str(png), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "pip install matplotlib" in captured.err
    assert "web" in captured.out
    assert not png.exists()


def test_plot_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    argv = ["--quick", "--scenario", "web", "--backend", "serial", "threads", "--repeat", "1"]
    assert cli.main(argv + ["--plot", str(png), "--no-progress"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_wrong_result_fails_naming_backend_and_scenario(monkeypatch, capsys):
    monkeypatch.setattr(backends.Threads, "share", lambda self, data: bytes(reversed(data)))
    argv = ["--quick", "--scenario", "image", "--backend", "serial", "threads", "--repeat", "1"]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert "wrong result: backend 'threads', scenario 'image'" in captured.err
    assert "FAILED" in captured.out


def test_backend_error_shows_in_cell_and_run_continues(monkeypatch, capsys, tmp_path):
    def broken(self, workers):
        raise RuntimeError("no threads today")

    monkeypatch.setattr(backends.Threads, "start", broken)
    out = tmp_path / "e.json"
    argv = ["--quick", "--scenario", "web", "--backend", "serial", "threads", "--repeat", "1"]
    assert cli.main(argv + ["--json", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "error [1]" in text and "no threads today" in text
    cells = json.loads(out.read_text())["metrics"]["web"]["backends"]
    assert cells["threads"]["status"] == "error"
    assert cells["serial"]["status"] == "ok"


def test_manygil_backend_reports_why_it_is_unavailable():
    backend = backends.make("manygil")
    reason = backend.unavailable()
    assert reason is None or reason.startswith("not available")


def test_formatting():
    assert table.fmt(0.000012, "s") == "12.0 µs"
    assert table.fmt(1500000.0, "tasks/s") == "1.50M/s"
    assert table.fmt(0.01, "MiB") == "~0 MiB"
    assert table.ratio_text(1.0, 2.0, "lower") == "2.00× better"
    assert table.ratio_text(4.0, 2.0, "lower") == "2.00× worse"
    assert table.ratio_text(2.0, 2.0, "higher") == "≈ same"
