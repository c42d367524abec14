"""Many interpreters at once, from many threads; memory stays flat over create/destroy."""

from __future__ import annotations

import threading

import helpers
import manygil


def test_create_and_destroy_200_interpreters_from_several_threads():
    errors, ids = [], []
    lock = threading.Lock()

    def worker(n):
        try:
            for _ in range(n):
                i = manygil.create()
                assert i.call(helpers.current_id) == i.id
                with lock:
                    ids.append(i.id)
                i.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[:3]
    assert len(ids) == 200 and len(set(ids)) == 200
    assert manygil.list_all() == [manygil.get_main()]


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def test_memory_is_flat_over_create_call_destroy():
    def cycle():
        i = manygil.create()
        i.call(helpers.fib, 12)
        i.call(helpers.identity, list(range(1000)))
        i.close()

    for _ in range(15):  # warm-up: caches, allocator arenas
        cycle()
    start = _rss_kib()
    for _ in range(60):
        cycle()
    growth_kib = _rss_kib() - start
    # An interpreter costs several MiB; leaking one per cycle would add far more than this.
    assert growth_kib < 8 * 1024, f"RSS grew by {growth_kib} KiB over 60 cycles"
