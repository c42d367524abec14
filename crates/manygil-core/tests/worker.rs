//! Inbox and completion behaviour across threads.

use std::thread;
use std::time::{Duration, Instant};

use manygil_core::worker::{completion, Inbox, WaitError};

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
fn send_after_receiver_gone_returns_job() {
    let inbox = Inbox::<u32>::new();
    let sender = inbox.clone();
    // Only the receiving side matters: drop every clone but one sender's receiver.
    drop(inbox);
    // `sender` still holds a receiver, so delivery works...
    assert!(sender.send(1).is_ok());
    assert_eq!(sender.drain(), vec![1]);
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
