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
/// A bound no correct run comes near, even on a loaded machine: timeouts of waits that are
/// expected to be woken, and the limit of [`wait_for_state`].
const GENEROUS: Duration = Duration::from_secs(30);
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits (yielding) until `ready()` holds: the tests wait on observable state, never on a
/// sleep. Panics with `what` if it never does (a hang would be a bug).
fn wait_for_state(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        thread::yield_now();
    }
}

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
    wait_for_state("the acquirer blocks", || lock.n_waiting() == 1);
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
    wait_for_state("the restorer blocks", || lock.n_waiting() == 1);
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
    wait_for_state("three acquirers block", || sem.n_waiting() == 3);
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
    wait_for_state("every waiter blocks", || event.n_waiting() == waiters.len());
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
    wait_for_state("the waiter blocks", || event.n_waiting() == 1);
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
    let (tx, rx) = mpsc::channel();
    // Waiter i registers only after waiter i-1 has: the arrival order is 0, 1, 2.
    let waiters: Vec<_> = (0..3u64)
        .map(|owner| {
            let (c, tx) = (cond.clone(), tx.clone());
            let waiter = thread::spawn(move || {
                c.lock().acquire(owner, true, None);
                let notified = c.wait(owner, None).unwrap();
                c.lock().release(owner).unwrap();
                tx.send(owner).unwrap();
                notified
            });
            let registered = owner as usize + 1;
            wait_for_state("the waiter registers", || cond.n_waiting() == registered);
            waiter
        })
        .collect();
    let notifier = 99;
    cond.lock().acquire(notifier, true, None);
    assert_eq!(cond.notify(2), 2);
    cond.lock().release(notifier).unwrap();
    // The two oldest wake (in either order); the youngest cannot, it waits without timeout.
    let mut first_two = [rx.recv().unwrap(), rx.recv().unwrap()];
    first_two.sort_unstable();
    assert_eq!(first_two, [0, 1]);
    assert_eq!(cond.n_waiting(), 1);
    cond.lock().acquire(notifier, true, None);
    assert_eq!(cond.notify_all(), 1);
    cond.lock().release(notifier).unwrap();
    assert_eq!(rx.recv().unwrap(), 2);
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

// ---- Condition, split into phases (as the glue waits) ----

#[test]
fn condition_split_wait_keeps_its_registration_across_slices() {
    let cond = rlock_condition();
    let slices = Arc::new(AtomicUsize::new(0));
    let (c2, s2) = (Arc::clone(&cond), Arc::clone(&slices));
    let waiter = thread::spawn(move || {
        c2.lock().acquire(1, true, None);
        let mut wait = c2.begin_wait(1).unwrap();
        while !wait.wait(Some(MS)) {
            s2.fetch_add(1, Ordering::SeqCst);
        }
        let notified = wait.reacquire();
        let held = c2.is_owned(1);
        c2.lock().release(1).unwrap();
        (notified, held)
    });
    // Notify only after the waiter's slices have timed out twice: a notify between slices
    // must still reach it.
    wait_for_state("two slices time out", || slices.load(Ordering::SeqCst) >= 2);
    cond.lock().acquire(2, true, None);
    assert_eq!(cond.n_waiting(), 1, "registered for the whole wait");
    assert_eq!(cond.notify(1), 1);
    cond.lock().release(2).unwrap();
    assert_eq!(waiter.join().unwrap(), (true, true));
}

#[test]
fn condition_split_wait_times_out_without_trace_and_restores_the_rlock() {
    let cond = rlock_condition();
    cond.lock().acquire(1, true, None);
    cond.lock().acquire(1, true, None);
    let mut wait = cond.begin_wait(1).unwrap();
    assert!(!cond.is_owned(1), "every level released while waiting");
    assert!(!wait.wait(Some(Duration::ZERO)));
    assert!(!assert_waited(20 * MS, || wait.wait(Some(20 * MS))));
    assert!(!wait.is_notified());
    assert!(wait.try_reacquire());
    assert!(!wait.reacquire(), "timed out, not notified");
    let CondLock::RLock(rlock) = cond.lock() else {
        unreachable!()
    };
    assert_eq!(rlock.recursion_count(1), 2);
    assert_eq!(cond.n_waiting(), 0);
    assert_eq!(
        cond.notify(1),
        0,
        "no registration left to consume a notify"
    );
}

