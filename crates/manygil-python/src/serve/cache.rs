//! `manygil._native.CacheCore`: this interpreter's handle on a process-wide named cache
//! ([`manygil_core::cache::Cache`]); the public face is `manygil.cache.Cache`.
//!
//! Every interpreter that opens the same name gets the same cache. A value is encoded by
//! this interpreter's codec when it is stored and decoded into a new object at every
//! `get`, so workers never share a mutable object through it.

use std::ffi::c_void;
use std::sync::Arc;

use manygil_core::cache::{Cache, IncrError, Ttl};

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::args::{self, Call};
use crate::ffi::entry::{kw_new, methods};
use crate::ffi::err::{self, PyResult};
use crate::ffi::types::{self, slot, TypeSpec};
use crate::ffi::*;

/// The Rust state of one `CacheCore` object.
struct CacheBox(Arc<Cache>);

methods! {
    /// The methods of `manygil._native.CacheCore` (static C data; CPython only reads it).
    static TYPE_METHODS = [
        args c"get" => c_get(get), c"get($self, key, default, /)\n--\n\nA new copy of the value under key, or default.";
        args c"set" => c_set(set), c"set($self, key, value, timeout, /)\n--\n\nStore a copy of value (timeout: None = the default, seconds, inf = forever).";
        args c"add" => c_add(add), c"add($self, key, value, timeout, /)\n--\n\nset() only if key has no live entry; returns whether it stored.";
        args c"delete" => c_delete(delete), c"delete($self, key, /)\n--\n\nRemove key; returns whether a live entry was there.";
        args c"touch" => c_touch(touch), c"touch($self, key, timeout, /)\n--\n\nGive a live entry a new timeout; returns whether one was there.";
        args c"incr" => c_incr(incr), c"incr($self, key, delta, /)\n--\n\nAdd delta to the integer under key atomically; returns the new value.\nKeyError if missing, TypeError if not a 64-bit int, OverflowError past 64 bits.";
        args c"clear" => c_clear(clear), c"clear($self, /)\n--\n\nRemove every entry.";
        args c"stats" => c_stats(stats), c"stats($self, /)\n--\n\n(entries, hits, misses, evictions, max_entries).";
    ];
}

/// Create the `CacheCore` type for `module`'s interpreter.
pub(crate) fn create_type<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let spec = TypeSpec {
        name: c"manygil._native.CacheCore",
        dealloc: cache_dealloc,
        instantiable: true,
        slots: &[
            slot(Py_tp_new, c_cache_new as *mut c_void),
            slot(Py_tp_methods, (&raw mut TYPE_METHODS).cast()),
        ],
    };
    // SAFETY: `module` is ours (called at module exec); the tables are static;
    // `cache_dealloc` frees `BoxObject<CacheBox>` instances.
    unsafe { types::make_type::<CacheBox>(py, module, spec) }
}

kw_new!(c_cache_new => cache_new);

/// `CacheCore(name, max_entries, default_timeout)`.
fn cache_new<'py>(
    py: Attached<'py>,
    tp: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let argv = call.positionals();
    args::positional(py, "CacheCore", argv, 3, 3)?;
    let name = args::string(py, "name", argv[0])?;
    let max_entries = args::count(py, "max_entries", argv[1])?;
    if max_entries < 1 {
        return Err(err::value_error(py, "max_entries must be at least 1"));
    }
    let default_timeout = match ttl(py, argv[2])? {
        Ttl::After(t) => Some(t),
        _ => None,
    };
    let cache = Cache::named(&name, max_entries, default_timeout)
        .map_err(|e| err::value_error(py, &format!("{e}: open it with the same settings")))?;
    // SAFETY: `tp` is the CacheCore type (made by `create_type`; it is final).
    unsafe { types::new_instance(py, tp, CacheBox(cache)) }
}

