"""manygil.dask on real Dask clusters on loopback: PoolPlugin on a LocalCluster of worker
processes, and ``dask worker --preload manygil.dask`` started from the command line.

Marked ``cluster`` (they start processes and take tens of seconds); ``make test`` runs them
on every version. Every wait is bounded.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed")
import dask  # noqa: E402
import dask.bag as db  # noqa: E402
import manygil  # noqa: E402
import manygil.dask as md  # noqa: E402
import scaleout_tasks as tasks  # noqa: E402
from distributed import Client, LocalCluster, wait  # noqa: E402

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

MAIN = 0
WAIT = 60  # seconds: the bound of every wait on the cluster


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, timeout=WAIT) as c,
    ):
        c.wait_for_workers(2, timeout=WAIT)
        yield c


@pytest.fixture
def plugin(client):
    """``plugin(**kwargs)`` registers a PoolPlugin for the rest of one test."""
    registered = []

    def register(**kwargs):
        p = md.PoolPlugin(**kwargs)
        replies = client.register_plugin(p)
        assert all(r["status"] == "OK" for r in replies.values()), replies
        registered.append(p)
        return p

    yield register
    for name in {p.name for p in registered}:
        try:
            client.unregister_worker_plugin(name)
        except ValueError:
            pass  # the test removed it itself


def _gather(client, futures):
    """The futures' results, waiting at most WAIT seconds (TimeoutError past it)."""
    wait(futures, timeout=WAIT)
    return client.gather(futures, errors="raise", direct=False)


def test_annotated_tasks_run_in_the_workers_interpreters(client, plugin):
    plugin()
    worker_pids = set(client.run(os.getpid).values())
    with dask.annotate(executor="manygil"):
        futures = [client.submit(tasks.where, pure=False) for _ in range(8)]
    done = _gather(client, futures)
    assert {pid for pid, _ in done} <= worker_pids
    assert MAIN not in {interp for _, interp in done}
    # Tasks without the annotation still use the worker's thread pool.
    plain = _gather(client, [client.submit(tasks.where, pure=False) for _ in range(4)])
    assert {interp for _, interp in plain} == {MAIN}


def test_default_runs_every_task_in_interpreters(client, plugin):
    plugin(default=True)
    names = client.run(tasks.executor_names)
    assert all(n["default"] == "PoolExecutor" == n["manygil"] for n in names.values())
    out = _gather(client, client.map(tasks.square_where, range(20), pure=False))
    assert [v for v, _ in out] == [x * x for x in range(20)]
    assert MAIN not in {i for _, i in out}


def test_bag_on_the_cluster(client, plugin):
    plugin(default=True)
    records = [{"name": f"p{i}", "age": (i * 7) % 60} for i in range(300)]
    b = db.from_sequence(records, npartitions=6).map(tasks.tag).filter(tasks.is_adult)
    total, interps = _gather(
        client,
        client.compute([b.fold(tasks.add_age, tasks.add, initial=0), b.pluck("interp").distinct()]),
    )
    assert total == sum(r["age"] for r in records if r["age"] >= 18)
    assert interps and MAIN not in set(interps)


def test_pool_size_follows_nthreads(client, plugin):
    plugin(max_workers=16)  # more than the worker's 2 threads: capped
    assert set(client.run(tasks.pool_size).values()) == {2}
    plugin(max_workers=1, name="one")
    assert set(client.run(tasks.pool_size, name="one").values()) == {1}


def test_a_worker_runs_nthreads_tasks_at_once_in_as_many_interpreters(client, plugin, tmp_path):
    plugin(default=True)
    worker = sorted(client.scheduler_info()["workers"])[0]  # 2 threads: 2 tasks meet there
    futures = [
        client.submit(
            tasks.meet, str(tmp_path), me, [1 - me], WAIT / 2, workers=[worker], pure=False
        )
        for me in (0, 1)
    ]
    (pid0, interp0), (pid1, interp1) = _gather(client, futures)
    assert pid0 == pid1 == client.run(os.getpid, workers=[worker])[worker]
    assert MAIN not in {interp0, interp1} and interp0 != interp1


