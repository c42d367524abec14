//! loom models of the core's blocking primitives: every interleaving of a few threads (within
//! a preemption bound) is run, and each model asserts a property that a lost wake-up, a race
//! on the state or a wrong notify would break. A lost wake-up shows up as a loom deadlock
//! report (every thread blocked).
//!
//! Run with `make loom` (`RUSTFLAGS="--cfg loom"`, `LOOM_MAX_PREEMPTIONS` bounds the search);
//! the primitives are then built on loom's mutexes and condition variables (`src/shim.rs`).
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use manygil_core::queue::{GetError, PutError, Queue};
use manygil_core::sync::{Barrier, BarrierError, CondLock, Condition, Lock, RLock, Semaphore};
use std::num::NonZeroUsize;
use std::time::Duration;

/// A model with the preemption bound from `LOOM_MAX_PREEMPTIONS`, or 3 if unset.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

// ---- Lock ----

#[test]
fn lock_gives_mutual_exclusion_and_wakes_the_blocked_acquirer() {
    model(|| {
        let lock = Arc::new(Lock::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                thread::spawn(move || {
                    assert!(lock.acquire(true, None));
                    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                    inside.fetch_sub(1, SeqCst);
                    lock.release().unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(!lock.locked());
        assert_eq!(lock.n_waiting(), 0);
    });
}

#[test]
fn lock_released_by_another_thread_wakes_the_waiter() {
    model(|| {
        let lock = Arc::new(Lock::new());
        assert!(lock.acquire(true, None));
        let l2 = lock.clone();
        let waiter = thread::spawn(move || l2.acquire(true, None));
        // A non-blocking attempt never succeeds while held, and never blocks.
        assert!(!lock.acquire(false, None) || !lock.locked());
        lock.release().unwrap();
        assert!(waiter.join().unwrap());
        assert!(lock.locked());
    });
}

// ---- Semaphore ----

#[test]
fn semaphore_conserves_permits_and_bounds_holders() {
    model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                thread::spawn(move || {
                    assert!(sem.acquire(true, None));
                    assert!(inside.fetch_add(1, SeqCst) < 2, "more holders than permits");
                    inside.fetch_sub(1, SeqCst);
                    sem.release(1).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.value(), 2, "permits conserved");
    });
}

#[test]
fn semaphore_release_of_two_wakes_two_blocked_acquirers() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || assert!(sem.acquire(true, None)))
            })
            .collect();
        sem.release(2).unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.value(), 0, "each acquirer took exactly one permit");
    });
}

// ---- Queue ----

#[test]
fn queue_hands_items_over_in_fifo_order() {
    model(|| {
        let q = Arc::new(Queue::new(1));
        let q2 = q.clone();
        let producer = thread::spawn(move || {
            q2.put(1, None).unwrap();
            q2.put(2, None).unwrap(); // blocks until the first is taken
        });
        assert_eq!(q.get(None), Ok(1));
        assert_eq!(q.get(None), Ok(2));
        producer.join().unwrap();
        assert!(q.is_empty());
    });
}

#[test]
fn queue_close_wakes_a_blocked_getter_and_refuses_later_puts() {
    model(|| {
        let q: Arc<Queue<u8>> = Arc::new(Queue::new(0));
        let q2 = q.clone();
        let getter = thread::spawn(move || q2.get(None));
        q.close();
        assert_eq!(getter.join().unwrap(), Err(GetError::Closed));
        assert!(matches!(q.try_put(3), Err(PutError::Closed(3))));
    });
}

#[test]
fn queue_put_racing_close_is_either_delivered_or_handed_back() {
    model(|| {
        let q = Arc::new(Queue::new(0));
        let q2 = q.clone();
        let putter = thread::spawn(move || q2.put(7, None));
        let closer = {
            let q = q.clone();
            thread::spawn(move || assert!(q.close()))
        };
        let put = putter.join().unwrap();
        closer.join().unwrap();
        match put {
            Ok(()) => assert_eq!(q.get(None), Ok(7), "an accepted item is still delivered"),
            Err(PutError::Closed(item)) => assert_eq!(item, 7),
            Err(PutError::Full(_)) => panic!("an unbounded queue is never full"),
        }
        assert_eq!(q.get(None), Err(GetError::Closed));
    });
}

#[test]
fn queue_close_wakes_a_putter_blocked_on_a_full_queue() {
    model(|| {
        let q = Arc::new(Queue::new(1));
        q.put(1, None).unwrap();
        let q2 = q.clone();
        let putter = thread::spawn(move || q2.put(2, None));
        q.close();
        assert!(matches!(putter.join().unwrap(), Err(PutError::Closed(2))));
        assert_eq!(
            q.get(None),
            Ok(1),
            "a closed queue still yields what it holds"
        );
    });
}

// ---- Barrier ----

#[test]
fn barrier_releases_both_parties_in_each_generation() {
    model(|| {
        let barrier = Arc::new(Barrier::new(NonZeroUsize::new(2).unwrap(), None));
        let b2 = barrier.clone();
        let other = thread::spawn(move || [b2.wait(None).unwrap(), b2.wait(None).unwrap()]);
        let mine = [barrier.wait(None).unwrap(), barrier.wait(None).unwrap()];
        let theirs = other.join().unwrap();
        for generation in 0..2 {
            let mut indices = [mine[generation], theirs[generation]];
            indices.sort_unstable();
            assert_eq!(indices, [0, 1], "generation {generation}");
        }
        assert!(!barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn barrier_abort_breaks_a_waiting_party() {
    model(|| {
        let barrier = Arc::new(Barrier::new(NonZeroUsize::new(2).unwrap(), None));
        let b2 = barrier.clone();
        let waiter = thread::spawn(move || b2.wait(None));
        barrier.abort();
        assert_eq!(waiter.join().unwrap(), Err(BarrierError::Broken));
        assert!(barrier.broken());
    });
}

// ---- Condition (split into phases, as the glue waits) ----

#[test]
fn condition_notify_after_begin_wait_is_never_lost() {
    model(|| {
        let cond = Arc::new(Condition::new(CondLock::RLock(std::sync::Arc::new(
            RLock::new(),
        ))));
        let ready = Arc::new(AtomicUsize::new(0));
        let (c2, r2) = (cond.clone(), ready.clone());
        let waiter = thread::spawn(move || {
            assert!(c2.lock().acquire(1, true, None));
            let mut wait = c2.begin_wait(1).unwrap();
            r2.store(1, SeqCst);
            // Two slices: a zero-length one (as between Ctrl-C checks), then the real wait.
            let early = wait.wait(Some(Duration::ZERO));
            let notified = early || wait.wait(None);
            assert!(wait.reacquire() && notified);
            c2.lock().release(1).unwrap();
        });
        // Notify under the lock once the waiter has registered.
        loop {
            assert!(cond.lock().acquire(2, true, None));
            if ready.load(SeqCst) == 1 {
                break;
            }
            cond.lock().release(2).unwrap();
            thread::yield_now();
        }
        assert_eq!(cond.notify(1), 1);
        cond.lock().release(2).unwrap();
        waiter.join().unwrap();
        assert_eq!(cond.n_waiting(), 0);
    });
}
