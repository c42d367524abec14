//! Behaviour of `manygil_core::sync`.

use manygil_core::sync::{
    AtomicInt, Barrier, BarrierError, BoundedSemaphore, CondLock, Condition, Event, Lock, RLock,
    Semaphore, SyncError,
};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);
const GENEROUS: Duration = Duration::from_secs(2);

/// Asserts that `f` took at least `at_least` (and less than a generous bound).
fn assert_waited<R>(at_least: Duration, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let result = f();
    let waited = start.elapsed();
    assert!(waited >= at_least, "waited only {waited:?}");
    assert!(waited < GENEROUS, "waited {waited:?}");
    result
}

fn parties(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

// ---- Lock ----

#[test]
fn lock_can_be_released_by_another_thread() {
    let lock = Arc::new(Lock::new());
    assert!(lock.acquire(true, None));
    let l2 = Arc::clone(&lock);
    thread::spawn(move || l2.release()).join().unwrap().unwrap();
    assert!(!lock.locked());
}

#[test]
fn lock_release_when_unlocked_is_an_error() {
    let lock = Lock::new();
    assert_eq!(lock.release(), Err(SyncError::NotLocked));
    assert!(lock.acquire(false, None));
    assert!(!lock.acquire(false, None));
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(SyncError::NotLocked));
}

#[test]
fn lock_timeout_is_exact_to_the_millisecond() {
    let lock = Lock::new();
    lock.acquire(true, None);
    assert!(!assert_waited(50 * MS, || lock.acquire(true, Some(50 * MS))));
    assert!(lock.locked(), "the timed-out acquire changed nothing");
}

#[test]
fn lock_blocked_acquirer_gets_it_on_release() {
    let lock = Arc::new(Lock::new());
    lock.acquire(true, None);
    let l2 = Arc::clone(&lock);
    let waiter = thread::spawn(move || l2.acquire(true, Some(GENEROUS)));
    thread::sleep(20 * MS);
    lock.release().unwrap();
    assert!(waiter.join().unwrap());
    assert!(lock.locked());
}

#[test]
fn lock_gives_mutual_exclusion_under_contention() {
    let lock = Arc::new(Lock::new());
    let inside = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (lock, inside, total) = (lock.clone(), inside.clone(), total.clone());
            thread::spawn(move || {
                for _ in 0..2_000 {
                    // Some threads wait in slices like the glue's Ctrl-C loop.
                    while !lock.acquire(true, if i % 2 == 0 { None } else { Some(MS) }) {}
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    total.fetch_add(1, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    lock.release().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(total.load(Ordering::SeqCst), 8_000);
    assert!(!lock.locked());
}

// ---- RLock ----

#[test]
fn rlock_is_reentrant_for_its_owner_only() {
    let lock = Arc::new(RLock::new());
    assert!(lock.acquire(1, true, None));
    assert!(lock.acquire(1, false, None));
    assert_eq!(lock.recursion_count(1), 2);
    assert_eq!(lock.recursion_count(2), 0);
    let l2 = Arc::clone(&lock);
    let other = thread::spawn(move || l2.acquire(2, true, Some(20 * MS)));
    assert!(!other.join().unwrap());
    lock.release(1).unwrap();
    assert!(lock.is_owned(1));
    lock.release(1).unwrap();
    assert!(!lock.is_owned(1));
    assert!(!lock.locked());
}

#[test]
fn rlock_release_checks_the_owner() {
    let lock = RLock::new();
    assert_eq!(lock.release(1), Err(SyncError::NotOwned));
    lock.acquire(1, true, None);
    assert_eq!(lock.release(2), Err(SyncError::NotOwned));
    assert_eq!(lock.release_all(2), Err(SyncError::NotOwned));
    assert!(lock.is_owned(1));
    lock.release(1).unwrap();
    assert_eq!(lock.release(1), Err(SyncError::NotOwned));
}

#[test]
fn rlock_release_all_and_acquire_restore_round_trip() {
    let lock = Arc::new(RLock::new());
    for _ in 0..3 {
        lock.acquire(1, true, None);
    }
    assert_eq!(lock.release_all(1), Ok(3));
    assert!(!lock.locked());
    // Another owner can take it meanwhile.
    assert!(lock.acquire(2, true, None));
    let l2 = Arc::clone(&lock);
    let restorer = thread::spawn(move || l2.acquire_restore(1, 3, Some(GENEROUS)));
    thread::sleep(20 * MS);
    lock.release(2).unwrap();
    assert!(restorer.join().unwrap());
    assert_eq!(lock.recursion_count(1), 3);
}

#[test]
fn rlock_timeout_is_exact_and_leaves_the_lock_alone() {
    let lock = Arc::new(RLock::new());
    lock.acquire(1, true, None);
    let l2 = Arc::clone(&lock);
    let timed_out = thread::spawn(move || {
        assert_waited(50 * MS, || {
            (!l2.acquire(2, true, Some(50 * MS))) && !l2.acquire_restore(2, 4, Some(MS))
        })
    });
    assert!(timed_out.join().unwrap());
    assert_eq!(lock.recursion_count(1), 1);
}

// ---- Semaphore / BoundedSemaphore ----

#[test]
fn semaphore_counts_and_times_out() {
    let sem = Semaphore::new(2);
    assert!(sem.acquire(false, None));
    assert!(sem.acquire(true, None));
    assert!(!sem.acquire(false, None));
    assert!(!assert_waited(50 * MS, || sem.acquire(true, Some(50 * MS))));
    assert_eq!(sem.value(), 0);
    sem.release(5).unwrap();
    assert_eq!(sem.value(), 5);
    assert_eq!(
        Semaphore::new(usize::MAX).release(1),
        Err(SyncError::Overflow)
    );
}

#[test]
fn semaphore_release_n_wakes_n_waiters() {
    let sem = Arc::new(Semaphore::new(0));
    let (tx, rx) = mpsc::channel();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (sem, tx) = (sem.clone(), tx.clone());
            thread::spawn(move || tx.send(sem.acquire(true, Some(GENEROUS))).unwrap())
        })
        .collect();
    thread::sleep(20 * MS);
    sem.release(2).unwrap();
    assert!(rx.recv().unwrap());
    assert!(rx.recv().unwrap());
    sem.release(1).unwrap();
    assert!(rx.recv().unwrap());
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(sem.value(), 0);
}

#[test]
fn bounded_semaphore_rejects_release_above_initial_value() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.initial_value(), 2);
    assert_eq!(sem.release(1), Err(SyncError::TooManyReleases));
    assert!(sem.acquire(true, None));
    assert!(sem.acquire(true, None));
    assert_eq!(sem.release(3), Err(SyncError::TooManyReleases));
    assert_eq!(sem.value(), 0, "a rejected release releases nothing");
    sem.release(2).unwrap();
    assert_eq!(sem.release(1), Err(SyncError::TooManyReleases));
    assert_eq!(sem.value(), 2);
}

