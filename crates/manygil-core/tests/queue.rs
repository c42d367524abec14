//! Behaviour of `manygil_core::queue`.

use manygil_core::queue::{wait_any, GetError, PutError, Queue};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
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

#[test]
fn items_come_out_in_fifo_order() {
    let q = Queue::new(0);
    for i in 0..100 {
        q.put(i, None).unwrap();
    }
    assert_eq!(q.len(), 100);
    let out: Vec<i32> = (0..100).map(|_| q.try_get().unwrap()).collect();
    assert_eq!(out, (0..100).collect::<Vec<_>>());
    assert!(q.is_empty());
}

#[test]
fn bounded_queue_reports_full_and_gives_the_item_back() {
    let q = Queue::new(2);
    assert_eq!(q.maxsize(), 2);
    q.try_put("a").unwrap();
    q.try_put("b").unwrap();
    assert!(q.is_full());
    let err = q.try_put("c").unwrap_err();
    assert!(matches!(err, PutError::Full("c")));
    assert_eq!(err.into_inner(), "c");
    assert_eq!(q.len(), 2);
}

#[test]
fn unbounded_queue_is_never_full() {
    let q = Queue::new(0);
    for i in 0..10_000 {
        q.try_put(i).unwrap();
    }
    assert!(!q.is_full());
}

#[test]
fn get_timeout_is_exact_to_the_millisecond() {
    let q: Queue<u8> = Queue::new(0);
    let start = Instant::now();
    assert_eq!(q.get(Some(50 * MS)), Err(GetError::Empty));
    let waited = start.elapsed();
    assert!(waited >= 50 * MS, "waited only {waited:?}");
    assert!(waited < GENEROUS, "waited {waited:?}");
}

#[test]
fn put_timeout_is_exact_to_the_millisecond() {
    let q = Queue::new(1);
    q.put(1, None).unwrap();
    let start = Instant::now();
    assert!(matches!(q.put(2, Some(50 * MS)), Err(PutError::Full(2))));
    let waited = start.elapsed();
    assert!(waited >= 50 * MS, "waited only {waited:?}");
    assert!(waited < GENEROUS, "waited {waited:?}");
}

#[test]
fn timed_out_waits_leave_no_state_behind() {
    let q = Arc::new(Queue::new(1));
    q.put(1, None).unwrap();
    // Many short slices, as the glue's Ctrl-C loop does.
    for _ in 0..5 {
        assert!(matches!(q.put(2, Some(MS)), Err(PutError::Full(2))));
    }
    assert_eq!(q.len(), 1);
    assert_eq!(q.get(Some(MS)), Ok(1));
    for _ in 0..5 {
        assert_eq!(q.get(Some(MS)), Err(GetError::Empty));
    }
    // A later put is taken by a single later getter, not lost to the timed-out ones.
    q.put(3, None).unwrap();
    let q2 = Arc::clone(&q);
    assert_eq!(
        thread::spawn(move || q2.get(Some(GENEROUS)))
            .join()
            .unwrap(),
        Ok(3)
    );
    assert!(q.is_empty());
}

#[test]
fn blocked_getter_receives_a_later_put() {
    let q = Arc::new(Queue::new(0));
    let q2 = Arc::clone(&q);
    let getter = thread::spawn(move || q2.get(None));
    wait_for_state("the getter blocks", || q.getters_waiting() == 1);
    q.put(42, None).unwrap();
    assert_eq!(getter.join().unwrap(), Ok(42));
}

#[test]
fn blocked_putter_proceeds_when_space_is_freed() {
    let q = Arc::new(Queue::new(1));
    q.put(1, None).unwrap();
    let q2 = Arc::clone(&q);
    let putter = thread::spawn(move || q2.put(2, Some(GENEROUS)));
    wait_for_state("the putter blocks", || q.putters_waiting() == 1);
    assert_eq!(q.get(None), Ok(1));
    assert!(putter.join().unwrap().is_ok());
    assert_eq!(q.get(None), Ok(2));
}

#[test]
fn close_wakes_blocked_getter() {
    let q: Arc<Queue<u8>> = Arc::new(Queue::new(0));
    let q2 = Arc::clone(&q);
    let getter = thread::spawn(move || q2.get(None));
    wait_for_state("the getter blocks", || q.getters_waiting() == 1);
    assert!(q.close());
    assert_eq!(getter.join().unwrap(), Err(GetError::Closed));
}

#[test]
fn close_wakes_blocked_putter_and_returns_its_item() {
    let q = Arc::new(Queue::new(1));
    q.put(1, None).unwrap();
    let q2 = Arc::clone(&q);
    let putter = thread::spawn(move || q2.put(2, None));
    wait_for_state("the putter blocks", || q.putters_waiting() == 1);
    q.close();
    assert!(matches!(putter.join().unwrap(), Err(PutError::Closed(2))));
}

#[test]
fn closed_queue_drains_then_reports_closed() {
    let q = Queue::new(0);
    q.put(1, None).unwrap();
    q.put(2, None).unwrap();
    assert!(q.close());
    assert!(!q.close(), "close is idempotent");
    assert!(q.is_closed());
    assert!(matches!(q.try_put(3), Err(PutError::Closed(3))));
    assert_eq!(q.get(None), Ok(1));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.get(None), Err(GetError::Closed));
    assert_eq!(q.try_get(), Err(GetError::Closed));
}

