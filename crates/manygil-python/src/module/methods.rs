//! The functions of `manygil._native`: one entry point per function (`c_<name>`, made by
//! `entry!`, calling `interp::api::<name>`), the method table, and the module constants.

use crate::ffi::entry::{entry, method};
use crate::ffi::err::PyResult;
use crate::ffi::*;
use crate::interp::{api, calls};
use crate::pool::at_exit;

entry!(c_create => api::create);
entry!(c_destroy => api::destroy);
entry!(c_release => api::release);
entry!(c_list_all => api::list_all);
entry!(c_get_current => api::get_current);
entry!(c_get_main => api::get_main);
entry!(c_whence => api::whence);
entry!(c_is_running => api::is_running);
entry!(c_call => calls::call_fn);
entry!(c_exec => calls::exec_fn);
entry!(c_set_main_attrs => calls::set_main_attrs);
entry!(c_submit => calls::submit);
entry!(c_interrupt => calls::interrupt);
entry!(c_is_shareable => api::is_shareable);
entry!(c_roundtrip => api::roundtrip);
entry!(c_shutdown => at_exit::shutdown);
entry!(c_after_fork_child => api::after_fork_child);

/// The method table (static C data; CPython only reads it).
pub(crate) static mut METHODS: [PyMethodDef; 18] = [
    method!(c"create", c_create, c"create($module, sys_path=None, /)\n--\n\nCreate an own-GIL interpreter on its own thread; return its id."),
    method!(c"destroy", c_destroy, c"destroy($module, id, /)\n--\n\nEnd an idle interpreter and join its thread."),
    method!(c"list_all", c_list_all, c"list_all($module, /)\n--\n\n(id, whence) of the main and every manygil interpreter."),
    method!(c"get_current", c_get_current, c"get_current($module, /)\n--\n\n(id, whence) of the interpreter the caller runs in."),
    method!(c"get_main", c_get_main, c"get_main($module, /)\n--\n\n(id, whence) of the main interpreter."),
    method!(c"whence", c_whence, c"whence($module, id, /)\n--\n\nWhere interpreter id was created (a WHENCE_* constant)."),
    method!(c"is_running", c_is_running, c"is_running($module, id, /)\n--\n\nWhether interpreter id is executing a job now."),
    method!(c"call", c_call, c"call($module, id, callable, args, kwargs, timeout=None, /)\n--\n\nCall callable(*args, **kwargs) in interpreter id and block (GIL released) until done. Returns (True, result) or (False, exception record); past timeout the call is interrupted."),
    method!(c"exec", c_exec, c"exec($module, id, source, timeout=None, /)\n--\n\nRun source in the __main__ of interpreter id; returns (True, None) or (False, exception record)."),
    method!(c"set_main_attrs", c_set_main_attrs, c"set_main_attrs($module, id, ns, /)\n--\n\nBind the items of dict ns into the __main__ of interpreter id."),
    method!(c"submit", c_submit, c"submit($module, id, callable, args, kwargs, /)\n--\n\nStart callable(*args, **kwargs) in interpreter id; return a PendingCall."),
    method!(c"interrupt", c_interrupt, c"interrupt($module, id, /)\n--\n\nRaise KeyboardInterrupt in the interpreter's running job."),
    method!(c"is_shareable", c_is_shareable, c"is_shareable($module, obj, /)\n--\n\nWhether obj crosses interpreters natively (no pickle, no reference)."),
    method!(c"roundtrip", c_roundtrip, c"roundtrip($module, obj, /)\n--\n\nEncode then decode obj (codec test helper)."),
    method!(c"shutdown", c_shutdown, c"shutdown($module, /)\n--\n\nClose every manygil interpreter (atexit hook of the main interpreter)."),
    method!(c"after_fork_child", c_after_fork_child, c"after_fork_child($module, /)\n--\n\nForget the interpreters of the parent process (os.register_at_fork hook)."),
    method!(c"release", c_release, c"release($module, id, /)\n--\n\nClose interpreter id once its queued work is done, without waiting (its owner was dropped)."),
    PyMethodDef::zeroed(),
];

/// Module constants.
pub(crate) fn add_constants(module: Borrowed<'_, '_>) -> PyResult<()> {
    for (name, v) in [
        (c"WHENCE_UNKNOWN", api::WHENCE_UNKNOWN),
        (c"WHENCE_RUNTIME", api::WHENCE_RUNTIME),
        (c"WHENCE_MANYGIL", api::WHENCE_MANYGIL),
    ] {
        crate::ffi::module::add_int(module, name, v)?;
    }
    Ok(())
}
