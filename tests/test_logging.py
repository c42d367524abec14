"""Records logged in workers reach the main interpreter's logging (issue 24, item 6)."""

from __future__ import annotations

import logging

import manygil
from conftest import run_file, write_script


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def _logger(name, level):
    handler = _Collect()
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    return logger, handler


def log_at(name, level, msg, value):
    import logging

    logging.getLogger(name).log(level, msg, value)
    return value


def log_exception(name):
    import logging

    try:
        {}["missing"]
    except KeyError:
        logging.getLogger(name).exception("lookup failed")


def test_a_workers_records_reach_mains_logger_with_the_workers_name():
    _, got = _logger("mgtest.fwd", logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.INFO)  # the level workers forward at (main's root, now)
    try:
        with manygil.Pool(2) as pool:
            assert list(pool.map(log_at, ["mgtest.fwd"] * 3, [20] * 3, ["n=%s"] * 3, [1, 2, 3]))
            pool.submit(log_at, "mgtest.fwd", logging.DEBUG, "below %s", 0).result()
            pool.submit(log_exception, "mgtest.fwd").result()
    finally:
        root.setLevel(old)
    messages = sorted(r.getMessage() for r in got.records)
    assert messages == ["lookup failed", "n=1", "n=2", "n=3"], "DEBUG is below main's level"
    for r in got.records:
        # The thread's name in the worker: its own OS thread, manygil-w<interpreter id>.
        assert r.manygil_worker > 0 and r.threadName == f"manygil-w{r.manygil_worker}"
        assert r.manygil_interpreter.startswith("pool-") and ".worker-" in r.manygil_interpreter
        assert r.funcName in ("log_at", "log_exception") and r.pathname == __file__
    (failed,) = [r for r in got.records if r.levelno == logging.ERROR]
    assert "KeyError: 'missing'" in failed.exc_text


def test_mains_logger_levels_still_apply():
    _, got = _logger("mgtest.quiet", logging.ERROR)
    with manygil.Pool(1) as pool:
        pool.submit(log_at, "mgtest.quiet", logging.WARNING, "dropped %s", 1).result()
        pool.submit(log_at, "mgtest.quiet", logging.ERROR, "kept %s", 2).result()
    assert [r.getMessage() for r in got.records] == ["kept 2"]


def test_off_with_forward_logging_false():
    _, got = _logger("mgtest.off", logging.DEBUG)
    with manygil.Pool(1, forward_logging=False) as pool:
        pool.submit(log_at, "mgtest.off", logging.ERROR, "stays in the worker %s", 1).result()
    assert got.records == []


def test_a_task_that_does_not_log_does_not_import_logging():
    # A closure travels by value: running it imports nothing (a closure-free function of
    # this module would run with the module's globals, importing it, and it imports
    # logging).
    name = "logging"

    def logging_loaded():
        return name in __import__("sys").modules

    with manygil.Pool(1) as pool:
        assert pool.submit(logging_loaded).result() is False
        pool.submit(log_at, "mgtest.lazy", logging.WARNING, "now %s", 1).result()
        assert pool.submit(logging_loaded).result() is True


def test_basicconfig_of_a_script_formats_worker_records(tmp_path):
    path = write_script(
        tmp_path,
        """
        import logging, sys, manygil
        logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                            format="%(levelname)s|%(threadName)s|%(name)s|%(message)s")

        def task(x):
            import logging
            logging.getLogger("app").info("task %s", x)
            return x

        with manygil.Pool(2) as pool:
            assert sorted(pool.map(task, range(4))) == [0, 1, 2, 3]
        print("done")
        """,
    )
    r = run_file(path, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "done"
    records = sorted(lines[:-1], key=lambda line: line.rsplit(" ", 1)[1])
    assert len(records) == 4, r.stdout
    for i, line in enumerate(records):
        level, thread, name, message = line.split("|")
        assert (level, name, message) == ("INFO", "app", f"task {i}")
        assert thread.startswith("manygil-w") and thread[len("manygil-w") :].isdigit()
    assert "task" not in r.stderr, "nothing unformatted on stderr"
