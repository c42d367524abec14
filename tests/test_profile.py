"""``Pool.profile()``: cProfile statistics of the workers' tasks, merged (issue 24, item 8)."""

from __future__ import annotations

import helpers
import manygil
import pytest


def _calls_of(stats, funcname):
    return sum(v[1] for (_, _, name), v in stats.stats.items() if name == funcname)


def test_a_profile_merges_every_task_of_the_block_and_results_are_unchanged():
    with manygil.Pool(2) as pool:
        with pool.profile() as prof:
            assert [f.result() for f in [pool.submit(helpers.add, i, 1) for i in range(5)]] == [
                1,
                2,
                3,
                4,
                5,
            ]
            assert list(pool.map(helpers.square, range(7), chunksize=3)) == [
                x * x for x in range(7)
            ]
            with pytest.raises(ZeroDivisionError):
                pool.submit(helpers.ratio, 1, 0).result()
        assert prof.stats is not None
        assert prof.tasks == 5 + 7 + 1  # map items are profiled one by one
        assert _calls_of(prof.stats, "add") == 5
        assert _calls_of(prof.stats, "square") == 7
        assert _calls_of(prof.stats, "ratio") == 1, "a task that raised is counted too"
        # After the block: tasks are not profiled (they run the function itself).
        assert pool.submit(helpers.add, 1, 1).result() == 2
        assert pool._profile is None


def test_one_block_at_a_time():
    with manygil.Pool(1) as pool, pool.profile():
        with pytest.raises(RuntimeError, match="already being profiled"):
            with pool.profile():
                pass
