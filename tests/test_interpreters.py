"""manygil.interpreters: the PEP 734 / 3.14 `concurrent.interpreters` API on 3.13+."""

from __future__ import annotations

import threading

import handle_helpers as hh
import helpers
import manygil
import pytest
from manygil import interpreters
from waiting import wait_for_state

# --- module functions -----------------------------------------------------------------


def test_get_main_and_current_in_main():
    main = interpreters.get_main()
    assert main.id == 0 and main.whence == "runtime init"
    assert interpreters.get_current() is main


def test_create_lists_and_identity(interp):
    assert interp.whence == "manygil"
    assert interp in interpreters.list_all()
    assert interpreters.Interpreter(interp.id) is interp
    assert repr(interp) == f"Interpreter({interp.id})"
    assert hash(interp) == hash(interp.id)


def test_interpreter_id_must_be_int():
    with pytest.raises(TypeError):
        interpreters.Interpreter("1")


def test_get_current_inside_is_that_interpreter(interp):
    assert interp.call(helpers.current_id) == interp.id


def test_public_names_mirror_concurrent_interpreters():
    for name in (
        "get_current",
        "get_main",
        "create",
        "list_all",
        "is_shareable",
        "Interpreter",
        "InterpreterError",
        "InterpreterNotFoundError",
        "ExecutionFailed",
        "NotShareableError",
    ):
        assert hasattr(interpreters, name), name
    assert issubclass(interpreters.InterpreterNotFoundError, interpreters.InterpreterError)
    assert issubclass(interpreters.ExecutionFailed, interpreters.InterpreterError)
    assert issubclass(interpreters.NotShareableError, TypeError)


# --- exec / call / prepare_main -------------------------------------------------------


def test_exec_runs_in_main_namespace(interp):
    interp.exec("x = 40")
    interp.exec("x += 2")
    assert interp.call(helpers.main_value, "x") == 42


def test_exec_failure_carries_excinfo_like_314(interp):
    with pytest.raises(interpreters.ExecutionFailed) as e:
        interp.exec("def f():\n    raise ValueError('boom', 3)\nf()")
    info = e.value.excinfo
    assert info.type.__name__ == "ValueError"
    assert info.type.__qualname__ == "ValueError"
    assert info.type.__module__ == "builtins"
    assert info.msg == "('boom', 3)"
    assert info.formatted == "ValueError: ('boom', 3)"
    assert info.errdisplay.startswith("Traceback (most recent call last):")
    assert "line 2, in f" in info.errdisplay
    assert str(e.value).startswith("ValueError: ('boom', 3)\n\nUncaught in the interpreter:")
    cause = e.value.__cause__
    assert type(cause) is ValueError and cause.args == ("boom", 3)


def test_exec_syntax_error_is_raised_directly(interp):
    with pytest.raises(SyntaxError):
        interp.exec("def (:")


def test_exec_rejects_non_str(interp):
    with pytest.raises(TypeError, match="str"):
        interp.exec(b"x = 1")


def test_call_with_args_and_kwargs(interp):
    assert interp.call(helpers.add, 1, 2, c=3) == 6


def test_call_exception_chains_rebuilt_original(interp):
    with pytest.raises(interpreters.ExecutionFailed) as e:
        interp.call(helpers.raise_custom, 7)
    original = e.value.__cause__
    assert type(original) is helpers.CustomError
    assert (original.code, original.detail) == (7, "detail")
    assert "raise_custom" in str(original.__cause__), "remote traceback is attached"


def test_system_exit_and_keyboard_interrupt_travel_as_data(interp):
    with pytest.raises(interpreters.ExecutionFailed) as e:
        interp.call(helpers.raise_system_exit, 3)
    assert e.value.excinfo.type.__name__ == "SystemExit"
    assert type(e.value.__cause__) is SystemExit
    with pytest.raises(interpreters.ExecutionFailed) as e:
        interp.call(helpers.raise_keyboard_interrupt)
    assert e.value.excinfo.type.__name__ == "KeyboardInterrupt"
    assert interp.call(helpers.add, 1, 1) == 2, "the interpreter still works"


def test_recursion_error_leaves_interpreter_usable(interp):
    with pytest.raises(interpreters.ExecutionFailed) as e:
        interp.call(helpers.recurse, 0)
    assert e.value.excinfo.type.__name__ == "RecursionError"
    assert interp.call(helpers.fib, 10) == 55


def test_prepare_main_binds_values(interp):
    interp.prepare_main({"a": 1}, b=[2, 3])
    assert interp.call(helpers.main_dict_keys) == ["a", "b"]
    interp.exec("assert a == 1 and b == [2, 3]")


def test_prepare_main_unshareable_binds_nothing(interp):
    with pytest.raises(manygil.NotShareableError):
        interp.prepare_main(ok=1, bad=threading.Lock())
    assert interp.call(helpers.main_dict_keys) == []


def test_the_passed_function_runs_not_a_namesake_of_the_interpreter(interp):
    interp.exec("def triple(x):\n    return 'theirs'")
    import __main__

    def triple(x):
        return 3 * x

    __main__.triple = triple
    try:
        triple.__module__ = "__main__"
        triple.__qualname__ = "triple"
        assert interp.call(triple, 5) == 15
        assert interp.call(eval, "triple")(5) == "theirs", "and theirs comes back as theirs"
    finally:
        del __main__.triple


def test_call_in_thread_runs_in_parallel(two_interps):
    a, b = two_interps
    t = a.call_in_thread(helpers.spin, 0.2)
    assert isinstance(t, threading.Thread)
    assert b.call(helpers.add, 2, 3) == 5
    t.join(10)
    assert not t.is_alive()