#[test]
fn semaphore_units_are_conserved_under_contention() {
    let sem = Arc::new(BoundedSemaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (sem, inside) = (sem.clone(), inside.clone());
            thread::spawn(move || {
                for _ in 0..1_000 {
                    while !sem.acquire(true, if i % 2 == 0 { None } else { Some(MS) }) {}
                    assert!(inside.fetch_add(1, Ordering::SeqCst) < 3);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    sem.release(1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sem.value(), 3);
}

// ---- Event ----

#[test]
fn event_wakes_every_waiter() {
    let event = Arc::new(Event::new());
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let e = Arc::clone(&event);
            thread::spawn(move || e.wait(Some(GENEROUS)))
        })
        .collect();
    thread::sleep(20 * MS);
    event.set();
    for w in waiters {
        assert!(w.join().unwrap());
    }
    assert!(event.is_set());
    assert!(event.wait(Some(Duration::ZERO)));
}

#[test]
fn event_wait_times_out_exactly_when_never_set() {
    let event = Event::new();
    assert!(!assert_waited(50 * MS, || event.wait(Some(50 * MS))));
    event.set();
    event.clear();
    assert!(!event.is_set());
    assert!(!event.wait(Some(MS)));
}

#[test]
fn event_set_then_cleared_still_wakes_waiters_with_true() {
    let event = Arc::new(Event::new());
    let e2 = Arc::clone(&event);
    let waiter = thread::spawn(move || e2.wait(Some(GENEROUS)));
    thread::sleep(20 * MS);
    event.set();
    event.clear();
    assert!(waiter.join().unwrap());
}

// ---- Condition ----

fn rlock_condition() -> Arc<Condition> {
    Arc::new(Condition::new(CondLock::RLock(Arc::new(RLock::new()))))
}

#[test]
fn condition_wait_requires_the_lock() {
    let cond = rlock_condition();
    assert_eq!(cond.wait(1, Some(MS)), Err(SyncError::NotOwned));
    cond.lock().acquire(2, true, None);
    assert_eq!(cond.wait(1, Some(MS)), Err(SyncError::NotOwned));
    assert!(!cond.is_owned(1));
    assert!(cond.is_owned(2));
    let plain = Condition::new(CondLock::Lock(Arc::new(Lock::new())));
    assert_eq!(plain.wait(0, Some(MS)), Err(SyncError::NotOwned));
}

#[test]
fn condition_wait_times_out_exactly_and_restores_the_rlock() {
    let cond = rlock_condition();
    for _ in 0..2 {
        cond.lock().acquire(1, true, None);
    }
    assert_eq!(
        assert_waited(50 * MS, || cond.wait(1, Some(50 * MS))),
        Ok(false)
    );
    let CondLock::RLock(rlock) = cond.lock() else {
        unreachable!()
    };
    assert_eq!(rlock.recursion_count(1), 2, "recursion level restored");
    assert_eq!(
        cond.n_waiting(),
        0,
        "the timed-out waiter unregistered itself"
    );
}

#[test]
fn condition_notify_is_not_lost_between_release_and_wait() {
    // The waiter signals "about to wait" while holding the lock; the notifier takes the lock
    // (so the waiter has released it, i.e. is registered) and notifies at once.
    for _ in 0..200 {
        let cond = rlock_condition();
        let c2 = Arc::clone(&cond);
        let (tx, rx) = mpsc::channel();
        let waiter = thread::spawn(move || {
            c2.lock().acquire(1, true, None);
            tx.send(()).unwrap();
            let notified = c2.wait(1, Some(GENEROUS)).unwrap();
            c2.lock().release(1).unwrap();
            notified
        });
        rx.recv().unwrap();
        cond.lock().acquire(2, true, None);
        assert_eq!(cond.notify(1), 1);
        cond.lock().release(2).unwrap();
        assert!(waiter.join().unwrap());
    }
}

#[test]
fn condition_timed_out_waiter_does_not_consume_a_later_notify() {
    let cond = Arc::new(Condition::new(CondLock::Lock(Arc::new(Lock::new()))));
    // A first waiter times out...
    cond.lock().acquire(0, true, None);
    assert_eq!(cond.wait(0, Some(5 * MS)), Ok(false));
    cond.lock().release(0).unwrap();
    // ...then a second waiter must get the next notify.
    let c2 = Arc::clone(&cond);
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        c2.lock().acquire(0, true, None);
        tx.send(()).unwrap();
        let r = c2.wait(0, Some(GENEROUS));
        c2.lock().release(0).unwrap();
        r
    });
    rx.recv().unwrap();
    cond.lock().acquire(0, true, None);
    assert_eq!(cond.notify(1), 1);
    cond.lock().release(0).unwrap();
    assert_eq!(waiter.join().unwrap(), Ok(true));
}

