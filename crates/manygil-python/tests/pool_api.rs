//! The Rust API's pool (`Runtime`, `Pool`, `Task`): results, Python tracebacks, keyword
//! arguments, timeouts, cancellation and shared memory, on real own-GIL interpreters.
//!
//! One test function, because CPython is initialized once per process.

use std::sync::Arc;
use std::time::Duration;

use manygil_native::{buffer, Call, Error, Pool, Runtime, SharedMemory, Value};

const TASKS: &str = r#"
import time

def fails(x):
    raise ValueError(f"bad value {x}")

def keywords(a, *, b=0):
    return a * 10 + b

def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"

def fill(buf, byte):
    m = memoryview(buf)
    for i in range(len(m)):
        m[i] = byte
    return len(m)
"#;

#[test]
fn a_rust_program_runs_python_tasks_on_a_pool() {
    let dir = std::env::temp_dir().join(format!("manygil-pool-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rust_api_tasks.py"), TASKS).unwrap();
    let runtime = Runtime::start(&[&dir]).expect("runtime");
    let pool = Pool::new(2).expect("pool");

    // An exception arrives typed, with its Python traceback (file, line and source).
    match pool
        .submit("rust_api_tasks", "fails", vec![Value::Int(7)])
        .unwrap()
        .wait()
    {
        Err(Error::Raised(e)) => {
            assert_eq!(e.type_name, "ValueError");
            assert_eq!(e.message, "bad value 7");
            assert!(e.traceback.contains("rust_api_tasks.py"), "{}", e.traceback);
            assert!(
                e.traceback
                    .contains(r#"raise ValueError(f"bad value {x}")"#),
                "{}",
                e.traceback
            );
        }
        other => panic!("expected ValueError, got {other:?}"),
    }

    // Keyword arguments.
    let call = Call {
        module: "rust_api_tasks".into(),
        qualname: "keywords".into(),
        args: vec![Value::Int(4)],
        kwargs: vec![("b".into(), Value::Int(2))],
        timeout: None,
    };
    assert_eq!(pool.submit_call(call).unwrap().wait(), Ok(Value::Int(42)));

    // A per-task timeout interrupts the task in its interpreter.
    let call = Call {
        module: "rust_api_tasks".into(),
        qualname: "spin".into(),
        args: vec![Value::Float(60.0)],
        timeout: Some(Duration::from_millis(200)),
        ..Call::default()
    };
    match pool.submit_call(call).unwrap().wait() {
        Err(Error::Raised(e)) => assert_eq!(e.type_name, "TimeoutError", "{e:?}"),
        other => panic!("expected TimeoutError, got {other:?}"),
    }

    // A wait that times out leaves the task running; cancelling interrupts it.
    let task = pool
        .submit("rust_api_tasks", "spin", vec![Value::Float(60.0)])
        .unwrap();
    assert_eq!(
        task.wait_timeout(Duration::from_millis(100)),
        Err(Error::TimedOut)
    );
    task.cancel();
    assert_eq!(task.wait(), Err(Error::Cancelled));

    // Shared memory: what the task writes, Rust reads; nothing is copied.
    let memory = Arc::new(SharedMemory::new(4096).unwrap());
    let task = pool
        .submit(
            "rust_api_tasks",
            "fill",
            vec![buffer(&memory), Value::Int(0xAB)],
        )
        .unwrap();
    assert_eq!(task.wait(), Ok(Value::Int(4096)));
    assert!(memory.to_vec().iter().all(|&b| b == 0xAB));

    // The pool still answers after all that, then stops cleanly.
    assert_eq!(
        pool.submit("builtins", "len", vec![Value::Str("four".into())])
            .unwrap()
            .wait(),
        Ok(Value::Int(4))
    );
    pool.shutdown();
    runtime.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
