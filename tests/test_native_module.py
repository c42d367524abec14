"""manygil._native imports everywhere, with its own module and types per interpreter."""

from __future__ import annotations

import sys

import helpers
import manygil
import pytest
from manygil import _native
from waiting import wait_for_state


def test_imports_in_main_interpreter():
    assert _native.get_current() == (0, _native.WHENCE_RUNTIME)
    assert _native.PendingCall.__module__ == "manygil._native"


def test_imports_in_a_manygil_interpreter(interp):
    assert interp.call(helpers.current_id) == interp.id != 0


def test_module_and_types_are_distinct_per_interpreter(two_interps):
    a, b = two_interps
    here = helpers.native_ids()
    in_a = a.call(helpers.native_ids)
    in_b = b.call(helpers.native_ids)
    assert len({here[0], in_a[0], in_b[0]}) == 3, "one module object per interpreter"
    assert len({here[1], in_a[1], in_b[1]}) == 3, "one PendingCall type per interpreter"


@pytest.mark.skipif(sys.version_info < (3, 14), reason="concurrent.interpreters is 3.14+")
def test_imports_in_a_stdlib_interpreter():
    from concurrent import interpreters

    i = interpreters.create()
    try:
        i.exec(f"import sys; sys.path[:] = {sys.path!r}")
        i.exec(
            "from manygil import _native\n"
            "import _interpreters\n"
            "assert _native.get_current()[0] == _interpreters.get_current()[0]\n"
            "assert _native.get_current()[0] != 0\n"
        )
    finally:
        i.close()


def test_pending_call_cannot_be_instantiated():
    with pytest.raises(TypeError):
        _native.PendingCall()


def test_submit_returns_pending_call_with_result(interp):
    p = _native.submit(interp.id, helpers.add, (1, 2), {"c": 3})
    assert isinstance(p, _native.PendingCall)
    assert p.wait(10) == (True, 6)
    assert p.done()
    assert p.wait() == (True, 6), "the outcome can be read again"


def test_pending_call_wait_times_out_then_completes(interp):
    p = _native.submit(interp.id, helpers.spin, (0.3,), {})
    with pytest.raises(TimeoutError):
        p.wait(0.01)
    assert p.wait(10) == (True, "finished")


def test_bad_arguments_name_the_problem(interp):
    with pytest.raises(TypeError, match="args must be a tuple"):
        _native.call(interp.id, helpers.add, [1], {})
    with pytest.raises(TypeError, match="kwargs must be a dict"):
        _native.call(interp.id, helpers.add, (1,), [])
    with pytest.raises(TypeError, match="not callable"):
        _native.call(interp.id, 42, (), {})
    with pytest.raises(TypeError, match="interpreter id must be an int"):
        _native.call("1", helpers.add, (), {})
    with pytest.raises(ValueError, match="timeout must be a non-negative"):
        _native.call(interp.id, helpers.add, (1,), {}, -1)
    with pytest.raises(TypeError, match="takes 4 to 5 positional arguments"):
        _native.call(interp.id)


def test_shutdown_is_refused_outside_main(interp):
    with pytest.raises(manygil.ExecutionFailed, match="only be called from the main"):
        interp.exec("from manygil import _native; _native.shutdown()")


def test_pending_call_waited_by_two_threads_gives_both_the_result(interp):
    """Two threads of one interpreter block in wait() on the same PendingCall at once.

    Both must get the result: a waiter must never take the result from under another one
    (which then reported the interpreter as closed), nor see a second mutable borrow of
    the call's state.
    """
    import threading

    for round_ in range(5):
        gate = manygil.Event()
        pending = _native.submit(interp.id, helpers.wait_event_then, (gate, round_), {})
        got: list[object] = []

        def waiter(pending=pending, got=got):
            try:
                got.append(pending.wait(30))
            except BaseException as e:  # noqa: BLE001 - recorded and asserted below
                got.append(e)

        threads = [threading.Thread(target=waiter) for _ in range(2)]
        for t in threads:
            t.start()
        wait_for_state(lambda p=pending: p.waiting() == 2, "both threads block inside wait()")
        assert not pending.done()
        gate.set()
        for t in threads:
            t.join(30)
        assert got == [(True, round_), (True, round_)], got
        assert pending.waiting() == 0
        assert pending.wait(0) == (True, round_)


# The stdlib modules manygil needs only on error paths: on 3.14 `traceback` alone brings
# _colorize, dataclasses and inspect, ~2.5 MiB in every interpreter that imports manygil.
HEAVY = ("traceback", "inspect", "dataclasses", "re", "asyncio")


def test_importing_manygil_loads_no_heavy_stdlib_module():
    import subprocess

    code = (
        "import sys; before = set(sys.modules); import manygil; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules and m not in before))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_an_interpreter_given_a_handle_loads_no_heavy_stdlib_module(interp):
    # Decoding the Lock imports manygil._native, hence the manygil package, there.
    assert interp.call(helpers.modules_loaded, manygil.Lock(), ("manygil",) + HEAVY) == ["manygil"]


def test_an_interpreter_that_receives_a_pickled_object_does_not_import_cloudpickle(interp):
    # A Point travels by pickle and is rebuilt with the C unpickler alone: neither
    # cloudpickle (several MiB) nor pickle.py (which imports re on 3.13), nor the native
    # module (whose exception types import queue and threading).
    names = ("_pickle", "pickle", "cloudpickle", "re", "manygil._native", "threading")
    loaded = interp.call(helpers.modules_loaded, helpers.Point(1, 2), names)
    assert loaded == ["_pickle"]
