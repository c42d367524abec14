"""manygil.InterpreterConfig (issue 26): the object, where it is accepted, each field's
effect inside a real interpreter, and shared-GIL ("legacy") pools that neither deadlock nor
lose Ctrl-C. Parallelism itself is measured, not asserted: bench/bench_configs.py."""

from __future__ import annotations

import copy
import pickle
import sys

import helpers
import manygil
import pytest
from conftest import run_file, sigint_when_ready, wait_for_state, write_script
from manygil import InterpreterConfig, Pool, _native

ISOLATED_VALUES = dict(
    gil="own",
    use_main_obmalloc=False,
    check_multi_interp_extensions=True,
    allow_fork=False,
    allow_exec=False,
    allow_threads=True,
    allow_daemon_threads=False,
)
LEGACY_VALUES = dict(
    ISOLATED_VALUES, gil="shared", use_main_obmalloc=True, check_multi_interp_extensions=False
)
FIELDS = tuple(ISOLATED_VALUES)


def fields_of(config):
    return {name: getattr(config, name) for name in FIELDS}


# --- the object ----------------------------------------------------------------------------


def test_the_presets_have_the_documented_fields():
    """ "isolated" is CPython's own default; "legacy" differs in GIL, allocator and check."""
    assert fields_of(InterpreterConfig.ISOLATED) == ISOLATED_VALUES
    assert fields_of(InterpreterConfig.LEGACY) == LEGACY_VALUES
    assert InterpreterConfig() == InterpreterConfig.ISOLATED
    assert InterpreterConfig.preset("legacy") == InterpreterConfig("legacy")
    assert InterpreterConfig.preset("legacy") == InterpreterConfig.LEGACY
    assert InterpreterConfig.LEGACY.name == "legacy"
    assert InterpreterConfig.ISOLATED.replace(allow_exec=True).name is None


def test_isolated_is_what_cpython_calls_isolated():
    import _interpreters  # CPython's private module behind concurrent.interpreters

    cpython = _interpreters.new_config("isolated")
    assert fields_of(cpython) == fields_of(InterpreterConfig.ISOLATED)
    legacy = fields_of(_interpreters.new_config("legacy"))
    # manygil's legacy keeps isolated's process rules (docs/configs.md says why).
    assert legacy == dict(
        LEGACY_VALUES, allow_fork=True, allow_exec=True, allow_daemon_threads=True
    )


def test_a_new_interpreter_is_isolated_unless_told(interp):
    """What create() made before configs existed: own GIL, extensions checked..."""
    assert interp.config == InterpreterConfig.ISOLATED
    with manygil.create(config="legacy") as legacy:
        assert legacy.config == InterpreterConfig.LEGACY
        assert manygil.Interpreter(legacy.id).config == InterpreterConfig.LEGACY
    assert manygil.get_main().config is None


def test_the_config_of_a_closed_interpreter_is_not_found():
    i = manygil.create()
    i.close()
    with pytest.raises(manygil.InterpreterNotFoundError):
        _ = i.config


def test_replace_derives_and_checks():
    c = InterpreterConfig.LEGACY.replace(allow_threads=False)
    assert c.allow_threads is False and c.gil == "shared"
    assert InterpreterConfig.LEGACY.allow_threads is True  # unchanged
    assert copy.replace(c, allow_threads=True) == InterpreterConfig.LEGACY
    assert InterpreterConfig("legacy", allow_exec=True).allow_exec is True
    with pytest.raises(ValueError, match="use_main_obmalloc"):
        InterpreterConfig.LEGACY.replace(gil="own")
    with pytest.raises(TypeError, match="no field 'gill'"):
        InterpreterConfig.LEGACY.replace(gill="own")


def test_frozen_hashable_picklable_and_repr_evaluates_back():
    configs = [
        InterpreterConfig.ISOLATED,
        InterpreterConfig.LEGACY,
        InterpreterConfig("legacy", allow_exec=True, allow_fork=True),
        InterpreterConfig(allow_threads=False),
        InterpreterConfig("legacy", use_main_obmalloc=False, check_multi_interp_extensions=True),
    ]
    assert repr(InterpreterConfig.LEGACY) == "InterpreterConfig('legacy')"
    assert repr(configs[2]) == "InterpreterConfig('legacy', allow_fork=True, allow_exec=True)"
    for c in configs:
        assert eval(repr(c), {"InterpreterConfig": InterpreterConfig}) == c
        assert pickle.loads(pickle.dumps(c)) == c
    assert len(set(configs)) == len(configs)
    assert {InterpreterConfig("legacy"), InterpreterConfig.LEGACY} == {InterpreterConfig.LEGACY}
    with pytest.raises(AttributeError, match="frozen"):
        InterpreterConfig.LEGACY.gil = "own"


