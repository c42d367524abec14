"""manygil.joblib: the "manygil" joblib backend runs batches in the interpreters.

Task functions live in scaleout_tasks: this module imports joblib, which does not import in
own-GIL interpreters, so its own functions cannot be found there by module and name."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading

import pytest

joblib = pytest.importorskip("joblib")
import manygil  # noqa: E402
import manygil.joblib as mj  # noqa: E402
import scaleout_tasks as tasks  # noqa: E402
from joblib import Parallel, delayed, parallel_config  # noqa: E402
from waiting import wait_for_state  # noqa: E402

MAIN = 0


def _run(n_jobs, items, fn=tasks.square_where, **kwargs):
    with parallel_config(backend="manygil", n_jobs=n_jobs):
        return Parallel(**kwargs)(delayed(fn)(x) for x in items)


def test_importing_manygil_never_imports_dask_distributed_or_joblib():
    code = (
        "import sys, manygil; manygil.Pool; import manygil.pool, manygil.interpreters;"
        "print(sorted(m for m in ('dask', 'distributed', 'joblib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_backend_is_registered_and_claims_no_shared_memory():
    assert joblib.parallel.BACKENDS[mj.BACKEND_NAME] is mj.ManygilBackend
    assert mj.ManygilBackend.supports_sharedmem is False
    assert mj.ManygilBackend.uses_threads is False


def test_results_in_order_computed_in_interpreters():
    out = _run(2, range(50))
    assert [v for v, _ in out] == [x * x for x in range(50)]
    interps = {i for _, i in out}
    assert interps and MAIN not in interps


def test_n_jobs_minus_one_uses_every_cpu():
    with parallel_config(backend="manygil", n_jobs=-1):
        assert joblib.effective_n_jobs(None) == joblib.cpu_count()
    with parallel_config(backend="manygil", n_jobs=-2):
        assert joblib.effective_n_jobs(None) == max(joblib.cpu_count() - 1, 1)
    # n_jobs left unset under parallel_config(backend="manygil") means every CPU too.
    with parallel_config(backend="manygil"):
        assert joblib.effective_n_jobs(None) == joblib.cpu_count()
    out = _run(-1, range(8))
    assert MAIN not in {i for _, i in out} or joblib.cpu_count() == 1


def test_n_jobs_zero_is_an_error():
    with pytest.raises(ValueError, match="n_jobs == 0"):
        _run(0, range(3))


def test_one_job_runs_sequentially_like_other_backends():
    out = _run(1, range(4))
    assert out == [(x * x, MAIN) for x in range(4)]


def test_require_sharedmem_falls_back_to_threads():
    with parallel_config(backend="manygil", n_jobs=2):
        out = Parallel(require="sharedmem")(delayed(tasks.square_where)(x) for x in range(4))
    assert {i for _, i in out} == {MAIN}


def test_exceptions_propagate_with_the_remote_traceback():
    with pytest.raises(ValueError, match="item 7") as info:
        _run(2, [f"item {i}" for i in range(20)], fn=tasks.fail_on_7)
    assert "item 7" in str(info.value.__cause__)


def test_auto_batching_groups_tiny_tasks():
    pool_before = mj._shared_pool(2)
    submitted = pool_before.stats()["submitted"]
    n = 20_000
    out = _run(2, range(n), fn=tasks.add_one)
    assert out == [x + 1 for x in range(n)]
    batches = mj._shared_pool(2).stats()["submitted"] - submitted
    assert 0 < batches < n // 10  # joblib grew the batches: far fewer messages than items


def test_the_pool_is_reused_between_calls():
    _run(2, range(4))
    first = mj._shared_pool(2)
    _run(2, range(4))
    assert mj._shared_pool(2) is first


def test_return_as_generator_yields_in_order():
    with parallel_config(backend="manygil", n_jobs=2):
        gen = Parallel(return_as="generator")(delayed(tasks.square_where)(x) for x in range(10))
        assert [v for v, _ in gen] == [x * x for x in range(10)]


def test_timeout_interrupts_the_running_batches():
    pool = mj._shared_pool(2)
    # joblib raises multiprocessing's TimeoutError for Parallel(timeout=...).
    with pytest.raises((TimeoutError, multiprocessing.TimeoutError)):
        _run(2, [30, 30], fn=tasks.spin, timeout=0.5, batch_size=1)
    # The spinning tasks were interrupted in their interpreters, not left running 30 s.
    wait_for_state(lambda: pool.stats()["running"] == 0, "the pool is idle", timeout=20)
    assert [v for v, _ in _run(2, range(3))] == [0, 1, 4]


def test_a_failure_cancels_the_rest():
    pool = mj._shared_pool(2)
    before = pool.stats()
    with pytest.raises(ValueError, match="stop"):
        _run(2, [0.01, "stop"] + [30] * 6, fn=tasks.spin_or_fail, batch_size=1, pre_dispatch="all")
    wait_for_state(lambda: pool.stats()["running"] == 0, "the pool is idle", timeout=20)
    after = pool.stats()
    assert after["cancelled"] > before["cancelled"]


def test_arguments_that_cannot_cross_raise_not_shareable():
    lock = threading.Lock()
    with pytest.raises(manygil.NotShareableError):
        _run(2, [lock, lock], fn=tasks.add_one)


def test_a_pool_of_your_own():
    with manygil.Pool(2, initializer=tasks.set_marker, initargs=("mine",)) as pool:
        with parallel_config(backend=mj.ManygilBackend(pool=pool), n_jobs=-1):
            assert joblib.effective_n_jobs(None) == 2
            out = Parallel()(delayed(tasks.read_marker)() for _ in range(6))
        assert out == ["mine"] * 6
        assert pool.stats()["done"] >= 1
    with pytest.raises(TypeError, match="manygil.Pool"):
        mj.ManygilBackend(pool=object())


def test_main_script_functions_closures_and_lambdas(tmp_path):
    # The script imports joblib at its top, so it cannot be loaded in an interpreter: its
    # functions travel by value (as loky sends them).
    from conftest import run_file, write_script

    path = write_script(
        tmp_path,
        """
        import joblib
        import manygil
        import manygil.joblib

        SCALE = 3

        def scaled(x):
            return x * SCALE, manygil.get_current().id

        if __name__ == "__main__":
            offset = 100
            with joblib.parallel_config(backend="manygil", n_jobs=2):
                out = joblib.Parallel()(joblib.delayed(scaled)(i) for i in range(6))
                shifted = joblib.Parallel()(
                    joblib.delayed(lambda x: x + offset)(i) for i in range(3))
            print([v for v, _ in out], 0 not in {i for _, i in out}, shifted)
        """,
    )
    proc = run_file(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[0, 3, 6, 9, 12, 15] True [100, 101, 102]"


def test_a_lambda_inside_the_arguments_travels_by_value():
    k = 5
    out = _run(2, range(6), fn=lambda x: tasks.apply(lambda y: y * k, x))
    assert out == [x * 5 for x in range(6)]
    out = _run(2, [lambda y: y + k] * 4, fn=_apply_to_one)
    assert out == [6] * 4


def _apply_to_one(fn):  # this module imports joblib: sent by value
    return fn(1)


def test_a_batch_pickles_a_function_sent_by_value_once(monkeypatch):
    import pickle

    k = 3

    def times_k(x):  # a closure: sent by value
        return x * k

    sent = []
    with manygil.Pool(1) as pool:
        submit = pool.submit
        monkeypatch.setattr(
            pool, "submit", lambda fn, *args: sent.append(args) or submit(fn, *args)
        )
        batch = [(times_k, (i,), {}) for i in range(200)] + [(tasks.add_one, (1,), {})]
        future = mj._submit_batch(pool, batch)
        assert future.result(timeout=60) == [i * 3 for i in range(200)] + [2]
    ((blob,),) = sent
    items = pickle.loads(blob)
    # One copy of the closure for the whole batch (not one per item); the module's function
    # by reference.
    assert len({id(f) for f, _, _ in items[:200]}) == 1
    assert items[200][0] is tasks.add_one


def test_a_batch_mixing_functions_keeps_each_item_with_its_function():
    fns = [tasks.add_one, tasks.square_where]
    with parallel_config(backend="manygil", n_jobs=2):
        out = Parallel(batch_size=50)(delayed(fns[x % 2])(x) for x in range(200))
    assert [v if x % 2 == 0 else v[0] for x, v in enumerate(out)] == [
        x + 1 if x % 2 == 0 else x * x for x in range(200)
    ]
    assert MAIN not in {v[1] for v in out[1::2]}
