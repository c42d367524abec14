//! Emits PyO3's `Py_3_X` cfgs for the interpreter being built against, and lets the Rust
//! integration tests (which embed CPython) find a shared libpython at run time.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    if let Some(dir) = pyo3_build_config::get().lib_dir() {
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{dir}");
    }
}
