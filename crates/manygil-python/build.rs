//! Emits PyO3's `Py_3_X` cfgs for the interpreter being built against, and lets the
//! binaries of a non-extension build (the library's unit tests, tests/, examples), which
//! link libpython, find it at run time. (Doctests get no link arguments from here:
//! `make rust-test` runs them with `LD_LIBRARY_PATH` set.)
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    pyo3_build_config::use_pyo3_cfgs();
    // maturin builds the extension module with PYO3_BUILD_EXTENSION_MODULE set: it does not
    // link libpython, and it must not carry a path of the build machine. Every other build
    // (cargo test, cargo clippy) links libpython, and its binaries need to find it: the
    // integration tests, the examples and the library's own unit tests alike. Cargo has no
    // link-arg instruction for the library's unit-test binary alone
    // (`rustc-link-arg-tests` reaches only tests/), so such a build gives the rpath to
    // every target it links (`rustc-link-arg`, which, unlike `rustc-link-arg-examples`,
    // cargo accepts for a package without examples, e.g. built from an sdist).
    println!("cargo:rerun-if-env-changed=PYO3_BUILD_EXTENSION_MODULE");
    if std::env::var_os("PYO3_BUILD_EXTENSION_MODULE").is_some() {
        return;
    }
    if let Some(dir) = pyo3_build_config::get().lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