#[test]
fn condition_notify_wakes_at_most_n_waiters_in_fifo_order() {
    let cond = rlock_condition();
    let woken = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let waiters: Vec<_> = (0..3u64)
        .map(|owner| {
            let (c, woken, tx) = (cond.clone(), woken.clone(), tx.clone());
            thread::spawn(move || {
                c.lock().acquire(owner, true, None);
                tx.send(()).unwrap();
                let notified = c.wait(owner, Some(GENEROUS)).unwrap();
                woken.fetch_add(1, Ordering::SeqCst);
                c.lock().release(owner).unwrap();
                notified
            })
        })
        .collect();
    for _ in 0..3 {
        rx.recv().unwrap();
    }
    // Waiters register before releasing the lock, so this ends once all three wait.
    while cond.n_waiting() < 3 {
        thread::yield_now();
    }
    let owner = 99;
    cond.lock().acquire(owner, true, None);
    assert_eq!(cond.notify(2), 2);
    cond.lock().release(owner).unwrap();
    thread::sleep(50 * MS);
    assert_eq!(woken.load(Ordering::SeqCst), 2);
    cond.lock().acquire(owner, true, None);
    assert_eq!(cond.notify_all(), 1);
    cond.lock().release(owner).unwrap();
    for w in waiters {
        assert!(w.join().unwrap());
    }
}

#[test]
fn condition_every_notify_reaches_exactly_one_waiter_despite_timeouts() {
    // Waiters with tiny timeouts race with notifies: each waiter a notify picked must report
    // `true`, and no `true` may come without a notify.
    let cond = rlock_condition();
    let stop = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..3u64)
        .map(|owner| {
            let (c, stop) = (cond.clone(), stop.clone());
            thread::spawn(move || {
                let mut notified = 0;
                while stop.load(Ordering::SeqCst) == 0 {
                    c.lock().acquire(owner, true, None);
                    if c.wait(owner, Some(Duration::from_micros(200))).unwrap() {
                        notified += 1;
                    }
                    c.lock().release(owner).unwrap();
                }
                notified
            })
        })
        .collect();
    let mut sent = 0;
    let start = Instant::now();
    while start.elapsed() < 300 * MS {
        cond.lock().acquire(100, true, None);
        sent += cond.notify(1);
        cond.lock().release(100).unwrap();
        thread::yield_now();
    }
    stop.store(1, Ordering::SeqCst);
    let received: usize = waiters.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(received, sent);
    assert!(sent > 0);
}

// ---- Barrier ----