#[test]
fn every_item_is_delivered_exactly_once_under_contention() {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    const PER_PRODUCER: usize = 5_000;
    let q = Arc::new(Queue::new(16));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    q.put(p * PER_PRODUCER + i, None).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    // Mix blocking, sliced and non-blocking gets.
                    let item = match c % 3 {
                        0 => q.get(None),
                        1 => match q.get(Some(MS)) {
                            Err(GetError::Empty) => continue,
                            other => other,
                        },
                        _ => match q.try_get() {
                            Err(GetError::Empty) => {
                                thread::yield_now();
                                continue;
                            }
                            other => other,
                        },
                    };
                    match item {
                        Ok(item) => got.push(item),
                        Err(GetError::Closed) => return got,
                        Err(GetError::Empty) => unreachable!(),
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.close();
    let mut all: Vec<usize> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let total = PRODUCERS * PER_PRODUCER;
    assert_eq!(all.len(), total);
    assert_eq!(all.iter().sum::<usize>(), total * (total - 1) / 2);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "an item was delivered twice");
}

#[test]
fn each_producer_order_is_preserved() {
    let q = Arc::new(Queue::new(8));
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..2_000u64 {
                    q.put((p, i), None).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u64; 2];
    for _ in 0..4_000 {
        let (p, i) = q.get(Some(GENEROUS)).unwrap();
        assert_eq!(i, next[p as usize]);
        next[p as usize] += 1;
    }
    for p in producers {
        p.join().unwrap();
    }
}

#[test]
fn subscribers_are_called_on_put_and_close_until_unsubscribed() {
    let q = Queue::new(0);
    let puts = Arc::new(AtomicUsize::new(0));
    let spaces = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&puts);
    let put_id = q.subscribe(Arc::new(move || {
        p.fetch_add(1, Ordering::SeqCst);
    }));
    let s = Arc::clone(&spaces);
    let space_id = q.subscribe_space(Arc::new(move || {
        s.fetch_add(1, Ordering::SeqCst);
    }));
    assert_ne!(put_id, space_id);
    q.put(1, None).unwrap();
    q.put(2, None).unwrap();
    assert_eq!(puts.load(Ordering::SeqCst), 2);
    assert_eq!(spaces.load(Ordering::SeqCst), 0);
    q.get(None).unwrap();
    assert_eq!(spaces.load(Ordering::SeqCst), 1);
    assert!(matches!(q.try_get(), Ok(2)));
    assert!(q.try_get().is_err(), "a failed get frees no space");
    assert_eq!(spaces.load(Ordering::SeqCst), 2);
    assert!(q.unsubscribe(put_id));
    assert!(!q.unsubscribe(put_id));
    q.put(3, None).unwrap();
    assert_eq!(puts.load(Ordering::SeqCst), 2);
    q.close();
    assert_eq!(
        spaces.load(Ordering::SeqCst),
        3,
        "close wakes space subscribers"
    );
    assert!(q.unsubscribe(space_id));
}

#[test]
fn subscriber_may_call_back_into_the_queue() {
    let q = Arc::new(Queue::new(0));
    let weak = Arc::downgrade(&q);
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    q.subscribe(Arc::new(move || {
        if let Some(q) = weak.upgrade() {
            if let Ok(item) = q.try_get() {
                s.fetch_add(item, Ordering::SeqCst);
            }
        }
    }));
    q.put(5, None).unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert!(q.is_empty());
}

#[test]
fn wait_any_returns_the_ready_queue_without_consuming() {
    let a = Arc::new(Queue::new(0));
    let b = Arc::new(Queue::new(0));
    let b2 = Arc::clone(&b);
    let putter = thread::spawn(move || {
        // Put only once wait_any has subscribed (it then waits for the wake-up).
        wait_for_state("wait_any subscribes", || b2.n_subscribed() == 1);
        b2.put(7, None).unwrap();
    });
    assert_eq!(wait_any(&[&a, &b], Some(GENEROUS)), Some(1));
    putter.join().unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b.try_get(), Ok(7));
}

#[test]
fn wait_any_reports_closed_queues() {
    let a: Queue<u8> = Queue::new(0);
    let b = Queue::new(0);
    b.close();
    assert_eq!(wait_any(&[&a, &b], None), Some(1));
    assert_eq!(wait_any::<u8>(&[], None), None);
}

#[test]
fn wait_any_timeout_is_exact_and_leaves_no_subscription() {
    let a: Queue<u8> = Queue::new(0);
    let b: Queue<u8> = Queue::new(0);
    let start = Instant::now();
    assert_eq!(wait_any(&[&a, &b], Some(50 * MS)), None);
    let waited = start.elapsed();
    assert!(waited >= 50 * MS, "waited only {waited:?}");
    assert!(waited < GENEROUS);
    // Its temporary subscriptions are gone.
    for q in [&a, &b] {
        assert_eq!(
            format!("{q:?}"),
            "Queue { len: 0, maxsize: 0, closed: false, subscribers: 0, space_subscribers: 0 }"
        );
    }
}

#[test]
fn wait_any_sees_a_put_racing_with_its_subscription() {
    for _ in 0..200 {
        let q = Arc::new(Queue::new(0));
        let q2 = Arc::clone(&q);
        let go = Arc::new(Barrier::new(2));
        let go2 = Arc::clone(&go);
        let putter = thread::spawn(move || {
            go2.wait();
            q2.put(1, None).unwrap();
        });
        go.wait();
        assert_eq!(wait_any(&[&*q], Some(GENEROUS)), Some(0));
        putter.join().unwrap();
        assert!(format!("{q:?}").contains("subscribers: 0"));
    }
}
