//! A CPU-bound Python function on every core, from a Rust `main`: counts the primes below
//! `LIMIT` in chunks on a pool of own-GIL interpreters (one per core), then once more on a
//! single interpreter, and prints both times and the interpreters that did the work.
//!
//! Run with `cargo run --release --example cpu_bound` (with `PYO3_PYTHON` naming a shared
//! CPython build, as `make rust-test` does).

use std::collections::BTreeSet;
use std::time::Instant;

use manygil_native::{Pool, Runtime, Value};

const LIMIT: i64 = 300_000;
const CHUNKS: i64 = 32;

fn count(pool: &Pool) -> (i64, BTreeSet<i64>) {
    let step = LIMIT / CHUNKS;
    let tasks: Vec<_> = (0..CHUNKS)
        .map(|i| {
            let hi = if i == CHUNKS - 1 {
                LIMIT
            } else {
                (i + 1) * step
            };
            pool.submit(
                "primes",
                "count_primes",
                vec![Value::Int(i * step), Value::Int(hi)],
            )
            .expect("submit")
        })
        .collect();
    let mut total = 0;
    let mut interpreters = BTreeSet::new();
    for t in tasks {
        match t.wait().expect("count_primes") {
            Value::Tuple(parts) => match parts.as_slice() {
                [Value::Int(n), Value::Int(id)] => {
                    total += n;
                    interpreters.insert(*id);
                }
                other => panic!("unexpected result {other:?}"),
            },
            other => panic!("unexpected result {other:?}"),
        }
    }
    (total, interpreters)
}

fn main() {
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python");
    let runtime = Runtime::start(&[here]).expect("start CPython");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());

    let pool = Pool::new(cores).expect("pool");
    count(&pool); // every worker started and `primes` imported in each
    let t = Instant::now();
    let (total, used) = count(&pool);
    let parallel = t.elapsed();
    pool.shutdown();

    let one = Pool::new(1).expect("pool of one");
    count(&one);
    let t = Instant::now();
    let (serial_total, _) = count(&one);
    let serial = t.elapsed();
    one.shutdown();

    assert_eq!(total, serial_total);
    println!("primes below {LIMIT}: {total}");
    println!("interpreters used: {}", used.len());
    println!(
        "{cores} workers: {:.1} ms; 1 worker: {:.1} ms; speedup {:.2}x",
        parallel.as_secs_f64() * 1e3,
        serial.as_secs_f64() * 1e3,
        serial.as_secs_f64() / parallel.as_secs_f64()
    );
    runtime.shutdown();
}