def test_a_failing_task_fails_with_its_exception_and_the_worker_goes_on(client, plugin):
    plugin()
    with dask.annotate(executor="manygil"):
        bad = client.submit(tasks.fail, "boom in an interpreter", pure=False)
        good = client.submit(tasks.square_where, 3, pure=False)
    with pytest.raises(ValueError, match="boom in an interpreter"):
        bad.result(timeout=WAIT)
    assert good.result(timeout=WAIT)[0] == 9


def test_a_task_past_its_timeout_is_interrupted(client, plugin):
    plugin(task_timeout=30)
    with dask.annotate(executor="manygil", task_timeout=0.5):
        slow = client.submit(tasks.spin, 120, pure=False)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        slow.result(timeout=WAIT)
    assert time.monotonic() - t0 < WAIT
    # The plugin's own timeout applies without the annotation; the pool goes on.
    with dask.annotate(executor="manygil"):
        assert client.submit(tasks.spin, 0.01, pure=False).result(timeout=WAIT) == 0.01


def test_removing_the_plugin_restores_the_worker(client, plugin):
    p = plugin(default=True)
    client.unregister_worker_plugin(p.name)
    names = client.run(tasks.executor_names)
    assert all("manygil" not in n and n["default"] == "ThreadPoolExecutor" for n in names.values())
    out = _gather(client, client.map(tasks.square_where, range(4), pure=False))
    assert {i for _, i in out} == {MAIN}


def test_bad_arguments():
    with pytest.raises(ValueError, match="default=True"):
        md.PoolPlugin(name="default")
    with pytest.raises(ValueError, match="max_workers"):
        md.PoolPlugin(max_workers=0)
    with pytest.raises(TypeError, match="max_workers"):
        md.PoolPlugin(max_workers=2.5)
    with pytest.raises(ValueError, match="task_timeout"):
        md.PoolPlugin(task_timeout=-1)
    with pytest.raises(ValueError, match="fallback"):
        md.PoolPlugin(fallback="process")


def test_restarted_workers_get_the_plugin_again():
    # A cluster of its own: a restart must not disturb the other tests' cluster.
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, timeout=WAIT) as c,
    ):
        c.wait_for_workers(1, timeout=WAIT)
        c.register_plugin(md.PoolPlugin(default=True))
        before = set(c.run(os.getpid).values())
        c.restart(timeout=WAIT, wait_for_workers=True)
        c.wait_for_workers(1, timeout=WAIT)
        after = set(c.run(os.getpid).values())
        assert after and not (after & before)
        assert set(c.run(tasks.pool_size).values()) == {2}
        out = _gather(c, [c.submit(tasks.where, pure=False) for _ in range(6)])
        assert {pid for pid, _ in out} <= after
        assert MAIN not in {i for _, i in out}


def test_the_pool_is_shut_down_when_the_worker_closes():
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,  # in-process: the test can reach the worker object
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, timeout=WAIT) as c,
    ):
        c.register_plugin(md.PoolPlugin())
        (worker,) = cluster.workers.values()
        executor = worker.executors["manygil"]
        with dask.annotate(executor="manygil"):
            assert c.submit(tasks.square_where, 4).result(timeout=WAIT)[0] == 16
    with pytest.raises(RuntimeError, match="shutdown"):
        executor.pool.submit(tasks.where)
    assert executor.pool.stats()["workers"] == 0


