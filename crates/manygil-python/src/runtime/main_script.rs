//! The user's main script as the main interpreter reported it (file path, or module name
//! for `python -m`). Plain data, no Python object.

use parking_lot::Mutex;

/// (path, module) of the main script; both `None` until the main interpreter sets them.
static MAIN_SCRIPT: Mutex<(Option<String>, Option<String>)> = Mutex::new((None, None));

/// Whether other interpreters can load the user's main script.
pub(crate) fn known() -> bool {
    let s = MAIN_SCRIPT.lock();
    s.0.is_some() || s.1.is_some()
}

/// Record the main script (from the main interpreter).
pub(crate) fn set(path: Option<String>, module: Option<String>) {
    *MAIN_SCRIPT.lock() = (path, module);
}

/// The recorded (path, module).
pub(crate) fn get() -> (Option<String>, Option<String>) {
    MAIN_SCRIPT.lock().clone()
}
