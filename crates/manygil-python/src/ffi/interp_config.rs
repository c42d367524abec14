//! How a new interpreter is set up: the fields of CPython's `PyInterpreterConfig` as plain
//! Rust values ([`InterpConfig`]), turned into the C struct only here, and the combinations
//! CPython refuses or that would corrupt memory ([`InterpConfig::problem`]).

use pyo3_ffi::{PyInterpreterConfig, PyInterpreterConfig_OWN_GIL, PyInterpreterConfig_SHARED_GIL};

/// Which GIL a new interpreter runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gil {
    /// Its own (PEP 684): it runs in parallel with every other interpreter.
    Own,
    /// The main interpreter's: it runs only while no other interpreter of that GIL does.
    Shared,
}

impl Gil {
    /// The name the Python side uses (`InterpreterConfig.gil`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Gil::Own => "own",
            Gil::Shared => "shared",
        }
    }
}

/// The settings of one interpreter, as `PyInterpreterConfig` has them (CPython's
/// `Include/cpython/pylifecycle.h` documents each field). Plain data: it may be copied
/// anywhere, and is fixed once the interpreter exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterpConfig {
    /// Own or shared GIL.
    pub(crate) gil: Gil,
    /// Objects come from the main interpreter's allocator (`obmalloc`) instead of one of
    /// its own.
    pub(crate) use_main_obmalloc: bool,
    /// Refuse extension modules that do not declare support for this kind of interpreter
    /// (single-phase init ones always; others unless they declare support for its GIL).
    pub(crate) check_multi_interp_extensions: bool,
    /// `os.fork()` passes CPython's check (manygil's fork guard may still refuse it).
    pub(crate) allow_fork: bool,
    /// `os.execv()` and friends may replace the process.
    pub(crate) allow_exec: bool,
    /// `threading` may start threads.
    pub(crate) allow_threads: bool,
    /// `threading` may start daemon threads.
    pub(crate) allow_daemon_threads: bool,
}

impl InterpConfig {
    /// manygil's default ("isolated"): CPython's `_PyInterpreterConfig_INIT`, the
    /// settings of `concurrent.interpreters`: own GIL and allocator, only extensions that
    /// declare per-interpreter-GIL support, threads but no daemon threads, no fork or exec.
    pub(crate) const ISOLATED: InterpConfig = InterpConfig {
        gil: Gil::Own,
        use_main_obmalloc: false,
        check_multi_interp_extensions: true,
        allow_fork: false,
        allow_exec: false,
        allow_threads: true,
        allow_daemon_threads: false,
    };

    /// Why CPython refuses these settings, or why they would corrupt memory; `None` if
    /// they are usable. The text names the fields and the fix.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.gil == Gil::Own && self.use_main_obmalloc {
            // CPython documents it but does not check it: two GILs would use one allocator
            // at the same time.
            return Some(
                "gil='own' needs use_main_obmalloc=False: an interpreter with its own GIL \
                 runs at the same time as the main interpreter, so it cannot share its \
                 allocator (use gil='shared' to share it)"
                    .to_owned(),
            );
        }
        if self.gil == Gil::Own && !self.check_multi_interp_extensions {
            return Some(
                "gil='own' needs check_multi_interp_extensions=True: extension modules that \
                 do not support their own GIL would run unprotected (use gil='shared' with \
                 use_main_obmalloc=True to load them)"
                    .to_owned(),
            );
        }
        if !self.use_main_obmalloc && !self.check_multi_interp_extensions {
            // CPython: "per-interpreter obmalloc does not support single-phase init
            // extension modules" (their module state is copied between interpreters).
            return Some(
                "check_multi_interp_extensions=False needs use_main_obmalloc=True: \
                 single-phase init extension modules share objects between interpreters, \
                 which only works when they come from one allocator"
                    .to_owned(),
            );
        }
        None
    }

    /// The C struct `Py_NewInterpreterFromConfig` takes.
    pub(super) fn to_c(self) -> PyInterpreterConfig {
        let flag = |b: bool| i32::from(b);
        PyInterpreterConfig {
            use_main_obmalloc: flag(self.use_main_obmalloc),
            allow_fork: flag(self.allow_fork),
            allow_exec: flag(self.allow_exec),
            allow_threads: flag(self.allow_threads),
            allow_daemon_threads: flag(self.allow_daemon_threads),
            check_multi_interp_extensions: flag(self.check_multi_interp_extensions),
            gil: match self.gil {
                Gil::Own => PyInterpreterConfig_OWN_GIL,
                Gil::Shared => PyInterpreterConfig_SHARED_GIL,
            },
        }
    }
}
