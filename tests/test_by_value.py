"""Functions and classes of ``__main__`` travel by manygil's own encoding (issue 20): the
worker imports neither cloudpickle nor anything the function does not use, tracebacks and
pdb see the caller's file, line and source, and what the encoding carries (globals,
closures, defaults, submodules, recursion, classes) arrives intact."""

from __future__ import annotations

import os
import subprocess
import sys

import manygil
import pytest
from conftest import run_file, write_script
from manygil._wire import pickle as _pickle


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def _run(args, stdin=None, cwd=None):
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=cwd,
    )


def _lines(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


# --- no cloudpickle in workers --------------------------------------------------------------

NO_CLOUDPICKLE = """\
import sys, manygil

def loaded(_=None):
    heavy = ("cloudpickle", "dis", "inspect", "functools", "collections", "threading", "queue")
    return sorted(m for m in heavy if m in sys.modules)

def make(k):
    def closure(x):
        return loaded(x) if x == "probe" else x * k
    return closure

class Point:
    def __init__(self, x):
        self.x = x
    def probe(self):
        return loaded()

with manygil.Pool(2) as p:
    print(p.submit(loaded).result())
    print(p.submit(lambda: loaded()).result())
    print(p.submit(make(3), "probe").result(), p.submit(make(3), 2).result())
    print(p.submit(Point.probe, Point(1)).result())
    print(p.submit(lambda pt: type(pt).__name__ + str(pt.x), Point(7)).result())
    # The stand-in for functools while _pickle loaded is gone: the real module imports.
    print(p.submit(lambda: __import__("functools").reduce(int.__add__, [1, 2, 3])).result())
# The sender needs only the C pickler: pickle.py (and struct) stay out of main too.
print("main", "cloudpickle" in sys.modules, "pickle" in sys.modules)
"""


def test_script_functions_lambdas_closures_and_classes_need_no_cloudpickle(tmp_path):
    """Nor anything heavy that the task does not import itself: not ``functools`` (which
    ``_pickle`` would pull in, with ``collections``), not ``queue``/``threading`` (the bases
    of manygil's queue exceptions, made on first use)."""
    out = _lines(run_file(write_script(tmp_path, NO_CLOUDPICKLE), timeout=120))
    assert out == ["[]", "[]", "[] 6", "[]", "Point7", "6", "main False False"]


def _globals_by_dis(code) -> dict:
    import dis
    import types

    ops = {"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"}
    names = {}
    for ins in dis.get_instructions(code):
        if ins.opname in ops and type(ins.argval) is str:
            names[ins.argval] = None
    for c in code.co_consts:
        if type(c) is types.CodeType:
            names.update(_globals_by_dis(c))
    return names


def test_the_global_names_a_function_uses_are_read_as_dis_reads_them():
    """The encoder scans bytecode itself (``dis`` costs 1.2 MiB on 3.15 in the sender):
    same names in the same order as ``dis.get_instructions`` on stdlib modules, and on
    code with more than 256 names (``EXTENDED_ARG``) reading, writing and deleting
    globals, class bodies (``LOAD_NAME``) and nested functions."""
    import email.message
    import inspect as inspect_module
    import json.decoder
    import textwrap

    many = "\n".join(f"    g{i} = h{i} + attr.a{i}" for i in range(300))
    src = (
        f"def f(attr):\n    global w, z\n{many}\n    w = 1\n    del z\n"
        "    def inner():\n        return late + f\n    class C:\n        k = outer\n"
        "    return inner, C\n"
    )
    codes = [compile(src, "<many>", "exec")]
    for m in (email.message, inspect_module, json.decoder, textwrap, pytest):
        codes.append(compile(open(m.__file__, encoding="utf-8").read(), m.__file__, "exec"))
    for code in codes:
        assert list(_pickle._code_globals(code)) == list(_globals_by_dis(code)), code.co_filename
    names = _pickle._code_globals(codes[0])
    assert {"h0", "h299", "w", "z", "late", "f", "outer"} <= set(names)
    assert "a5" not in names and "g5" not in names  # attributes and locals are not globals


def test_a_worker_sending_back_an_instance_of_a_script_class_needs_no_cloudpickle(tmp_path):
    path = write_script(
        tmp_path,
        """
        import sys, manygil

        class Box:
            def __init__(self, v):
                self.v = v

        def wrap(v):
            return Box(v), "cloudpickle" in sys.modules

        with manygil.create() as it:
            box, worker_has_it = it.call(wrap, 5)
            print(type(box) is Box, box.v, worker_has_it, "cloudpickle" in sys.modules)
        """,
    )
    assert _lines(run_file(path, timeout=60)) == ["True 5 False False"]


# --- tracebacks and pdb see the caller's file and source ------------------------------------

FAILING = """\
import manygil

def inner(x):
    return 1 / x  # the failing line

def outer(x):
    return inner(x) + 1

def where():
    import linecache, sys
    f = sys._getframe()
    return f.f_code.co_filename, f.f_lineno, linecache.getline(f.f_code.co_filename, f.f_lineno).strip()

with manygil.Pool(1) as p:
    print(repr(p.submit(where).result()))
    try:
        p.submit(outer, 0).result()
    except ZeroDivisionError as e:
        print(e.__cause__)
"""


def _check_traceback(out: str, filename: str):
    assert "<dynamic-code>" not in out
    assert f'File "{filename}", line 4, in inner' in out, out
    assert "return 1 / x  # the failing line" in out, out
    assert f'File "{filename}", line 7, in outer' in out, out
    assert "return inner(x) + 1" in out, out


def test_traceback_of_a_script_function_names_the_file_line_and_source(tmp_path):
    path = write_script(tmp_path, FAILING)
    r = run_file(path, timeout=60)
    assert r.returncode == 0, r.stderr
    first, rest = r.stdout.split("\n", 1)
    assert eval(first) == (
        path,
        12,
        "return f.f_code.co_filename, f.f_lineno, "
        "linecache.getline(f.f_code.co_filename, f.f_lineno).strip()",
    )
    _check_traceback(rest, path)


def test_traceback_of_a_dash_c_program_shows_its_source():
    r = _run(["-c", FAILING])
    assert r.returncode == 0, r.stderr
    first, rest = r.stdout.split("\n", 1)
    name, line, text = eval(first)
    assert (name, line) == ("<string>", 12)
    # 3.13+ keeps the source of `-c` for tracebacks: the worker gets it too.
    assert text.startswith("return f.f_code.co_filename"), text
    _check_traceback(rest, "<string>")


def test_interactive_functions_keep_their_source_for_tracebacks_and_pdb():
    # Each REPL input gets its own <python-input-N> name (3.13+); `-i` reads stdin.
    blocks = [
        "import manygil\n",
        "def inner(x):\n    return 1 / x  # the failing line\n\n",
        "def where():\n    import linecache, sys\n    f = sys._getframe()\n"
        "    return linecache.getline(f.f_code.co_filename, f.f_lineno).strip()\n\n",
        "p = manygil.Pool(1)\n",
        "print(repr(p.submit(where).result()))\n",
        "try:\n    p.submit(inner, 0).result()\nexcept ZeroDivisionError as e:\n"
        "    print(e.__cause__)\n\n",
        "p.shutdown()\n",
    ]
    r = _run(["-q", "-i"], stdin="".join(blocks))
    assert r.returncode == 0, r.stderr
    assert "'return linecache.getline(f.f_code.co_filename, f.f_lineno).strip()'" in r.stdout
    assert "return 1 / x  # the failing line" in r.stdout, r.stdout
    assert "<dynamic-code>" not in r.stdout


def test_source_travels_only_for_code_without_a_file(tmp_path):
    def local(x):
        return x

    assert _pickle._source(local.__code__) is None  # on disk: the worker reads it there

    import linecache

    code = compile("def g():\n    return 1\n", "<cell-7>", "exec")
    linecache.cache["<cell-7>"] = (10, None, ["def g():\n", "    return 1\n"], "<cell-7>")
    try:
        assert _pickle._source(code) == ("<cell-7>", ("def g():\n", "    return 1\n"))
    finally:
        del linecache.cache["<cell-7>"]
    assert _pickle._source(code) is None  # no file, no source anywhere


# --- what the encoding carries --------------------------------------------------------------

CARRIES = """\
import sys, dataclasses, functools, manygil
import xml.etree.ElementTree  # used through `xml` only: the worker must import the submodule

LIMIT = 10

def fact(n):  # recursive through its own global
    return 1 if n <= 1 else n * fact(n - 1)

def even(n):  # mutually recursive
    return n == 0 or odd(n - 1)

def odd(n):
    return n != 0 and even(n - 1)

def tag(text):
    return xml.etree.ElementTree.fromstring(text).tag

def defaults(a, b=LIMIT, *, c=[1, 2]):
    "doc of defaults"
    return a + b + sum(c)

def counter():
    n = 0
    def bump():
        nonlocal n
        n += 1
        return n
    return bump

class Base:
    kind = "base"
    def hello(self):
        return "hello from " + self.kind

class Child(Base):
    __slots__ = ("v",)
    kind = "child"
    def __init__(self, v):
        self.v = v
    def hello(self):
        return super().hello() + f" v={self.v}"
    @staticmethod
    def s():
        return "static"
    @classmethod
    def c(cls):
        return cls.__name__
    @property
    def double(self):
        return self.v * 2

@dataclasses.dataclass(frozen=True)
class P:
    x: int
    y: int = 0
    tags: list = dataclasses.field(default_factory=list)

@functools.lru_cache
def cached(x):
    return x + 1

def annotated(x: int, y: "str" = "") -> list:
    return [x, y]

def info():
    return (fact(6), even(10), odd(7), tag("<root/>"), defaults(1), defaults.__doc__,
            defaults.__qualname__, defaults.__module__, annotated.__annotations__)

def classes(c):
    return (c.hello(), c.s(), c.c(), c.double, type(c).__mro__[1].__name__,
            [f.name for f in dataclasses.fields(P)], repr(P(1)), P(1) == P(1, 0))

with manygil.create() as it:
    print(it.call(info))
    print(it.call(classes, Child(4)))
    bump = counter()
    print(it.call(bump), it.call(bump), bump())  # each send is a snapshot; the worker keeps its copy
    print(it.call(cached, 1))
    print(it.call(lambda: [b.__name__ for b in Child.__mro__]))
"""


def test_what_a_script_function_carries_arrives_intact(tmp_path):
    out = _lines(run_file(write_script(tmp_path, CARRIES), timeout=60))
    assert out[0] == str(
        (
            720,
            True,
            True,
            "root",
            14,
            "doc of defaults",
            "defaults",
            "__main__",
            {"x": int, "y": "str", "return": list},
        )
    )
    assert out[1] == str(
        (
            "hello from child v=4",
            "static",
            "Child",
            8,
            "Base",
            ["x", "y", "tags"],
            "P(x=1, y=0, tags=[])",
            True,
        )
    )
    assert out[2] == "1 2 1"
    assert out[3] == "2"
    assert out[4] == "['Child', 'Base', 'object']"


def test_an_enum_of_the_script_travels_by_cloudpickle_and_its_functions_keep_their_lines(
    tmp_path,
):
    # The Enum class needs the cloudpickle fallback; the functions still travel natively,
    # so their traceback keeps file, line and source whatever cloudpickle version is
    # installed (3.1.3 names the code it encodes "<dynamic-code>").
    path = write_script(
        tmp_path,
        """
        import enum, sys, manygil

        class Color(enum.Enum):
            RED = 1
            BLUE = 2

        def flip(c):
            if c is Color.BLUE:
                return 1 / 0  # the failing line
            return (Color.BLUE if c is Color.RED else Color.RED), "cloudpickle" in sys.modules

        def plain(x):
            return x + 1, "cloudpickle" in sys.modules

        with manygil.Pool(1) as p:
            print(*p.submit(plain, 1).result())
            c, fell_back = p.submit(flip, Color.RED).result()
            print(c.name, fell_back)
            try:
                p.submit(flip, Color.BLUE).result()
            except ZeroDivisionError as e:
                print(e.__cause__)
        """,
    )
    r = run_file(path, timeout=60)
    out = _lines(r)
    assert out[:2] == ["2 False", "BLUE True"]
    assert "<dynamic-code>" not in r.stdout
    assert f'File "{path}", line 10, in flip' in r.stdout, r.stdout
    assert "return 1 / 0  # the failing line" in r.stdout


def test_an_empty_closure_cell_and_a_self_referencing_closure(interp):
    def make():
        def me(n):
            return n if n < 1 else me(n - 1)

        return me

    def sends_before_binding():
        def late():
            return later

        with pytest.raises(manygil.ExecutionFailed, match="later"):
            interp.call(late)  # its cell is empty: the worker's copy fails as here
        later = 5
        return interp.call(late)

    assert interp.call(make(), 3) == 0
    assert sends_before_binding() == 5


def test_a_local_class_and_its_instances_keep_their_identity_round_trip(interp):
    class Local:
        def __init__(self, v):
            self.v = v

    out = interp.call(lambda o: [o, Local(o.v + 1)], Local(1))
    assert [type(o) is Local for o in out] == [True, True]
    assert [o.v for o in out] == [1, 2]


def test_a_module_registered_by_value_with_cloudpickle_is_honoured(interp, tmp_path, monkeypatch):
    cloudpickle = pytest.importorskip("cloudpickle")
    (tmp_path / "byvalue_mod.py").write_text("def f():\n    return 'by value'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import byvalue_mod

    cloudpickle.register_pickle_by_value(byvalue_mod)
    try:
        # The worker's sys.path lacks tmp_path: only a by-value copy can run there.
        assert interp.call(lambda: byvalue_mod.f()) == "by value"
    finally:
        cloudpickle.unregister_pickle_by_value(byvalue_mod)