def test_a_config_crosses_into_an_interpreter_equal(interp):
    assert interp.call(helpers.identity, InterpreterConfig.LEGACY) == InterpreterConfig.LEGACY


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        (dict(gil="own", use_main_obmalloc=True), ["gil='own'", "use_main_obmalloc"]),
        (dict(check_multi_interp_extensions=False), ["gil='own'", "check_multi_interp"]),
        (
            dict(gil="shared", check_multi_interp_extensions=False),
            ["check_multi_interp_extensions=False", "use_main_obmalloc=True"],
        ),
        (dict(gil="separate"), ["gil", "'own' or 'shared'"]),
    ],
)
def test_combinations_cpython_refuses_raise_value_error_naming_the_fields(fields, names):
    with pytest.raises(ValueError) as e:
        InterpreterConfig(**fields)
    for name in names:
        assert name in str(e.value)


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        (dict(gil=2), ["gil", "str", "int"]),
        (dict(gil=None), ["gil", "NoneType"]),
        (dict(allow_fork=1), ["allow_fork", "True or False", "int"]),
        (dict(use_main_obmalloc="yes"), ["use_main_obmalloc", "str"]),
    ],
)
def test_wrong_types_raise_type_error_naming_the_field(fields, names):
    with pytest.raises(TypeError) as e:
        InterpreterConfig(**fields)
    for name in names:
        assert name in str(e.value)


def test_unknown_presets_and_fields():
    with pytest.raises(ValueError, match=r"unknown interpreter config preset 'legcy'.*'legacy'"):
        InterpreterConfig("legcy")
    with pytest.raises(TypeError, match="preset is a str"):
        InterpreterConfig(3)
    with pytest.raises(TypeError, match="gill"):
        InterpreterConfig(gill="own")


def test_bad_configs_fail_before_anything_is_created():
    """Interpreter ids are never reused: had a failing call made (and ended) an
    interpreter, the next one would not get the next id."""
    before = manygil.create()
    try:
        for bad, exc in [("legcy", ValueError), (3, TypeError), (object(), TypeError)]:
            with pytest.raises(exc):
                manygil.create(config=bad)
            with pytest.raises(exc):
                Pool(1, config=bad)
        # The native side checks again, whatever the caller (own GIL with the main
        # allocator: a combination CPython itself does not refuse).
        bad_values = ("own", True, True, False, False, True, False)
        with pytest.raises(ValueError, match="use_main_obmalloc"):
            _native.create(list(sys.path), None, None, bad_values)
        with pytest.raises(ValueError, match="use_main_obmalloc"):
            _native.PoolCore(1, list(sys.path), None, (), None, None, bad_values)
        with pytest.raises(ValueError, match="check_multi_interp_extensions"):
            _native.create(
                list(sys.path), None, None, ("shared", False, False, False, False, True, False)
            )
        with pytest.raises(TypeError, match="tuple of 7"):
            _native.create(list(sys.path), None, None, ("own",))
        with pytest.raises(TypeError, match="allow_exec must be True or False"):
            _native.create(list(sys.path), None, None, ("own", False, True, False, 0, True, False))
        after = manygil.create()
        assert after.id == before.id + 1, "an interpreter was made for a bad config"
        after.close()
    finally:
        before.close()


def test_fallback_needs_a_config_that_checks_extensions():
    with pytest.raises(ValueError, match="check_multi_interp_extensions=False"):
        Pool(1, fallback="process", config="legacy")


# --- where a config is accepted ----------------------------------------------------------


def _my_config():
    import manygil

    return manygil.get_current().config


def test_every_pool_worker_has_the_pool_config_replacements_included():
    config = InterpreterConfig.LEGACY.replace(allow_exec=True)
    with Pool(2, config=config, max_tasks_per_worker=1) as p:
        assert p.config == config
        # Each task recycles its worker: every one of these ran in a replacement.
        seen = {p.submit(_my_config).result(60) for _ in range(4)}
        assert seen == {config}
        assert p.stats()["recycled"] >= 3
    with Pool(1, config="legacy", task_timeout=0.3) as p:
        assert p.config == InterpreterConfig.LEGACY
        # (The first task imports this module in the worker: not within 0.3 s on a busy
        # machine.)
        assert p.apply(_my_config, timeout=60).result(60) == InterpreterConfig.LEGACY
        # A stuck worker (a C call past the timeout) is replaced by a legacy worker too.
        f = p.submit(helpers.sleep_through_interrupts, 3)
        assert isinstance(f.exception(60), TimeoutError)
        wait_for_state(lambda: p.stats()["replaced"] == 1, "the stuck worker replaced")
        assert p.apply(_my_config, timeout=60).result(60) == InterpreterConfig.LEGACY


