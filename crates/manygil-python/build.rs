//! Emits PyO3's `Py_3_X` cfgs for the interpreter being built against, and lets the Rust
//! integration tests and examples (which embed CPython) find a shared libpython at run
//! time. (Doctests get no link arguments from here: `make rust-test` runs them with
//! `LD_LIBRARY_PATH` set.)
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=examples");
    pyo3_build_config::use_pyo3_cfgs();
    if let Some(dir) = pyo3_build_config::get().lib_dir() {
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{dir}");
        // Cargo refuses this instruction for a package without examples (an sdist, say).
        let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        if std::path::Path::new(&manifest).join("examples").is_dir() {
            println!("cargo:rustc-link-arg-examples=-Wl,-rpath,{dir}");
        }
    }
}
