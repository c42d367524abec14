//! `examples/cpu_bound.rs` runs: a Rust `main` counts primes with a Python function on a
//! pool of own-GIL interpreters, gets the right total and uses more than one interpreter.

use std::path::PathBuf;
use std::process::Command;

/// The example's binary, which `cargo test` builds next to the tests' `deps/` folder.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir.join("examples").join("cpu_bound")
}

#[test]
fn the_cpu_bound_example_counts_primes_on_several_interpreters() {
    let bin = example_binary();
    assert!(bin.exists(), "{} was not built", bin.display());
    let out = Command::new(&bin).output().expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // pi(300000): the same total from every worker count.
    assert!(stdout.contains("primes below 300000: 25997"), "{stdout}");
    let used: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("interpreters used: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the number of interpreters used");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(used >= cores.min(2), "{stdout}");
}
