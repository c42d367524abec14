"""Clear errors for non-isolated extension modules: the first line names the top-level
module, the extension that refused and the way out; the original text follows."""

from __future__ import annotations

import helpers
import manygil
import pytest
from manygil._wire import refusal as _refusal


def first_line(exc) -> str:
    return str(exc).splitlines()[0]


def test_pool_task_error_names_the_extension_and_the_fallback():
    with manygil.Pool(1) as pool:
        with pytest.raises(ImportError) as e:
            pool.submit(helpers.import_module, "readline").result()
    line = first_line(e.value)
    assert line.startswith("the extension module readline cannot be imported in an own-GIL")
    assert 'Pool(fallback="process")' in line
    assert "None" not in line
    assert "module readline does not support loading in subinterpreters" in str(e.value), (
        "the original text follows"
    )


def test_exec_error_names_the_extension(interp):
    with pytest.raises(manygil.ExecutionFailed) as e:
        interp.exec("import readline")
    assert first_line(e.value.__cause__).startswith("the extension module readline cannot")
    assert e.value.excinfo.msg.startswith("the extension module readline cannot")


def test_numpy_error_names_numpy_and_its_core_extension_then_numpys_text(interp):
    pytest.importorskip("numpy", reason="numpy wheels are not installed for this build")
    with pytest.raises(manygil.ExecutionFailed) as e:
        interp.call(helpers.import_module, "numpy")
    cause = e.value.__cause__
    assert isinstance(cause, ImportError)
    line = first_line(cause)
    assert line.startswith("numpy (its extension module numpy._core._multiarray_umath) cannot")
    assert 'Pool(fallback="process")' in line
    assert "IMPORTANT: PLEASE READ THIS" in str(cause), "numpy's own message follows"
    assert cause._manygil_refused == "numpy._core._multiarray_umath"


def refusal(name):
    return ImportError(f"module {name} does not support loading in subinterpreters")


def test_refused_extension_walks_cause_and_context():
    try:
        try:
            raise refusal("pkg._speedups")
        except ImportError:
            raise ImportError("pkg failed to import, see above") from None
    except ImportError as e:
        hidden = e
    assert hidden.__suppress_context__ and hidden.__context__ is not None
    assert _refusal.refused_extension(hidden) == "pkg._speedups"
    wrapped = ImportError("wrapper")
    wrapped.__cause__ = refusal("other._ext")
    assert _refusal.refused_extension(wrapped) == "other._ext"
    assert _refusal.refused_extension(ImportError("No module named 'x'")) is None
    assert _refusal.refused_extension(ValueError("module a does not support x")) is None


def test_a_rewritten_refusal_without_a_name_falls_back_to_the_importing_module(tmp_path):
    (tmp_path / "importer_mod.py").write_text(
        "raise ImportError('this extension does not support loading in subinterpreters')\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ImportError) as e:
            import importer_mod  # noqa: F401
    finally:
        sys.path.remove(str(tmp_path))
    assert _refusal.refused_extension(e.value) == "importer_mod"


def test_explain_is_idempotent():
    exc = refusal("a.b")
    assert _refusal.explain(exc) == "a.b"
    once = str(exc)
    assert _refusal.explain(exc) == "a.b"
    assert str(exc) == once
    assert once.startswith("a (its extension module a.b) cannot be imported")