def test_a_default_pool_is_isolated():
    with Pool(1) as p:
        assert p.config == InterpreterConfig.ISOLATED
        assert p.submit(_my_config).result(60) == InterpreterConfig.ISOLATED


# --- each field's effect -----------------------------------------------------------------


def _start_thread(daemon):
    import threading

    box = []
    t = threading.Thread(target=box.append, args=("ran",), daemon=daemon)
    t.start()
    t.join()
    return box[0], t.daemon


def test_daemon_threads_follow_allow_daemon_threads():
    with manygil.create() as i:
        with pytest.raises(manygil.ExecutionFailed, match="daemon threads are disabled"):
            i.call(_start_thread, True)
        assert i.call(_start_thread, None) == ("ran", False)
    with manygil.create(config="legacy") as i:
        with pytest.raises(manygil.ExecutionFailed, match="daemon threads are disabled"):
            i.call(_start_thread, True)
    allowed = InterpreterConfig("legacy", allow_daemon_threads=True)
    with manygil.create(config=allowed) as i:
        assert i.call(_start_thread, True) == ("ran", True)
        # threading inherits daemon from the worker thread, a daemon where they are allowed
        assert i.call(_start_thread, None) == ("ran", True)


def test_an_interpreter_ends_safely_with_a_daemon_thread_running(tmp_path):
    """CPython 3.13 aborts ("not the last thread") if a daemon thread still runs when an
    interpreter ends: manygil waits for it there; 3.14+ parks it."""
    path = write_script(
        tmp_path,
        """
        import manygil

        def start(release):
            import threading
            threading.Thread(target=release.wait, args=(2,), daemon=True).start()

        release = manygil.Event()
        i = manygil.create(config=manygil.InterpreterConfig(allow_daemon_threads=True))
        i.call(start, release)
        print("started", flush=True)
        release.set()
        i.close()
        print("closed", flush=True)
        """,
    )
    r = run_file(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["started", "closed"]


def _fork():
    import os

    try:
        pid = os.fork()
    except RuntimeError as e:
        return str(e)
    if pid == 0:  # pragma: no cover - never reached: the fork is refused
        os._exit(0)
    return "forked"


def test_fork_is_refused_by_cpython_or_else_by_the_fork_guard():
    with manygil.create() as i:
        assert "fork not supported for isolated subinterpreters" in i.call(_fork)
    with manygil.create(config=InterpreterConfig(allow_fork=True)) as i:
        # CPython's check passes; manygil's guard refuses (a forked child crashes while
        # sub-interpreters exist, gh-139759).
        assert i.call(_fork).startswith("os.fork() refused:")


def _exec_then(what):
    import os
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, "-c", "print('a program')"], capture_output=True)
    if what == "exec":
        try:
            os.execv(sys.executable, [sys.executable, "-c", "print('replaced the process')"])
        except RuntimeError as e:
            return ran.stdout.decode().strip(), str(e)
    return ran.stdout.decode().strip(), None


def test_exec_is_refused_unless_allowed_and_programs_start_either_way(tmp_path):
    with manygil.create() as i:
        ran, refused = i.call(_exec_then, "exec")
        assert ran == "a program"  # fork+exec (subprocess) is always allowed
        assert "exec not supported for isolated subinterpreters" in refused
    path = write_script(
        tmp_path,
        """
        import manygil, sys
        sys.path.insert(0, sys.argv[1])
        from test_configs import _exec_then
        i = manygil.create(config=manygil.InterpreterConfig(allow_exec=True))
        print("before", flush=True)
        i.call(_exec_then, "exec")
        print("never printed: the process was replaced", flush=True)
        """,
    )
    r = run_file(path, str(__import__("pathlib").Path(__file__).parent))
    assert r.stdout.split("\n")[:2] == ["before", "replaced the process"], r.stdout + r.stderr


def test_threads_are_refused_when_not_allowed():
    with manygil.create(config=InterpreterConfig(allow_threads=False)) as i:
        with pytest.raises(manygil.ExecutionFailed, match="thread is not supported"):
            i.call(_start_thread, None)
    with manygil.create(config=InterpreterConfig("legacy", allow_threads=False)) as i:
        with pytest.raises(manygil.ExecutionFailed, match="thread is not supported"):
            i.call(_start_thread, None)


