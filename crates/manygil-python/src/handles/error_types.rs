//! manygil's exception types, made per interpreter at module exec with their stdlib bases
//! and kept in the module state ([`ErrorTypes`]); `errors::raise` turns a Rust error into
//! one of them.
//!
//! | type | bases |
//! |---|---|
//! | `InterpreterError` | `Exception` |
//! | `InterpreterNotFoundError` | `InterpreterError` |
//! | `NotShareableError` | `TypeError` |
//! | `QueueError` | `Exception` |
//! | `QueueEmpty` | `QueueError`, `queue.Empty` |
//! | `QueueFull` | `QueueError`, `queue.Full` |
//! | `QueueClosed` | `QueueError`, `queue.ShutDown` |
//!
//! The three with a base from `queue` are made on first use (raised, or read from the
//! module through its `__getattr__`): importing `queue` (with `threading` and
//! `collections`) costs every interpreter about 0.7 MiB, and a pool worker that never
//! touches a queue would pay it only for these bases.
//!
//! Two more are other modules' classes, looked up once per interpreter on first use and
//! then kept in the module state: `BrokenPool` (defined by `manygil._errors` on top of
//! `concurrent.futures.BrokenExecutor`, which is too heavy to import in every interpreter)
//! and `threading.BrokenBarrierError`.

use std::ffi::{c_int, c_void, CStr};

use crate::ffi::err::Builtin;
use crate::ffi::err::{self, PyResult};
use crate::ffi::module::add_object;
use crate::ffi::module::StateCell;
use crate::ffi::raw::visitproc;
use crate::ffi::{import_attr, new_tuple, Attached, Borrowed, Owned};

/// One of manygil's exception types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exc {
    /// `manygil.InterpreterError`.
    Interpreter,
    /// `manygil.InterpreterNotFoundError`.
    InterpreterNotFound,
    /// `manygil.NotShareableError`.
    NotShareable,
    /// `manygil.QueueError`.
    Queue,
    /// `manygil.QueueEmpty`.
    QueueEmpty,
    /// `manygil.QueueFull`.
    QueueFull,
    /// `manygil.QueueClosed`.
    QueueClosed,
    /// `manygil.BrokenPool` (looked up on first use).
    BrokenPool,
    /// `threading.BrokenBarrierError` (looked up on first use).
    BrokenBarrier,
}

/// Number of [`Exc`] variants.
const COUNT: usize = 9;

/// Where a base class comes from.
#[derive(Clone, Copy)]
enum Base {
    /// A builtin exception class.
    Builtin(Builtin),
    /// An exception type made at module exec, earlier in [`MADE`].
    Own(Exc),
    /// `module.attr` of the stdlib (skipped if it does not exist in this Python version).
    Stdlib(&'static CStr, &'static CStr),
}

