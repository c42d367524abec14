//! Emits PyO3's `Py_3_X` cfgs for the interpreter being built against, and lets the
//! binaries of a non-extension build (the library's unit tests, tests/, examples), which
//! link libpython, find it at run time (`make rust-test` also sets `LD_LIBRARY_PATH` or
//! link flags, see toolchain/embed-env.sh).
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
    // Only where libpython really is: a CPython unpacked elsewhere than it was configured
    // for (the project's 3.14/3.15, see toolchain/embed-env.sh) names a directory without
    // it, and an rpath there would shadow the one the build is given for the real place.
    let config = pyo3_build_config::get();
    if let (Some(dir), Some(name)) = (config.lib_dir(), config.lib_name()) {
        if std::path::Path::new(dir)
            .join(format!("lib{name}.so"))
            .exists()
        {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