#[test]
fn barrier_releases_all_parties_with_distinct_indices() {
    let barrier = Arc::new(Barrier::new(parties(4), None));
    for _round in 0..3 {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&barrier);
                thread::spawn(move || b.wait(Some(GENEROUS)).unwrap())
            })
            .collect();
        let mut indices: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        indices.sort_unstable();
        assert_eq!(indices, [0, 1, 2, 3]);
    }
    assert_eq!(barrier.parties(), 4);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

#[test]
fn barrier_timeout_breaks_it_for_everyone() {
    let barrier = Arc::new(Barrier::new(parties(3), None));
    let b2 = Arc::clone(&barrier);
    let patient = thread::spawn(move || b2.wait(Some(GENEROUS)));
    thread::sleep(20 * MS);
    assert_eq!(
        assert_waited(30 * MS, || barrier.wait(Some(30 * MS))),
        Err(BarrierError::Broken)
    );
    assert_eq!(patient.join().unwrap(), Err(BarrierError::Broken));
    assert!(barrier.broken());
    assert_eq!(barrier.wait(None), Err(BarrierError::Broken));
    barrier.reset();
    assert!(!barrier.broken());
}

#[test]
fn barrier_default_timeout_applies() {
    let barrier = Barrier::new(parties(2), Some(30 * MS));
    assert_eq!(
        assert_waited(30 * MS, || barrier.wait(None)),
        Err(BarrierError::Broken)
    );
}

#[test]
fn barrier_reset_breaks_current_waiters_and_is_reusable() {
    let barrier = Arc::new(Barrier::new(parties(2), None));
    let b2 = Arc::clone(&barrier);
    let waiter = thread::spawn(move || b2.wait(Some(GENEROUS)));
    while barrier.n_waiting() == 0 {
        thread::yield_now();
    }
    barrier.reset();
    assert_eq!(waiter.join().unwrap(), Err(BarrierError::Broken));
    assert!(!barrier.broken());
    // Usable again.
    let b3 = Arc::clone(&barrier);
    let other = thread::spawn(move || b3.wait(Some(GENEROUS)));
    let mine = barrier.wait(Some(GENEROUS)).unwrap();
    assert_eq!(mine + other.join().unwrap().unwrap(), 1);
}

#[test]
fn barrier_abort_breaks_waiters() {
    let barrier = Arc::new(Barrier::new(parties(2), None));
    let b2 = Arc::clone(&barrier);
    let waiter = thread::spawn(move || b2.wait(None));
    while barrier.n_waiting() == 0 {
        thread::yield_now();
    }
    barrier.abort();
    assert_eq!(waiter.join().unwrap(), Err(BarrierError::Broken));
    assert!(barrier.broken());
}

#[test]
fn barrier_sliced_wait_has_no_side_effects_until_it_gives_up() {
    let barrier = Arc::new(Barrier::new(parties(2), None));
    let mut stay = barrier.arrive().unwrap();
    for _ in 0..3 {
        assert_eq!(stay.wait(Some(MS)), Ok(None));
    }
    assert_eq!(barrier.n_waiting(), 1);
    assert!(!barrier.broken());
    let b2 = Arc::clone(&barrier);
    let other = thread::spawn(move || b2.wait(Some(GENEROUS)));
    let index = loop {
        if let Some(index) = stay.wait(Some(MS)).unwrap() {
            break index;
        }
    };
    assert_eq!(index, stay.index());
    assert_eq!(index + other.join().unwrap().unwrap(), 1);
    drop(stay);
    // Giving up breaks it, leaving (drop) does not.
    let stay = barrier.arrive().unwrap();
    assert_eq!(stay.time_out(), Err(BarrierError::Broken));
    assert!(barrier.broken());
    barrier.reset();
    drop(barrier.arrive().unwrap());
    assert!(!barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn barrier_cycles_do_not_mix_under_contention() {
    let barrier = Arc::new(Barrier::new(parties(3), None));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let b = Arc::clone(&barrier);
            thread::spawn(move || {
                (0..300)
                    .map(|_| b.wait(Some(GENEROUS)).unwrap())
                    .sum::<usize>()
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 300 * (1 + 2));
}

// ---- AtomicInt ----

#[test]
fn atomic_int_operations() {
    let n = AtomicInt::new(10);
    assert_eq!(n.get(), 10);
    n.set(-3);
    assert_eq!(n.add(5), 2);
    assert_eq!(n.swap(7), 2);
    assert_eq!(n.compare_exchange(7, 8), Ok(7));
    assert_eq!(n.compare_exchange(7, 9), Err(8));
    assert_eq!(AtomicInt::new(i64::MIN).add(-1), i64::MAX, "wraps");
}

#[test]
fn atomic_int_adds_are_not_lost() {
    let n = Arc::new(AtomicInt::default());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let n = Arc::clone(&n);
            thread::spawn(move || {
                for _ in 0..10_000 {
                    n.add(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(n.get(), 40_000);
}