def _python_m(log, *args):
    """``python -m *args`` with its output in the file ``log`` (read it on failure)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=WAIT)


def test_dask_worker_cli_with_preload(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler_log, worker_log = tmp_path / "scheduler.log", tmp_path / "worker.log"
    scheduler = _python_m(
        scheduler_log, "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
        "--no-dashboard", "--scheduler-file", str(scheduler_file),
    )  # fmt: skip
    worker = None
    try:
        deadline = time.monotonic() + WAIT
        address = None
        while address is None:
            assert scheduler.poll() is None, scheduler_log.read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (FileNotFoundError, ValueError, KeyError):
                time.sleep(0.1)
        # The preload's options go after the scheduler's address (click gives an unknown
        # option before it to the address argument).
        worker = _python_m(
            worker_log, "dask", "worker", address, "--host", "127.0.0.1",
            "--nthreads", "2", "--no-dashboard", "--death-timeout", str(WAIT),
            "--preload", "manygil.dask", "--manygil-default",
        )  # fmt: skip
        with Client(scheduler_file=str(scheduler_file), timeout=WAIT) as c:
            c.wait_for_workers(1, timeout=WAIT)
            assert set(c.run(tasks.pool_size).values()) == {2}
            out = _gather(c, c.map(tasks.square_where, range(10), pure=False))
            assert [v for v, _ in out] == [x * x for x in range(10)]
            assert MAIN not in {i for _, i in out}
            with pytest.raises(ValueError, match="from the cli"):
                c.submit(tasks.fail, "from the cli").result(timeout=WAIT)
    except BaseException:
        for log in (scheduler_log, worker_log):  # shown by pytest with the failure
            print(f"--- {log.name}", log.read_text() if log.exists() else "(none)", sep="\n")
        raise
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)


def test_preload_refuses_a_scheduler(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "import asyncio, manygil.dask as m;"
         "asyncio.run(m.dask_setup.callback(object(), None, False, 'manygil', None))"],
        capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "--preload manygil.dask is for workers" in proc.stderr
    assert manygil.get_current().id == MAIN


def test_closures_lambdas_and_client_script_functions_travel_by_value(client, plugin):
    plugin(default=True)
    k = 7

    def times_k(x):  # a closure: the client sends it by value
        return x * k, tasks.where()[1]

    out = _gather(client, client.map(times_k, range(5), pure=False))
    assert [v for v, _ in out] == [x * 7 for x in range(5)]
    assert MAIN not in {i for _, i in out}
    b = db.from_sequence(range(10), npartitions=2).map(lambda x: x + k).filter(lambda x: x % 2)
    (odd,) = _gather(client, [client.compute(b)])
    assert sorted(odd) == [x + 7 for x in range(10) if (x + 7) % 2]
    # A function of a module that imports distributed (this one) cannot be found by name in
    # an interpreter: it travels by value too.
    value, interp = client.submit(_here, 4, pure=False).result(timeout=WAIT)
    assert (value, interp != MAIN) == (16, True)


def _here(x):
    return x * x, tasks.where()[1]


def test_by_value_pickles_are_reused_per_function_and_never_keep_it_alive():
    import gc
    import pickle
    import weakref

    def make(k):
        def times_k(x):
            return x * k

        return times_k

    f, g = make(3), make(5)  # same code, different closures: different pickles
    blob = md._dumps_by_value(f)
    assert md._dumps_by_value(f) is blob
    assert pickle.loads(blob)(2) == 6
    assert pickle.loads(md._dumps_by_value(g))(2) == 10
    # On a worker every task brings a function object of its own: a cache that held them
    # would keep each one's globals and closure alive.
    alive, keys = weakref.ref(f), {id(f), id(g)}
    assert keys <= md._by_value_blobs.keys()
    del f, g
    gc.collect()
    assert alive() is None
    assert not keys & md._by_value_blobs.keys()


def test_a_task_refused_by_interpreters_runs_in_the_workers_threads(client, plugin):
    # numpy refuses own-GIL interpreters: with the default fallback="threads" its tasks run
    # in the worker's own threads (interpreter 0) and succeed (issue 24, item 5).
    pytest.importorskip("numpy")
    import numpy_helpers

    plugin(default=True)
    out = _gather(client, client.map(numpy_helpers.total, [10, 100, 1000], pure=False))
    assert out == [45.0, 4950.0, 499500.0]
    # Plain tasks still run in interpreters.
    where = _gather(client, [client.submit(tasks.where, pure=False) for _ in range(4)])
    assert MAIN not in {interp for _, interp in where}


def test_without_the_fallback_a_refused_task_fails_naming_the_extension(client, plugin):
    pytest.importorskip("numpy")
    import numpy_helpers

    plugin(default=True, fallback=None)
    future = client.submit(numpy_helpers.total, 10, pure=False)
    wait([future], timeout=WAIT)
    with pytest.raises(ImportError, match="numpy"):
        future.result()