#[test]
fn condition_split_wait_reacquires_only_once_the_lock_is_free() {
    let cond = rlock_condition();
    cond.lock().acquire(1, true, None);
    let mut wait = cond.begin_wait(1).unwrap();
    assert!(
        cond.lock().acquire(2, false, None),
        "released by begin_wait"
    );
    assert_eq!(cond.notify(1), 1);
    assert!(wait.is_notified());
    assert!(wait.wait(None), "notified: returns at once");
    assert!(!wait.try_reacquire(), "owner 2 holds the lock");
    assert!(
        wait.wait(None),
        "still reports the notify after giving up waiting"
    );
    cond.lock().release(2).unwrap();
    assert!(wait.try_reacquire());
    assert!(wait.reacquire());
    assert!(cond.is_owned(1));
}

#[test]
fn condition_split_waiters_are_notified_in_registration_order() {
    let cond = rlock_condition();
    let mut waits: Vec<_> = (1..=4u64)
        .map(|owner| {
            assert!(cond.lock().acquire(owner, false, None));
            cond.begin_wait(owner).unwrap()
        })
        .collect();
    assert_eq!(cond.n_waiting(), 4);
    assert_eq!(cond.notify(1), 1);
    let notified = |waits: &mut Vec<_>| -> Vec<bool> {
        waits
            .iter_mut()
            .map(|w: &mut manygil_core::sync::CondWait<'_>| w.wait(Some(Duration::ZERO)))
            .collect()
    };
    assert_eq!(notified(&mut waits), [true, false, false, false]);
    // The second waiter gives up: the next notify goes to the third, not to it.
    assert!(waits[1].try_reacquire());
    cond.lock().release(2).unwrap();
    assert_eq!(cond.notify(1), 1);
    assert_eq!(notified(&mut waits), [true, false, true, false]);
    assert_eq!(cond.notify_all(), 1);
    assert_eq!(notified(&mut waits), [true, false, true, true]);
    assert_eq!(cond.notify_all(), 0);
    // Each re-acquires in turn (the lock is free once the previous one releases it).
    for (owner, wait) in (1..=4u64).zip(waits) {
        let was_notified = owner != 2;
        if owner == 2 {
            cond.lock().acquire(2, false, None);
        }
        assert_eq!(wait.reacquire(), was_notified);
        assert!(cond.is_owned(owner));
        cond.lock().release(owner).unwrap();
    }
}

#[test]
fn condition_split_wait_dropped_midway_reacquires_and_unregisters() {
    let cond = Condition::new(CondLock::Lock(Arc::new(Lock::new())));
    cond.lock().acquire(0, true, None);
    let wait = cond.begin_wait(0).unwrap();
    assert!(!cond.is_owned(0));
    drop(wait);
    assert!(
        cond.is_owned(0),
        "dropping re-acquires, as threading's finally does"
    );
    assert_eq!(cond.n_waiting(), 0);
    assert_eq!(
        cond.begin_wait(1).map(|_| ()),
        Ok(()),
        "plain lock: any owner"
    );
    cond.lock().release(0).unwrap();
    assert!(matches!(cond.begin_wait(0), Err(SyncError::NotOwned)));
}

#[test]
fn condition_split_notify_all_wakes_every_thread() {
    let cond = rlock_condition();
    let waiters: Vec<_> = (0..3u64)
        .map(|owner| {
            let c = Arc::clone(&cond);
            thread::spawn(move || {
                c.lock().acquire(owner, true, None);
                let mut wait = c.begin_wait(owner).unwrap();
                while !wait.wait(Some(MS)) {}
                let notified = wait.reacquire();
                c.lock().release(owner).unwrap();
                notified
            })
        })
        .collect();
    wait_for_state("three waiters register", || cond.n_waiting() == 3);
    cond.lock().acquire(9, true, None);
    assert_eq!(cond.notify_all(), 3);
    cond.lock().release(9).unwrap();
    for w in waiters {
        assert!(w.join().unwrap());
    }
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
    wait_for_state("the patient party waits", || barrier.n_waiting() == 1);
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
