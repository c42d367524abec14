//! The Rust API: an embedding program starts own-GIL workers and runs calls on them.
//!
//! One test function, because CPython is initialized once per process.

use manygil_native::{Error, Value, Worker};

#[test]
fn embedding_program_runs_calls_in_parallel_interpreters() {
    // SAFETY: initializing the embedded runtime once, on this thread, before any other
    // C-API call; then detaching so workers can take the main GIL while being created.
    let main_ts = unsafe {
        pyo3_ffi::Py_InitializeEx(0);
        pyo3_ffi::PyEval_SaveThread()
    };

    let a = Worker::spawn().expect("first worker");
    let b = Worker::spawn().expect("second worker");
    assert_ne!(a.id(), b.id());
    assert!(
        a.id() > 0 && b.id() > 0,
        "workers are sub-interpreters, not main"
    );

    let v = a.call("math", "factorial", vec![Value::Int(20)]).unwrap();
    assert_eq!(v, Value::Int(2_432_902_008_176_640_000));
    let big = b.call("math", "factorial", vec![Value::Int(30)]).unwrap();
    assert!(
        matches!(big, Value::BigInt(_)),
        "30! does not fit in 64 bits"
    );

    a.exec("counter = 41\ndef bump():\n    global counter\n    counter += 1\n    return counter")
        .unwrap();
    assert_eq!(a.call("__main__", "bump", vec![]).unwrap(), Value::Int(42));
    // Each interpreter has its own __main__.
    assert!(matches!(
        b.call("__main__", "bump", vec![]),
        Err(Error::Raised(_))
    ));

    // Calls from several Rust threads at once.
    let handles: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|w| {
            std::thread::spawn(move || {
                w.call(
                    "builtins",
                    "sum",
                    vec![Value::List((0..1000).map(Value::Int).collect())],
                )
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), Value::Int(499_500));
    }

    match a.call("builtins", "int", vec![Value::Str("x".into())]) {
        Err(Error::Raised(e)) => {
            assert_eq!(e.type_name, "ValueError");
            assert!(e.message.contains("invalid literal"), "{e:?}");
        }
        other => panic!("expected a ValueError, got {other:?}"),
    }
    match a.exec("def (:") {
        Err(Error::Raised(e)) => assert_eq!(e.type_name, "SyntaxError"),
        other => panic!("expected a SyntaxError, got {other:?}"),
    }

    let a2 = a.clone();
    a.close().unwrap();
    assert_eq!(
        a2.call("math", "sqrt", vec![Value::Float(4.0)]),
        Err(Error::Closed)
    );
    assert_eq!(a2.close(), Err(Error::Closed));
    b.close().unwrap();

    // SAFETY: all workers are closed and joined; re-attach the main thread state and
    // finalize on the thread that initialized.
    unsafe {
        pyo3_ffi::PyEval_RestoreThread(main_ts);
        assert_eq!(pyo3_ffi::Py_FinalizeEx(), 0);
    }
}
