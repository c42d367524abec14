//! Inbox and completion behaviour across threads.

use std::thread;
use std::time::{Duration, Instant};

use manygil_core::worker::{completion, Inbox, InboxClosed, WaitError};

#[test]
fn dropped_completer_abandons_waiter() {
    let (done, result) = completion::<u8>();
    let t = thread::spawn(move || drop(done));
    assert_eq!(result.wait(None), Err(WaitError::Abandoned));
    t.join().unwrap();
}

#[test]
fn timed_out_wait_consumes_nothing() {
    let (done, result) = completion::<u8>();
    let start = Instant::now();
    assert_eq!(
        result.wait(Some(Duration::from_millis(30))),
        Err(WaitError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    done.complete(9);
    assert_eq!(result.wait(Some(Duration::from_secs(5))), Ok(9));
}

#[test]
fn send_after_close_returns_the_job_and_queued_jobs_stay() {
    let inbox = Inbox::<u32>::new();
    let sender = inbox.clone();
    sender.send(1).unwrap();
    assert!(inbox.close());
    assert!(!inbox.close(), "closing twice does nothing");
    assert!(sender.is_closed());
    match sender.send(2) {
        Err(InboxClosed(job)) => assert_eq!(job, 2),
        Ok(()) => panic!("a closed inbox took a job"),
    }
    assert_eq!(inbox.recv(Some(Duration::ZERO)), Some(1));
    assert_eq!(inbox.recv(None), None, "closed and empty: returns at once");
}

#[test]
fn close_wakes_a_blocked_receiver() {
    let inbox = Inbox::<u32>::new();
    let receiver = inbox.clone();
    let t = thread::spawn(move || receiver.recv(None));
    let start = Instant::now();
    while inbox.receivers_waiting() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "receiver never blocked"
        );
        thread::yield_now();
    }
    inbox.close();
    assert_eq!(t.join().unwrap(), None);
}

#[test]
fn close_racing_with_senders_loses_no_job() {
    for _ in 0..20 {
        let inbox = Inbox::<u64>::new();
        let senders: Vec<_> = (0..3u64)
            .map(|s| {
                let tx = inbox.clone();
                thread::spawn(move || {
                    let mut accepted = Vec::new();
                    for i in 0.. {
                        match tx.send(s << 32 | i) {
                            Ok(()) => accepted.push(s << 32 | i),
                            Err(InboxClosed(job)) => {
                                assert_eq!(job, s << 32 | i, "the refused job comes back");
                                return accepted;
                            }
                        }
                    }
                    unreachable!()
                })
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < 100 {
            got.extend(inbox.recv(Some(Duration::from_secs(30))));
        }
        inbox.close();
        got.extend(inbox.drain());
        let mut accepted: Vec<u64> = senders
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        accepted.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, accepted, "every accepted job is received exactly once");
    }
}

#[test]
fn jobs_from_many_threads_arrive_once_each() {
    let inbox = Inbox::<u64>::new();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = inbox.clone();
            thread::spawn(move || {
                for i in 0..1000u64 {
                    tx.send(p * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    let mut got = Vec::new();
    while got.len() < 4000 {
        got.push(inbox.recv(Some(Duration::from_secs(5))).expect("job lost"));
    }
    for p in producers {
        p.join().unwrap();
    }
    got.sort_unstable();
    assert_eq!(got, (0..4000).collect::<Vec<_>>());
    assert!(inbox.is_empty());
}
