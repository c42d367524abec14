"""Module-level functions the handle tests (queues, buffers, sync) run inside interpreters."""

from __future__ import annotations

import struct
import time

from waiting import wait_for_state

# --- queues ----------------------------------------------------------------------------


def produce(q, start, count):
    """Put start .. start+count-1; return how many were put."""
    for i in range(start, start + count):
        q.put(i, timeout=30)
    return count


def consume_until_closed(q):
    """Get until the queue is closed and drained; return the items got, in order."""
    return list(q)


def get_one(q, timeout=None):
    return q.get(timeout=timeout)


def put_one(q, item):
    q.put(item, timeout=30)
    return True


def acquire_release(prim, timeout):
    """Acquire `prim` (a lock or semaphore, waiting at most timeout seconds), then release."""
    assert prim.acquire(timeout=timeout)
    prim.release()
    return True


def put_once_subscribed(q, item):
    """Put `item` once someone (wait_any, aget) waits on `q` through a subscription."""
    wait_for_state(lambda: q._n_subscribed > 0, "a subscriber waits")
    q.put(item, timeout=30)
    return True


def set_once_waited(event):
    """Set `event` once a thread is blocked in event.wait()."""
    wait_for_state(lambda: event._n_waiting > 0, "a thread waits on the event")
    event.set()


def put_when_set(event, q, item, timeout):
    """Wait for `event` (at most timeout seconds, then put anyway), then put `item`."""
    event.wait(timeout)
    q.put(item, timeout=30)
    return True


def echo(qin, qout, n):
    """Move n items from qin to qout."""
    for _ in range(n):
        qout.put(qin.get(timeout=30), timeout=30)
    return n


def ping(q_out, q_in, n):
    """Send 0..n-1 and expect each back incremented; return the last reply."""
    last = None
    for i in range(n):
        q_out.put(i, timeout=30)
        last = q_in.get(timeout=30)
        assert last == i + 1, (last, i)
    return last


def pong(q_in, q_out, n):
    for _ in range(n):
        q_out.put(q_in.get(timeout=30) + 1, timeout=30)
    return n


def same_handles(a, b):
    return a == b and hash(a) == hash(b)


def queue_from_queue(q):
    """Get a queue out of q and put a marker into it."""
    inner = q.get(timeout=30)
    inner.put("through a queue", timeout=30)
    return inner.qsize()


def keep_in_main(name, value):
    """Store value as __main__.<name> of the calling interpreter (keeps it alive)."""
    import __main__

    setattr(__main__, name, value)


def drop_from_main(name):
    import __main__

    delattr(__main__, name)


def main_attr(name):
    import __main__

    return getattr(__main__, name)


# --- shared buffers ----------------------------------------------------------------------


def buffer_write(buf, offset, data):
    buf[offset : offset + len(data)] = data
    return len(buf)


def buffer_read(buf, offset, n):
    return bytes(buf[offset : offset + n])


def buffer_pack(buf, fmt, offset, *values):
    struct.pack_into(fmt, buf, offset, *values)


def hold_view(name, buf):
    """Keep a memoryview of buf in __main__.<name>, dropping the handle itself."""
    import __main__

    setattr(__main__, name, memoryview(buf))
    return buf._shares


def read_view(name, start, stop):
    import __main__

    return bytes(getattr(__main__, name)[start:stop])


def write_view(name, offset, data):
    import __main__

    view = getattr(__main__, name)
    view[offset : offset + len(data)] = data


def release_view(name):
    import __main__

    getattr(__main__, name).release()
    delattr(__main__, name)


def shares_of_main(name):
    import __main__

    return getattr(__main__, name)._shares


# --- sync --------------------------------------------------------------------------------


def hold_lock(lock, ready, release, timeout=30):
    """Acquire lock, set ready, wait for release, then release the lock."""
    assert lock.acquire(timeout=timeout)
    ready.set()
    assert release.wait(timeout)
    lock.release()
    return True


def try_release(lock):
    """Release lock here; return the exception's type name, or "ok"."""
    try:
        lock.release()
    except Exception as e:
        return type(e).__name__
    return "ok"


def locked_increments(lock, buf, n):
    """n read-modify-write increments of the u64 at buf[0:8], each under lock."""
    for _ in range(n):
        with lock:
            (v,) = struct.unpack_from("<Q", buf, 0)
            struct.pack_into("<Q", buf, 0, v + 1)
    return n


def atomic_adds(counter, n):
    for _ in range(n):
        counter.add(1)
    return n


def wait_event(event, timeout):
    return event.wait(timeout)


def barrier_rounds(barrier, rounds, timeout=30):
    """Wait at the barrier `rounds` times; return the arrival indices."""
    return [barrier.wait(timeout) for _ in range(rounds)]


def barrier_wait_catch(barrier, timeout):
    import threading

    try:
        return barrier.wait(timeout)
    except threading.BrokenBarrierError:
        return "broken"


def condition_consumer(cond, items, n, timeout=30):
    """Take n items from the shared list-like queue `items` (a manygil.Queue used as a
    mailbox), waiting on cond for a counter in `items` to be non-empty."""
    got = []
    for _ in range(n):
        with cond:
            assert cond.wait_for(lambda: not items.empty(), timeout)
            got.append(items.get_nowait())
    return got


def condition_producer(cond, items, values):
    for v in values:
        with cond:
            items.put(v)
            cond.notify()
    return len(values)


def semaphore_hold(sem, inside, peak, n):
    """n times: acquire sem, count the holders (AtomicInt inside), track the peak."""
    for _ in range(n):
        with sem:
            now = inside.add(1)
            while True:
                top = peak.get()
                if now <= top or peak.compare_exchange(top, now)[0]:
                    break
            time.sleep(0.001)
            inside.add(-1)
    return n