unsafe extern "C" fn cache_dealloc(slf: *mut PyObject) {
    // SAFETY: CPython's tp_dealloc of the CacheCore type, made by `create_type`.
    unsafe { types::dealloc::<CacheBox>(slf) }
}

/// The cache of `slf`, a method's self: a `CacheCore` (CPython checks the type of self for
/// METH_FASTCALL methods of a type).
fn cache_of(slf: Borrowed<'_, '_>) -> Arc<Cache> {
    // SAFETY: `slf` is a CacheCore, made by `cache_new`.
    unsafe { types::value_of::<CacheBox>(slf) }.0.clone()
}

/// A timeout argument: `None` the cache's default, `inf` (or too large to reach) forever,
/// else that many seconds (negative or NaN: `ValueError`).
fn ttl(py: Attached<'_>, obj: Borrowed<'_, '_>) -> PyResult<Ttl> {
    if obj.is_none() {
        return Ok(Ttl::Default);
    }
    Ok(match args::timeout(py, Some(obj))? {
        Some(t) => Ttl::After(t),
        None => Ttl::Forever,
    })
}

fn key(py: Attached<'_>, obj: Borrowed<'_, '_>) -> PyResult<String> {
    args::string(py, "key", obj)
}

fn get<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "get", argv, 2, 2)?;
    let k = key(py, argv[0])?;
    match cache_of(slf).get(&k) {
        // Decoded outside the cache's lock (the Arc keeps the value).
        Some(value) => decode(py, &value),
        None => Ok(argv[1].to_owned()),
    }
}

fn set<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "set", argv, 3, 3)?;
    let (k, t) = (key(py, argv[0])?, ttl(py, argv[2])?);
    let value = encode(argv[1], EncodeMode::Full)?;
    cache_of(slf).set(k, value, t);
    Ok(none(py))
}

fn add<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "add", argv, 3, 3)?;
    let (k, t) = (key(py, argv[0])?, ttl(py, argv[2])?);
    let value = encode(argv[1], EncodeMode::Full)?;
    Ok(boolean(py, cache_of(slf).add(k, value, t)))
}

fn delete<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "delete", argv, 1, 1)?;
    let k = key(py, argv[0])?;
    Ok(boolean(py, cache_of(slf).delete(&k)))
}

fn touch<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "touch", argv, 2, 2)?;
    let (k, t) = (key(py, argv[0])?, ttl(py, argv[1])?);
    Ok(boolean(py, cache_of(slf).touch(&k, t)))
}

fn incr<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "incr", argv, 2, 2)?;
    let k = key(py, argv[0])?;
    let delta = args::int(py, "delta", argv[1])?;
    match cache_of(slf).incr(&k, delta) {
        Ok(n) => new_int(py, n),
        // SAFETY: a builtin exception class, valid in every interpreter; attached.
        Err(IncrError::Missing) => Err(unsafe {
            err::raise(
                py,
                PyExc_KeyError,
                &format!("no live entry under key {k:?}"),
            )
        }),
        Err(IncrError::NotAnInteger) => Err(err::type_error(
            py,
            &format!("the value under key {k:?} is not an int of at most 64 bits"),
        )),
        // SAFETY: as above.
        Err(IncrError::Overflow) => Err(unsafe {
            err::raise(
                py,
                PyExc_OverflowError,
                &format!("incrementing key {k:?} by {delta} would pass 64 bits"),
            )
        }),
    }
}

fn clear<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "clear", argv, 0, 0)?;
    cache_of(slf).clear();
    Ok(none(py))
}

fn stats<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "stats", argv, 0, 0)?;
    let cache = cache_of(slf);
    let s = cache.stats();
    new_tuple(
        py,
        vec![
            new_uint(py, s.entries as u64)?,
            new_uint(py, s.hits)?,
            new_uint(py, s.misses)?,
            new_uint(py, s.evictions)?,
            new_uint(py, cache.max_entries() as u64)?,
        ],
    )
}
