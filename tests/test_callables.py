"""Any callable from anywhere: functions of ``__main__`` (script, ``-c``, stdin, REPL,
Jupyter) and closures travel by value, the user's script never runs again, handles travel
inside any object, and what cannot be sent is refused naming the culprit."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading

import helpers
import manygil
import pytest
from conftest import run_file, write_script
from manygil._wire import pickle as _pickle


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def _run(args, stdin=None, timeout=90):
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


# The same program in every form of __main__: a function using a module and another
# __main__ function, a lambda, a closure, through Interpreter.call and Pool.map.
PROGRAM = """\
import math, manygil
print("top level", flush=True)
def helper(x):
    return math.isqrt(x)

def root_plus_one(x):
    return helper(x) + 1

def make_adder(n):
    def add(x):
        return x + n
    return add

it = manygil.create()
print(it.call(lambda: 41 + 1), it.call(root_plus_one, 16), it.call(make_adder(3), 4))
it.close()
with manygil.Pool(2) as p:
    print(list(p.map(root_plus_one, [4, 9, 16, 25])), list(p.map(make_adder(10), [1, 2])))
"""
EXPECTED = ["top level", "42 5 7", "[3, 4, 5, 6] [11, 12]"]


def test_unguarded_script_runs_its_top_level_once(tmp_path):
    r = run_file(write_script(tmp_path, PROGRAM), timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == EXPECTED


def test_dash_c_program():
    r = _run(["-c", PROGRAM])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == EXPECTED


def test_program_on_stdin(tmp_path):
    r = subprocess.run(
        [sys.executable, "-"],
        input=PROGRAM,
        capture_output=True,
        text=True,
        timeout=90,
        env=_env(),
        cwd=tmp_path,  # no file named <stdin> here
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == EXPECTED


REPL_PROGRAM = """\
import math, manygil
def helper(x):
    return math.isqrt(x)

def root_plus_one(x):
    return helper(x) + 1

def make_adder(n):
    def add(x):
        return x + n
    return add

it = manygil.create()
print(it.call(lambda: 41 + 1), it.call(root_plus_one, 16), it.call(make_adder(3), 4))
it.close()
with manygil.Pool(2) as p:
    print(list(p.map(root_plus_one, [4, 9, 16, 25])), list(p.map(make_adder(10), [1, 2])))