def test_calls_into_two_interpreters_overlap(two_interps):
    a, b = two_interps
    results = []
    release = manygil.Event()
    t = threading.Thread(target=lambda: results.append(a.call(hh.wait_event, release, 60)))
    t.start()
    wait_for_state(a.is_running, "a's call starts")
    # a's call cannot end before `release` is set: b's call completes while a's runs.
    assert b.call(helpers.add, 1, 2) == 3, "b is not blocked by a"
    assert a.is_running() and not results
    release.set()
    t.join(10)
    assert results == [True]
    assert not a.is_running()


def test_sqlite_python_callbacks_work_inside(interp):
    assert interp.call(helpers.sqlite_with_python_function) == 42


def test_non_isolated_extension_import_error_is_clear(interp):
    with pytest.raises(interpreters.ExecutionFailed) as e:
        interp.call(helpers.import_module, "readline")
    assert e.value.excinfo.type.__name__ == "ImportError"
    assert "readline" in e.value.excinfo.msg
    assert "own-GIL sub-interpreter" in e.value.excinfo.msg
    assert interp.call(helpers.import_module, "json") == "json", "pure-Python modules load"


# --- close / lifecycle errors -----------------------------------------------------------


def test_close_then_use_raises_not_found():
    i = manygil.create()
    i.close()
    with pytest.raises(interpreters.InterpreterNotFoundError):
        i.call(helpers.add, 1)
    with pytest.raises(interpreters.InterpreterNotFoundError):
        i.exec("pass")
    with pytest.raises(interpreters.InterpreterNotFoundError):
        i.close()
    assert i not in interpreters.list_all()


def test_closing_a_running_interpreter_is_refused(interp):
    release = manygil.Event()
    t = interp.call_in_thread(hh.wait_event, release, 60)
    wait_for_state(interp.is_running, "the call starts")
    with pytest.raises(interpreters.InterpreterError, match="running"):
        interp.close()
    release.set()
    t.join(10)
    wait_for_state(lambda: not interp.is_running(), "the call ends")
    interp.close()


def test_an_interpreter_cannot_close_itself(interp):
    with pytest.raises(interpreters.ExecutionFailed, match="cannot close itself"):
        interp.exec("import manygil; manygil.get_current().close()")


def test_main_interpreter_refuses_work():
    main = interpreters.get_main()
    with pytest.raises(interpreters.InterpreterError, match="main interpreter"):
        main.call(helpers.add, 1)
    with pytest.raises(interpreters.InterpreterError):
        main.close()


def test_context_manager_closes():
    with manygil.create() as i:
        assert i.call(helpers.add, 1, 1) == 2
    with pytest.raises(interpreters.InterpreterNotFoundError):
        i.call(helpers.add, 1)


def test_nested_interpreter_created_from_inside(interp):
    interp.exec(
        "import manygil, helpers\n"
        "inner = manygil.create()\n"
        "result = inner.call(helpers.current_id)\n"
        "inner.close()\n"
    )
    inner_id = interp.call(helpers.main_value, "result")
    assert inner_id not in (0, interp.id)


def test_nested_synchronous_calls_work_without_a_cycle(two_interps):
    a, b = two_interps
    assert a.call(helpers.call_into, b.id) == 2  # a waits for b: fine


def test_a_call_cycle_is_refused_instead_of_hanging(two_interps):
    a, b = two_interps
    # a's job calls into b, whose job calls back into a: a's only thread is busy waiting.
    with pytest.raises(interpreters.ExecutionFailed, match="would deadlock") as e:
        a.call(helpers.call_into, b.id, a.id)
    assert f"{a.id} -> {b.id} -> {a.id}" in str(e.value) or f"{b.id} -> {a.id}" in str(e.value)
    assert a.call(helpers.add, 2, 2) == 4 and b.call(helpers.add, 3, 3) == 6


def test_call_eval_and_exec_use_main_like_the_stdlib(interp):
    interp.exec("y = 40")
    assert interp.call(eval, "y + 2") == 42
    interp.call(exec, "z = y * 2")
    assert interp.call(helpers.main_value, "z") == 80
    assert interp.call(eval, "y", {"y": 1}) == 1, "an explicit namespace is respected"


def _put_from_worker(q):
    q.put("from the worker")


def test_create_queue_mirrors_3_14(interp):
    import queue

    from manygil import interpreters

    q = interpreters.create_queue(1)
    assert isinstance(q, interpreters.Queue) and q.maxsize == 1
    interp.call(_put_from_worker, q)
    with pytest.raises(interpreters.QueueFull) as full:
        q.put("no room", timeout=0.01)
    assert isinstance(full.value, queue.Full)
    assert q.get(timeout=5) == "from the worker"
    with pytest.raises(interpreters.QueueEmpty):
        q.get(timeout=0.01)
    with pytest.raises(ValueError, match="maxsize"):
        interpreters.create_queue(-1)


def _start_a_program_and_fork():
    import os
    import subprocess

    out = subprocess.run(["echo", "from a child"], capture_output=True, text=True).stdout
    try:
        os.fork()
    except RuntimeError as e:
        return out.strip(), str(e)
    return out.strip(), "forked"  # pragma: no cover - the parent would see two returns


def test_a_worker_starts_programs_but_cannot_fork(interp):
    # What docs/serve.md says workers can do (issue 23, item 11).
    out, fork = interp.call(_start_a_program_and_fork)
    assert out == "from a child"
    assert "fork not supported" in fork
