"""Dask's local scheduler on a manygil.Pool: dask.compute(..., scheduler=pool) and
dask.config.set(scheduler=pool) run the graph's tasks in the pool's interpreters."""

from __future__ import annotations

import pytest

dask = pytest.importorskip("dask")
import dask.bag as db  # noqa: E402
import manygil  # noqa: E402
import scaleout_tasks as tasks  # noqa: E402
from manygil import Pool  # noqa: E402

MAIN = 0


@pytest.fixture(scope="module")
def pool():
    p = Pool(2)
    yield p
    p.shutdown(wait=True, cancel_futures=True)


def test_compute_with_a_pool_runs_delayed_tasks_in_its_interpreters(pool):
    leaves = [dask.delayed(tasks.square_where)(i) for i in range(12)]
    (value, interps) = dask.compute(dask.delayed(tasks.total)(leaves), scheduler=pool)[0]
    assert value == sum(i * i for i in range(12))
    assert interps and MAIN not in interps
    assert manygil.get_current().id == MAIN


def test_config_set_scheduler_pool(pool):
    before = pool.stats()["submitted"]
    with dask.config.set(scheduler=pool):
        out = dask.compute(*[dask.delayed(tasks.square_where)(i) for i in range(6)])
    assert [v for v, _ in out] == [i * i for i in range(6)]
    assert {i for _, i in out} and MAIN not in {i for _, i in out}
    assert pool.stats()["submitted"] > before


RECORDS = [{"name": f"p{i}", "age": (i * 7) % 60} for i in range(200)]


def test_bag_map_filter_fold_over_records(pool):
    b = db.from_sequence(RECORDS, npartitions=8)
    adults = b.map(tasks.tag).filter(tasks.is_adult)
    total_age, interps = dask.compute(
        adults.fold(tasks.add_age, tasks.add, initial=0),
        adults.pluck("interp").distinct(),
        scheduler=pool,
    )
    assert total_age == sum(r["age"] for r in RECORDS if r["age"] >= 18)
    assert interps and MAIN not in set(interps)


def test_a_failing_task_raises_its_exception(pool):
    graph = dask.delayed(tasks.add)(dask.delayed(tasks.fail)("boom in a task"), 1)
    with pytest.raises(ValueError, match="boom in a task"):
        dask.compute(graph, scheduler=pool)
    # The pool goes on.
    assert dask.compute(dask.delayed(tasks.add)(1, 2), scheduler=pool) == (3,)


def test_many_small_tasks_over_a_deep_graph(pool):
    x = dask.delayed(0)
    for i in range(50):
        x = dask.delayed(tasks.add)(x, i)
    assert dask.compute(x, scheduler=pool) == (sum(range(50)),)


def test_functions_and_classes_of_the_main_script(tmp_path):
    # dask imports multiprocessing in the interpreters, whose import re-points
    # sys.modules["__mp_main__"] (where manygil loads the main script) at the interpreter's
    # own, empty __main__: the script's functions and classes must still be found.
    from conftest import run_file, write_script

    path = write_script(
        tmp_path,
        """
        import dask
        import manygil

        class Point:
            def __init__(self, x):
                self.x = x

        def square(x):
            return x * x, manygil.get_current().id

        def as_point(pair):
            import multiprocessing  # re-points __mp_main__ again, in the task itself
            return Point(pair[0])

        if __name__ == "__main__":
            with manygil.Pool(2) as pool:
                pairs = [dask.delayed(square)(i) for i in range(6)]
                out = dask.compute(pairs, [dask.delayed(as_point)(p) for p in pairs],
                                   scheduler=pool)
            values, points = out
            print(sorted(v for v, _ in values), {i for _, i in values} - {0} != set())
            print([p.x for p in points], type(points[0]) is Point)
        """,
    )
    proc = run_file(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "[0, 1, 4, 9, 16, 25] True",
        "[0, 1, 4, 9, 16, 25] True",
    ]


def test_main_script_objects_survive_a_task_importing_multiprocessing(tmp_path):
    from conftest import run_file, write_script

    path = write_script(
        tmp_path,
        """
        import manygil

        class Point:
            def __init__(self, x):
                self.x = x

        def as_point(x):
            import multiprocessing  # first import in this interpreter: re-points __mp_main__
            return Point(x)

        if __name__ == "__main__":
            with manygil.Pool(1) as pool:
                p = pool.submit(as_point, 5).result(60)
            print(p.x, type(p) is Point)
        """,
    )
    proc = run_file(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5 True"


def test_closures_with_cloudpickle_as_the_graph_codec(pool):
    import cloudpickle

    k = 3
    xs = [dask.delayed(lambda x: (x * k, manygil.get_current().id))(i) for i in range(4)]
    (out,) = dask.compute(xs, scheduler=pool, dumps=cloudpickle.dumps, loads=cloudpickle.loads)
    assert [v for v, _ in out] == [0, 3, 6, 9]
    assert MAIN not in {i for _, i in out}