def test_single_phase_extensions_load_under_legacy_only():
    """readline has no sub-interpreter support: refused in own-GIL interpreters, loaded
    in every legacy one at once (numpy, _curses and Cython modules load in one only:
    see below and docs/configs.md)."""
    with manygil.create() as i:
        with pytest.raises(manygil.ExecutionFailed, match="readline"):
            i.call(helpers.import_module, "readline")
    with manygil.create(config="legacy") as a, manygil.create(config="legacy") as b:
        assert a.call(helpers.import_module, "readline") == "readline"
        assert b.call(helpers.import_module, "readline") == "readline"


def test_numpy_imports_under_legacy_in_the_first_interpreter_only(tmp_path):
    """numpy 2 runs its module init once per process: the first legacy interpreter gets
    it, later ones (and the main interpreter) get ImportError; isolated ones never do."""
    pytest.importorskip("numpy")
    path = write_script(
        tmp_path,
        """
        import warnings, manygil
        warnings.simplefilter("ignore")  # numpy's UserWarning about sub-interpreters

        def total(n):
            import warnings
            warnings.simplefilter("ignore")
            import numpy as np
            return float(np.arange(n, dtype=np.float64).sum())

        def attempt(interp):
            try:
                return interp.call(total, 10)
            except manygil.ExecutionFailed as e:
                return str(e).splitlines()[0][:90]

        with manygil.create() as isolated:
            print("isolated:", attempt(isolated))
        with manygil.create(config="legacy") as first:
            print("legacy 1:", attempt(first))
            with manygil.create(config="legacy") as second:
                print("legacy 2:", attempt(second))
        """,
    )
    r = run_file(path, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("isolated: ImportError") and "numpy" in lines[0], r.stdout
    assert lines[1] == "legacy 1: 45.0", r.stdout
    assert lines[2].startswith("legacy 2: ImportError"), r.stdout
    assert "more than once per process" in lines[2], r.stdout


def _hold_gil_reading(fd, started, done):
    """Read one byte from ``fd`` inside one C call that keeps this interpreter's GIL
    (libc ``read`` through ``ctypes.PyDLL``), then set ``done``."""
    import ctypes

    buf = ctypes.create_string_buffer(1)
    started.set()
    ctypes.PyDLL(None).read(fd, buf, 1)
    done.set()


def test_gil_own_runs_beside_an_interpreter_that_holds_its_gil_in_c():
    """The ``gil`` field, by order of events rather than timing: while one isolated
    interpreter holds its GIL inside a C call (which ends only when this test writes the
    byte it reads, after the other calls), another one still runs Python code. With a
    shared GIL nothing could (the main interpreter included): the test would hang."""
    import os

    r, w = os.pipe()
    try:
        a, b = manygil.create(), manygil.create()
        with a, b:
            started, done = manygil.Event(), manygil.Event()
            t = a.call_in_thread(_hold_gil_reading, r, started, done)
            assert started.wait(60)
            assert [b.call(helpers.add, n, 1) for n in range(50)] == list(range(1, 51))
            assert not done.is_set()  # a is still in read(), holding its GIL
            os.write(w, b"x")
            t.join(60)
            assert done.wait(60)
    finally:
        os.close(r)
        os.close(w)


# --- a shared GIL: waits release it, pools finish, Ctrl-C works --------------------------


def _wait_then(counter, event, value):
    counter.add(1)
    if not event.wait(60):
        raise TimeoutError("never set")
    return value


def test_legacy_workers_blocked_waiting_let_the_main_interpreter_run():
    """Both workers block (manygil.Event) until the main interpreter, which needs the
    shared GIL to run at all, sees them waiting and sets the event."""
    counter, event = manygil.AtomicInt(), manygil.Event()
    with Pool(2, config="legacy") as p:
        futures = [p.submit(_wait_then, counter, event, n) for n in range(2)]
        wait_for_state(lambda: counter.get() == 2, "both legacy workers waiting")
        assert not any(f.done() for f in futures)
        event.set()
        assert [f.result(60) for f in futures] == [0, 1]


def test_a_legacy_interpreter_calls_another_and_both_wait_detached():
    with manygil.create(config="legacy") as a, manygil.create(config="legacy") as b:
        assert a.call(helpers.call_into, b.id) == 2
        assert a.call(helpers.sleep_then, 0.01, "slept") == "slept"


def test_a_legacy_pool_completes_many_tasks_and_shuts_down_cleanly():
    p = Pool(2, config="legacy")
    futures = [p.submit(helpers.add, n, 1) for n in range(2000)]
    assert list(p.map(helpers.square, range(3000), chunksize=50)) == [n * n for n in range(3000)]
    assert [f.result(60) for f in futures] == [n + 1 for n in range(2000)]
    p.shutdown(wait=True)
    stats = p.stats()
    assert stats["failed"] == 0 and stats["running"] == 0 and stats["queued"] == 0
    assert stats["workers"] == 0


def test_a_legacy_task_past_its_timeout_is_interrupted_and_the_worker_reused():
    with Pool(1, config="legacy") as p:
        f = p.apply(helpers.spin_forever, timeout=0.2)
        assert isinstance(f.exception(60), TimeoutError)
        assert p.submit(helpers.add, 1, 2).result(60) == 3
        assert p.stats()["replaced"] == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_legacy_pool_and_exit_is_clean(tmp_path):
    path = write_script(
        tmp_path,
        """
        import time, manygil, helpers
        with manygil.Pool(2, config="legacy") as p:
            futures = [p.submit(helpers.spin_forever) for _ in range(2)]
            while p.stats()["running"] < 2:
                time.sleep(0.001)
            print("ready", flush=True)
            try:
                futures[0].result()
            except KeyboardInterrupt:
                print("interrupted", flush=True)
            for f in futures:
                f.cancel()
            print("still usable", p.submit(helpers.add, 1, 1).result(30), flush=True)
        print("exited the pool", flush=True)
        """,
    )
    rc, out, err, elapsed = sigint_when_ready(path, settle=0.2)
    assert rc == 0, err
    assert out.split("\n")[:3] == ["interrupted", "still usable 2", "exited the pool"], out + err
    assert elapsed < 20


# --- manygil serve --interpreter-config ------------------------------------------------------

NEEDS_READLINE_APP = """
import readline  # refused in own-GIL interpreters, as numpy is

import manygil


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(manygil.get_current().config).encode()]
"""


def test_serve_runs_legacy_workers_that_load_what_isolated_ones_refuse(served, tmp_path):
    import os
    import subprocess

    from serve_helpers import _env

    (tmp_path / "needs_readline.py").write_text(NEEDS_READLINE_APP)
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    refused = subprocess.run(
        [sys.executable, "-m", "manygil", "serve", "needs_readline:app"]
        + ["--bind", "127.0.0.1:0", "--workers", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "cannot import 'needs_readline' in an own-GIL interpreter" in refused.stderr
    # Supervised (the option reaches the server process) and with two workers.
    s = served(
        "--workers", "2", "--interpreter-config", "legacy", app="needs_readline:app",
        path=str(tmp_path),
    )  # fmt: skip
    bodies = {s.get("/")[1] for _ in range(4)}
    assert bodies == {b"InterpreterConfig('legacy')"}


def test_serve_refuses_a_bad_interpreter_config():
    from manygil.serve import StartupError, serve

    with pytest.raises(StartupError, match="unknown interpreter config preset 'fast'"):
        serve("serve_apps:app", interpreter_config="fast")
    with pytest.raises(StartupError, match="interpreter_config must be an InterpreterConfig"):
        serve("serve_apps:app", interpreter_config=2)


RELOADED_APP = """
import readline  # refused in own-GIL interpreters

import manygil

VERSION = {version!r}


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{{VERSION}} {{manygil.get_current().config!r}}".encode()]
"""


def test_serve_reload_and_replacements_keep_the_interpreter_config(served, tmp_path):
    """The workers a reload starts (made ahead of time by the file watcher) and those
    that replace a recycled worker are legacy too: the app imports readline."""
    app = tmp_path / "legacy_reload_app.py"
    app.write_text(RELOADED_APP.format(version="one"))
    s = served(
        "--reload", "--workers", "2", "--interpreter-config", "legacy",
        "--max-requests-per-worker", "2", app="legacy_reload_app:app", path=str(tmp_path),
        follow=True,
    )  # fmt: skip
    assert {s.get("/")[1] for _ in range(6)} == {b"one InterpreterConfig('legacy')"}
    s.wait_err("--reload: watching")
    app.write_text(RELOADED_APP.format(version="two, edited"))
    s.wait_err("reloaded in")
    bodies = {s.get("/")[1] for _ in range(6)}
    assert bodies == {b"two, edited InterpreterConfig('legacy')"}