/// One type made by this module: (which, `manygil.Name`, docstring, bases).
type Made = (Exc, &'static CStr, &'static CStr, &'static [Base]);

/// The types made at module exec, in an order where bases come first; then those made on
/// first use (their bases made at exec), see [`MADE_ON_USE`].
const MADE: [Made; 7] = [
    (
        Exc::Interpreter,
        c"manygil.InterpreterError",
        c"A manygil interpreter cannot do what was asked (e.g. closing a running one).",
        &[Base::Builtin(Builtin::Exception)],
    ),
    (
        Exc::InterpreterNotFound,
        c"manygil.InterpreterNotFoundError",
        c"The interpreter does not exist (any more), or was not created by manygil.",
        &[Base::Own(Exc::Interpreter)],
    ),
    (
        Exc::NotShareable,
        c"manygil.NotShareableError",
        c"An object cannot be sent to another interpreter.\n\nRaised on the sending side, before anything is sent. The message names the object's\ntype and, where there is one, the way to make it shareable.",
        &[Base::Builtin(Builtin::TypeError)],
    ),
    (
        Exc::Queue,
        c"manygil.QueueError",
        c"Base class of the errors of manygil.Queue operations.",
        &[Base::Builtin(Builtin::Exception)],
    ),
    (
        Exc::QueueEmpty,
        c"manygil.QueueEmpty",
        c"get(block=False), get_nowait(), or get(timeout=...) found no item.\n\nAlso a queue.Empty, so code written for the queue module catches it.",
        &[Base::Own(Exc::Queue), Base::Stdlib(c"queue", c"Empty")],
    ),
    (
        Exc::QueueFull,
        c"manygil.QueueFull",
        c"put(block=False), put_nowait(), or put(timeout=...) found no room.\n\nAlso a queue.Full.",
        &[Base::Own(Exc::Queue), Base::Stdlib(c"queue", c"Full")],
    ),
    (
        Exc::QueueClosed,
        c"manygil.QueueClosed",
        c"The queue was closed with close(): raised by every put, and by gets once the\nremaining items are taken. Also a queue.ShutDown.",
        &[Base::Own(Exc::Queue), Base::Stdlib(c"queue", c"ShutDown")],
    ),
];

/// How many of [`MADE`] are made at module exec; the others on first use.
const MADE_AT_EXEC: usize = 4;

/// The types of [`MADE`] made on first use: the module's `__getattr__` answers for them.
pub(crate) fn made_on_use(name: &str) -> Option<Exc> {
    MADE[MADE_AT_EXEC..]
        .iter()
        .find(|(_, full, _, _)| full.to_bytes().strip_prefix(b"manygil.") == Some(name.as_bytes()))
        .map(|(exc, _, _, _)| *exc)
}

/// This interpreter's exception types: strong references owned by the module state (NULL
/// before exec, after clear, and for the looked-up-on-use ones until first used).
/// Zero-initialised memory is a valid empty value.
#[repr(C)]
pub(crate) struct ErrorTypes {
    /// Indexed by `Exc as usize`. A `Cell` because the looked-up-on-use slots are filled
    /// through a shared reference (Python code runs during the lookup, which may reach
    /// the module state again); only ever touched with this interpreter's GIL held.
    types: [StateCell; COUNT],
}

impl ErrorTypes {
    /// Make the exception types of [`MADE`] that are made at exec and add them to `module`.
    pub(crate) fn init(&self, py: Attached<'_>, module: Borrowed<'_, '_>) -> PyResult<()> {
        for made in &MADE[..MADE_AT_EXEC] {
            let tp = self.make(py, made)?;
            let short = made.1.to_str().unwrap_or("").trim_start_matches("manygil.");
            let short = std::ffi::CString::new(short).unwrap_or_default();
            add_object(module, &short, tp.borrow())?;
            self.set(made.0, tp);
        }
        Ok(())
    }

    /// Make one exception type of [`MADE`] (its own bases must be made already).
    fn make<'py>(&self, py: Attached<'py>, made: &Made) -> PyResult<Owned<'py>> {
        let (_, name, doc, bases) = made;
        let mut items = Vec::with_capacity(bases.len());
        for base in *bases {
            match *base {
                Base::Builtin(b) => items.push(err::builtin_class(py, b)),
                Base::Own(e) => {
                    let Some(tp) = self.types[e as usize].get(py) else {
                        return Err(err::runtime_error(
                            py,
                            "manygil._native is not initialized in this interpreter",
                        ));
                    };
                    items.push(tp)
                }
                // Every supported version has these (queue.ShutDown is 3.13+): a failure
                // fails the lookup rather than making a type without it.
                Base::Stdlib(m, a) => items.push(import_attr(py, m, a)?),
            }
        }
        let bases = new_tuple(py, items)?;
        err::new_exception_type(py, name, doc, bases.borrow())
    }

    /// Keep `tp` as the type of `exc` (releasing any earlier one).
    fn set(&self, exc: Exc, tp: Owned<'_>) {
        self.types[exc as usize].set(tp);
    }

    /// The type of `exc`, looking it up first if it is one made on first use.
    pub(crate) fn get<'py>(&self, py: Attached<'py>, exc: Exc) -> PyResult<Owned<'py>> {
        if let Some(tp) = self.types[exc as usize].get(py) {
            return Ok(tp);
        }
        let looked_up = match exc {
            Exc::BrokenPool => crate::runtime::py_names::BROKEN_POOL.get(py)?,
            Exc::BrokenBarrier => import_attr(py, c"threading", c"BrokenBarrierError")?,
            _ if MADE[MADE_AT_EXEC..].iter().any(|m| m.0 == exc) => {
                let made = MADE[MADE_AT_EXEC..].iter().filter(|m| m.0 == exc);
                match made.map(|m| self.make(py, m)).next() {
                    Some(tp) => tp?,
                    None => return Err(err::runtime_error(py, "unknown exception type")),
                }
            }
            _ => {
                return Err(err::runtime_error(
                    py,
                    "manygil._native is not initialized in this interpreter",
                ))
            }
        };
        self.set(exc, looked_up.clone());
        Ok(looked_up)
    }

    /// `tp_traverse` of the module state.
    ///
    /// # Safety
    ///
    /// Called from the module's traverse with CPython's `visit`/`arg`.
    pub(crate) unsafe fn traverse(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        for t in &self.types {
            // SAFETY: per this function's contract.
            let r = unsafe { t.visit(visit, arg) };
            if r != 0 {
                return r;
            }
        }
        0
    }

    /// Release every type (module clear/free).
    pub(crate) fn clear(&self, py: Attached<'_>) {
        for t in &self.types {
            t.clear(py);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_comes_after_its_bases_and_those_made_on_use_after_those_made_at_exec() {
        for (i, (exc, name, doc, bases)) in MADE.iter().enumerate() {
            let name = name.to_str().expect("ASCII");
            assert!(name.starts_with("manygil."), "{name}");
            assert!(!doc.is_empty(), "{name} has a docstring");
            for base in *bases {
                if let Base::Own(own) = base {
                    let at = MADE.iter().position(|m| m.0 == *own);
                    assert!(at.is_some_and(|at| at < i), "{name}: base {own:?} first");
                    if i >= MADE_AT_EXEC {
                        assert!(at.is_some_and(|at| at < MADE_AT_EXEC), "{name}: {own:?}");
                    }
                }
            }
            assert_eq!(MADE.iter().filter(|m| m.0 == *exc).count(), 1, "{name}");
        }
    }

    #[test]
    fn every_exception_has_a_slot() {
        // The last variant indexes the last slot; the looked-up ones are not made here.
        assert_eq!(Exc::BrokenBarrier as usize + 1, COUNT);
        for looked_up in [Exc::BrokenPool, Exc::BrokenBarrier] {
            assert!(MADE.iter().all(|m| m.0 != looked_up));
        }
        assert_eq!(MADE.len() + 2, COUNT);
    }
}
