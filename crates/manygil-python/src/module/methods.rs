//! The functions of `manygil._native`: the method table (each row: the Python name, its entry
//! point `c_<name>` and the Rust function it calls, made together by `methods!`) and the
//! module constants.

use crate::ffi::entry::methods;
use crate::ffi::err::PyResult;
use crate::ffi::{Attached, Borrowed, Owned};
use crate::interp::{api, config, inspect};
use crate::pool::at_exit;

methods! {
    /// The method table (static C data; CPython only reads it).
    pub(crate) static METHODS = [
        args c"create" => c_create(api::create), c"create($module, sys_path=None, name=None, origin=None, config=None, /)\n--\n\nCreate an interpreter on its own thread (config: a settings tuple, see check_config; None: isolated); return its id.";
        args c"check_config" => c_check_config(config::check_config), c"check_config($module, values, /)\n--\n\nRaise TypeError/ValueError if the settings tuple (gil, use_main_obmalloc, check_multi_interp_extensions, allow_fork, allow_exec, allow_threads, allow_daemon_threads) is unusable.";
        args c"interpreter_config" => c_interpreter_config(config::interpreter_config), c"interpreter_config($module, id, /)\n--\n\nThe settings tuple interpreter id was created with (None for the main interpreter).";
        args c"interp_info" => c_interp_info(api::interp_info), c"interp_info($module, id, /)\n--\n\n(name, origin, thread_name) of interpreter id, or None.";
        args c"inspect" => c_inspect(inspect::inspect), c"inspect($module, ids, timeout, /)\n--\n\nA snapshot (running task, Python stacks) of each interpreter in ids, within timeout seconds.";
        args c"set_thread_name" => c_set_thread_name(api::set_thread_name), c"set_thread_name($module, name, /)\n--\n\nName the calling OS thread (15 bytes kept).";
        args c"destroy" => c_destroy(api::destroy), c"destroy($module, id, /)\n--\n\nEnd an idle interpreter and join its thread.";
        args c"list_all" => c_list_all(api::list_all), c"list_all($module, /)\n--\n\n(id, whence) of the main and every manygil interpreter.";
        args c"get_current" => c_get_current(api::get_current), c"get_current($module, /)\n--\n\n(id, whence) of the interpreter the caller runs in.";
        args c"get_main" => c_get_main(api::get_main), c"get_main($module, /)\n--\n\n(id, whence) of the main interpreter.";
        args c"whence" => c_whence(api::whence), c"whence($module, id, /)\n--\n\nWhere interpreter id was created (a WHENCE_* constant).";
        args c"is_running" => c_is_running(api::is_running), c"is_running($module, id, /)\n--\n\nWhether interpreter id is executing a job now.";
        args c"call" => c_call(api::call_fn), c"call($module, id, callable, args, kwargs, timeout=None, /)\n--\n\nCall callable(*args, **kwargs) in interpreter id and block (GIL released) until done. Returns (True, result) or (False, exception record); past timeout the call is interrupted.";
        args c"exec" => c_exec(api::exec_fn), c"exec($module, id, source, timeout=None, /)\n--\n\nRun source in the __main__ of interpreter id; returns (True, None) or (False, exception record).";
        args c"set_main_attrs" => c_set_main_attrs(api::set_main_attrs), c"set_main_attrs($module, id, ns, /)\n--\n\nBind the items of dict ns into the __main__ of interpreter id.";
        args c"submit" => c_submit(api::submit), c"submit($module, id, callable, args, kwargs, /)\n--\n\nStart callable(*args, **kwargs) in interpreter id; return a PendingCall.";
        args c"interrupt" => c_interrupt(api::interrupt), c"interrupt($module, id, /)\n--\n\nRaise KeyboardInterrupt in the interpreter's running job.";
        args c"is_shareable" => c_is_shareable(api::is_shareable), c"is_shareable($module, obj, /)\n--\n\nWhether obj crosses interpreters natively (no pickle, no reference).";
        args c"roundtrip" => c_roundtrip(api::roundtrip), c"roundtrip($module, obj, /)\n--\n\nEncode then decode obj (codec test helper).";
        args c"shutdown" => c_shutdown(at_exit::shutdown), c"shutdown($module, /)\n--\n\nClose every manygil interpreter (atexit hook of the main interpreter); returns the ids of those still stuck in a C call after the grace period.";
        args c"after_fork_child" => c_after_fork_child(api::after_fork_child), c"after_fork_child($module, /)\n--\n\nForget the interpreters of the parent process (os.register_at_fork hook).";
        args c"__getattr__" => c_module_getattr(module_getattr), c"__getattr__($module, name, /)\n--\n\nThe exception types made on first use (QueueEmpty, QueueFull, QueueClosed).";
        args c"release" => c_release(api::release), c"release($module, id, /)\n--\n\nClose interpreter id once its queued work is done, without waiting (its owner was dropped).";
    ];
}

/// `__getattr__` of the module (PEP 562): the exception types made on first use, so that
/// an interpreter imports `queue` for their bases only when one is needed.
fn module_getattr<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    crate::ffi::args::positional(py, "__getattr__", argv, 1, 1)?;
    let name = crate::ffi::args::string(py, "name", argv[0])?;
    match crate::handles::errors::made_on_use(&name) {
        Some(exc) => crate::handles::errors::type_of(py, exc),
        None => Err(crate::ffi::err::attribute_error(
            py,
            &format!("module 'manygil._native' has no attribute '{name}'"),
        )),
    }
}

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