"""


def test_interactive_session_fed_by_stdin():
    # The REPL reads blocks ended by a blank line; `-q` drops the banner.
    r = _run(["-q", "-i"], stdin=REPL_PROGRAM)
    assert r.returncode == 0, r.stderr
    out = [line for line in r.stdout.splitlines() if line.strip()]
    assert out == EXPECTED[1:], r.stdout + r.stderr


@pytest.mark.timeout(300)
def test_notebook_on_a_real_jupyter_kernel(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook()
    cells = [
        "import math, manygil\nprint('top level')",
        "def helper(x):\n    return math.isqrt(x)\n\ndef root_plus_one(x):\n    return helper(x) + 1",
        "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\n    y: int",
        "with manygil.Pool(2) as p:\n"
        "    print(list(p.map(root_plus_one, [4, 9])), p.submit(lambda q: P(q.y, q.x), P(1, 2)).result())",
        "with manygil.create() as it:\n    print(it.call(lambda: helper(81)))",
        "def boom(x):\n    return 1 / x  # the failing line",
        "with manygil.create() as it:\n    try:\n        it.call(boom, 0)\n"
        "    except manygil.ExecutionFailed as e:\n        print(e)\n"
        "print('cell name', boom.__code__.co_filename)",
    ]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    client = nbclient.NotebookClient(
        nb,
        timeout=120,  # per cell: a hang fails the test instead of blocking it
        startup_timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    texts = [
        "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
        for cell in nb.cells
    ]
    assert texts[0].strip() == "top level"
    assert texts[3].strip() == "[3, 4] P(x=2, y=1)"
    assert texts[4].strip() == "9"
    # The worker's traceback names the cell as IPython does and shows its line (issue 20).
    cell = texts[6].split("cell name ")[1].strip()
    assert f'File "{cell}", line 2, in boom' in texts[6], texts[6]
    assert "return 1 / x  # the failing line" in texts[6], texts[6]
    assert "<dynamic-code>" not in texts[6]


def test_main_dataclass_instances_as_argument_and_result(tmp_path):
    path = write_script(
        tmp_path,
        """
        import dataclasses, manygil

        @dataclasses.dataclass(frozen=True)
        class Point:
            x: int
            y: int

            def swapped(self):
                return Point(self.y, self.x)

        def swap(p):
            return p.swapped()

        with manygil.create() as it:
            r = it.call(swap, Point(1, 2))
            print(type(r) is Point, r == Point(2, 1), it.call(lambda: Point(5, 6)) == Point(5, 6))
        with manygil.Pool(2) as p:
            out = list(p.map(swap, [Point(i, -i) for i in range(3)]))
            print(all(type(o) is Point for o in out), out == [Point(-i, i) for i in range(3)])
        """,
    )
    r = run_file(path, timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True"] * 5


# --- issue 14, item 2: the callable that was passed is the one that runs ---------------------


def test_passed_function_runs_not_the_namesake_in_the_target(tmp_path):
    path = write_script(
        tmp_path,
        """
        import manygil

        def task(x):
            return ("ours", x)

        class Tag:
            def who(self):
                return "ours"

        with manygil.create() as it:
            it.exec("def task(x):\\n    return ('theirs', x)\\nclass Tag:\\n    def who(self):\\n        return 'theirs'")
            print(*it.call(task, 2), it.call(lambda t: t.who(), Tag()))
            # The other direction: what comes back is theirs, not our namesake.
            theirs = it.call(eval, "task")
            print(*theirs(4))
            tag = it.call(eval, "Tag()")
            print(tag.who(), type(tag) is Tag)
            it.prepare_main(task=len)
            print(*it.call(task, 3))
        """,
    )
    r = run_file(path, timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["ours 2 ours", "theirs 4", "theirs False", "ours 3"]


# --- closures and local functions (in-process) ----------------------------------------------


def make_adder(n):
    def add(x):
        return x + n

    return add


def test_closures_and_lambdas_capturing_locals(interp):
    k = 5
    assert interp.call(make_adder(3), 4) == 7
    assert interp.call(lambda x: x * k, 3) == 15

    def outer_uses_helper(x):
        return helpers.square(x) + k

    assert interp.call(outer_uses_helper, 4) == 21


def test_closures_through_the_pool():
    with manygil.Pool(2) as p:
        assert list(p.map(make_adder(100), range(4), chunksize=2)) == [100, 101, 102, 103]
        assert p.submit(make_adder(1), 1).result(30) == 2


def test_local_class_instances_come_back(interp):
    @dataclasses.dataclass
    class Local:
        v: int

    out = interp.call(lambda o: Local(o.v + 1), Local(1))
    assert type(out) is Local and out.v == 2


# --- handles inside any object, bound methods of handles ------------------------------------


@dataclasses.dataclass
class Kit:
    queue: manygil.Queue
    buffer: manygil.SharedBuffer
    lock: manygil.Lock
    rlock: manygil.RLock
    sem: manygil.Semaphore
    bsem: manygil.BoundedSemaphore
    event: manygil.Event
    cond: manygil.Condition
    barrier: manygil.Barrier
    counter: manygil.AtomicInt
    extra: dict


def new_kit():
    return Kit(
        manygil.Queue(),
        manygil.SharedBuffer(4),
        manygil.Lock(),
        manygil.RLock(),
        manygil.Semaphore(2),
        manygil.BoundedSemaphore(1),
        manygil.Event(),
        manygil.Condition(),
        manygil.Barrier(1),
        manygil.AtomicInt(0),
        {"nested": [manygil.Event()]},
    )


def use_kit(kit):
    kit.queue.put("from worker")
    kit.buffer[0] = 7
    with kit.lock, kit.rlock, kit.sem, kit.bsem, kit.cond:
        pass
    kit.event.set()
    kit.barrier.wait(5)
    kit.counter.add(5)
    kit.extra["nested"][0].set()
    return kit


def test_handles_inside_a_dataclass_are_the_same_objects(interp):
    kit = new_kit()
    back = interp.call(use_kit, kit)
    assert kit.queue.get(timeout=5) == "from worker"
    assert kit.buffer[0] == 7 and kit.event.is_set() and kit.counter.get() == 5
    assert kit.extra["nested"][0].is_set()
    for field in dataclasses.fields(Kit):
        if field.name != "extra":
            assert getattr(back, field.name) == getattr(kit, field.name), field.name
    assert back.extra["nested"][0] == kit.extra["nested"][0]


def test_a_handle_in_a_queued_object_lives_as_long_as_the_message(interp):
    outer = manygil.Queue()
    inner = manygil.Queue()
    inner.put("kept alive by the message")
    outer.put({"box": [inner]})
    del inner  # only the queued message holds it now
    assert interp.call(_take_inner, outer) == "kept alive by the message"


def _take_inner(outer):
    return outer.get(timeout=5)["box"][0].get(timeout=5)


def test_bound_methods_of_handles_are_shareable(interp):
    ev = manygil.Event()
    q = manygil.Queue()
    interp.call(q.put, "via bound method")
    assert q.get(timeout=5) == "via bound method"
    with manygil.Pool(2) as p:
        waiting = p.submit(ev.wait, 30)
        setter = p.submit(ev.set)
        assert setter.result(30) is None
        assert waiting.result(30) is True
    assert ev.is_set()


# --- refusals ---------------------------------------------------------------------------------


def test_socket_in_globals_is_refused_naming_the_path(tmp_path):
    path = write_script(
        tmp_path,
        """
        import socket, manygil
        conn = socket.socket()

        def f():
            return conn.fileno()

        with manygil.Pool(1) as p:
            try:
                p.submit(f)
            except manygil.NotShareableError as e:
                print(e)
            print(p.stats()["submitted"])
        """,
    )
    r = run_file(path, timeout=60)
    assert r.returncode == 0, r.stderr
    message, submitted = r.stdout.splitlines()
    assert "f.__globals__['conn']: socket.socket" in message
    assert submitted == "0", "nothing is queued"


def test_thread_lock_in_a_closure_is_refused_naming_the_path(interp):
    lock = threading.Lock()

    def locked():
        with lock:
            return 1

    with pytest.raises(manygil.NotShareableError) as e:
        interp.call(locked)
    assert "locked.__closure__['lock']: _thread.lock" in str(e.value)
    assert isinstance(e.value, TypeError)


def test_open_file_and_generator_are_refused(interp, tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("x")
    with open(path) as fh:

        def reads():
            return fh.read()

        with pytest.raises(
            manygil.NotShareableError, match=r"__closure__\['fh'\]: _io.TextIOWrapper"
        ):
            interp.call(reads)
    gen = (i for i in range(3))
    with pytest.raises(manygil.NotShareableError, match="generator"):
        interp.call(helpers.identity, gen)
    assert list(gen) == [0, 1, 2], "the generator was not consumed"


def test_refused_socket_argument_names_its_type(interp):
    with socket.socket() as s, pytest.raises(manygil.NotShareableError, match="socket.socket"):
        interp.call(helpers.identity, {"k": [s]})


# --- the encoding cache -----------------------------------------------------------------------


def test_a_function_is_encoded_once_and_reencoded_when_it_changes(interp):
    scale = 2

    def times(x, k=1):
        return x * k * scale

    first = _pickle.dumps(times)
    assert _pickle.dumps(times)[0] is first[0], "the cached encoding is reused"
    assert interp.call(times, 3) == 6
    times.__defaults__ = (10,)
    assert _pickle.dumps(times)[0] is not first[0]
    assert interp.call(times, 3) == 60
    scale = 3  # rebinding a captured variable changes the closure cell
    assert interp.call(times, 1) == 30


def test_a_function_capturing_a_mutable_object_is_encoded_at_every_send(interp):
    def read():
        return box["k"]

    box = {"k": 1}
    assert interp.call(read) == 1
    box["k"] = 2  # mutated in place: must not be served from a stale encoding
    assert interp.call(read) == 2


def test_worker_decodes_a_function_once(interp):
    def make():
        def me(x):
            return x, id(me)  # `me` is a closure over itself: sent by value

        return me

    f = make()
    (a, first), (b, second) = interp.call(f, 1), interp.call(f, 2)
    assert (a, b) == (1, 2)
    assert first == second, "the worker reused the function it decoded"
    assert interp.call(_decoded_has, _pickle.dumps(f)[2]) is True


def _decoded_has(key):
    from manygil._wire import unpickle as _unpickle

    return key in _unpickle._decoded


def test_script_module_level_state_is_a_snapshot(tmp_path):
    # Documented semantics (as Dask/loky): globals are captured when the function is sent.
    path = write_script(
        tmp_path,
        """
        import manygil
        LIMIT = 1

        def over(x):
            return x > LIMIT

        with manygil.create() as it:
            a = it.call(over, 2)
            LIMIT = 5
            b = it.call(over, 2)
            print(a, b)
        """,
    )
    r = run_file(path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"]
