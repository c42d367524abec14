//! Interpreter settings as they cross from Python: `manygil.InterpreterConfig` (Python)
//! hands them over as a plain tuple, in [`FIELDS`] order; this reads and checks it into an
//! [`InterpConfig`] (the rules: `InterpConfig::problem`), and gives it back the same way.
//! The module functions `check_config` and `interpreter_config` are here.

use crate::ffi::err::{self, PyResult};
use crate::ffi::interp_config::{Gil, InterpConfig};
use crate::ffi::values::ExactType;
use crate::ffi::{boolean, new_str, new_tuple, none, Attached, Borrowed, Owned};

use crate::ffi::args;

/// The tuple's fields, in order (as `manygil._config.FIELDS`): `gil` is "own" or "shared",
/// the others are bools.
pub(crate) const FIELDS: [&str; 7] = [
    "gil",
    "use_main_obmalloc",
    "check_multi_interp_extensions",
    "allow_fork",
    "allow_exec",
    "allow_threads",
    "allow_daemon_threads",
];

/// Read a settings tuple (None: the default, [`InterpConfig::ISOLATED`]). `TypeError` for a
/// value of the wrong type, `ValueError` for an unknown `gil` or a combination CPython
/// refuses; both name the field.
pub(crate) fn parse(py: Attached<'_>, obj: Option<Borrowed<'_, '_>>) -> PyResult<InterpConfig> {
    let Some(obj) = args::given(obj) else {
        return Ok(InterpConfig::ISOLATED);
    };
    let items = match obj.tuple_items() {
        Some(items) if items.len() == FIELDS.len() => items,
        _ => {
            return Err(err::type_error(
                py,
                &format!(
                    "an interpreter config must be a tuple of {} values ({}), not {}",
                    FIELDS.len(),
                    FIELDS.join(", "),
                    err::type_name(py, obj)
                ),
            ))
        }
    };
    let gil = match items[0].exact_type() {
        ExactType::Str => match items[0].str_utf8()? {
            "own" => Gil::Own,
            "shared" => Gil::Shared,
            other => {
                return Err(err::value_error(
                    py,
                    &format!("gil must be 'own' or 'shared', got '{other}'"),
                ))
            }
        },
        _ => {
            return Err(err::type_error(
                py,
                &format!(
                    "gil must be a str ('own' or 'shared'), not {}",
                    err::type_name(py, items[0])
                ),
            ))
        }
    };
    let mut flags = [false; 6];
    for (i, flag) in flags.iter_mut().enumerate() {
        let item = items[i + 1];
        if item.exact_type() != ExactType::Bool {
            return Err(err::type_error(
                py,
                &format!(
                    "{} must be True or False, not {}",
                    FIELDS[i + 1],
                    err::type_name(py, item)
                ),
            ));
        }
        *flag = item.is_true_singleton();
    }
    let [use_main_obmalloc, check_multi_interp_extensions, allow_fork, allow_exec, allow_threads, allow_daemon_threads] =
        flags;
    let config = InterpConfig {
        gil,
        use_main_obmalloc,
        check_multi_interp_extensions,
        allow_fork,
        allow_exec,
        allow_threads,
        allow_daemon_threads,
    };
    match config.problem() {
        Some(problem) => Err(err::value_error(py, &problem)),
        None => Ok(config),
    }
}

/// The settings as the tuple [`parse`] reads.
pub(crate) fn to_tuple<'py>(py: Attached<'py>, config: &InterpConfig) -> PyResult<Owned<'py>> {
    let mut items = vec![new_str(py, config.gil.name())?];
    for flag in [
        config.use_main_obmalloc,
        config.check_multi_interp_extensions,
        config.allow_fork,
        config.allow_exec,
        config.allow_threads,
        config.allow_daemon_threads,
    ] {
        items.push(boolean(py, flag));
    }
    new_tuple(py, items)
}

/// `check_config(values)`: raise as [`parse`] would, else return None. What
/// `InterpreterConfig` calls when it is made, so that bad settings fail there, long
/// before an interpreter is created.
pub(crate) fn check_config<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "check_config", argv, 1, 1)?;
    if argv[0].is_none() {
        return Err(err::type_error(
            py,
            "check_config() takes a tuple of settings, not None",
        ));
    }
    parse(py, Some(argv[0]))?;
    Ok(none(py))
}

/// `interpreter_config(id)`: the settings tuple interpreter `id` was created with; None
/// for the main interpreter (not made from settings). `InterpreterNotFoundError` if `id`
/// is no live manygil interpreter.
pub(crate) fn interpreter_config<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "interpreter_config", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    if id == 0 {
        return Ok(none(py));
    }
    match super::lifecycle::config_of(id) {
        Some(config) => to_tuple(py, &config),
        None => {
            super::lookup::worker_for(py, id, "inspect")?;
            // Listed by the registry but already ending: as good as gone.
            Err(crate::handles::errors::raise(
                py,
                crate::handles::errors::Exc::InterpreterNotFound,
                &format!("interpreter {id} not found (it was closed)"),
            ))
        }
    }
}
