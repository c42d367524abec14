//! `manygil._native.CacheCore`: this interpreter's handle on a process-wide named cache
//! ([`manygil_core::cache::Cache`]); the public face is `manygil.cache.Cache`.
//!
//! Every interpreter that opens the same name gets the same cache. A value is encoded by
//! this interpreter's codec when it is stored and decoded into a new object at every
//! `get`, so workers never share a mutable object through it.

use std::sync::Arc;

use manygil_core::cache::{Cache, IncrError, Ttl};

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::args::{self, Call};
use crate::ffi::err::{self, PyResult};
use crate::ffi::raw::{PyExc_KeyError, PyExc_OverflowError};
use crate::ffi::types::native_type;
use crate::ffi::{boolean, new_int, new_tuple, new_uint, none, Attached, Borrowed, Owned};

/// The Rust state of one `CacheCore` object.
struct CacheBox(Arc<Cache>);

native_type! {
    name: c"manygil._native.CacheCore",
    value: CacheBox,
    new: cache_new,
    methods: [
        args c"get" => c_get(get), c"get($self, key, default, /)\n--\n\nA new copy of the value under key, or default.";
        args c"set" => c_set(set), c"set($self, key, value, timeout, /)\n--\n\nStore a copy of value (timeout: None = the default, seconds, inf = forever).";
        args c"add" => c_add(add), c"add($self, key, value, timeout, /)\n--\n\nset() only if key has no live entry; returns whether it stored.";
        args c"delete" => c_delete(delete), c"delete($self, key, /)\n--\n\nRemove key; returns whether a live entry was there.";
        args c"touch" => c_touch(touch), c"touch($self, key, timeout, /)\n--\n\nGive a live entry a new timeout; returns whether one was there.";
        args c"incr" => c_incr(incr), c"incr($self, key, delta, /)\n--\n\nAdd delta to the integer under key atomically; returns the new value.\nKeyError if missing, TypeError if not a 64-bit int, OverflowError past 64 bits.";
        args c"clear" => c_clear(clear), c"clear($self, /)\n--\n\nRemove every entry.";
        args c"stats" => c_stats(stats), c"stats($self, /)\n--\n\n(entries, hits, misses, evictions, max_entries).";
    ],
}

/// `CacheCore(name, max_entries, default_timeout)`.
fn cache_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<CacheBox> {
    let [name, max_entries, default_timeout] = args::exact(py, "CacheCore", call.positionals())?;
    let name = args::string(py, "name", name)?;
    let max_entries = args::count(py, "max_entries", max_entries)?;
    if max_entries < 1 {
        return Err(err::value_error(py, "max_entries must be at least 1"));
    }
    let default_timeout = match ttl(py, default_timeout)? {
        Ttl::After(t) => Some(t),
        _ => None,
    };
    let cache = Cache::named(&name, max_entries, default_timeout)
        .map_err(|e| err::value_error(py, &format!("{e}: open it with the same settings")))?;
    Ok(CacheBox(cache))
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
    cache: &CacheBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [k, default] = args::exact(py, "get", argv)?;
    match cache.0.get(&key(py, k)?) {
        // Decoded outside the cache's lock (the Arc keeps the value).
        Some(value) => decode(py, &value),
        None => Ok(default.to_owned()),
    }
}

fn set<'py>(
    py: Attached<'py>,
    cache: &CacheBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [k, value, t] = args::exact(py, "set", argv)?;
    let (k, t) = (key(py, k)?, ttl(py, t)?);
    cache.0.set(k, encode(value, EncodeMode::Full)?, t);
    Ok(none(py))
}

fn add<'py>(
    py: Attached<'py>,
    cache: &CacheBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [k, value, t] = args::exact(py, "add", argv)?;
    let (k, t) = (key(py, k)?, ttl(py, t)?);
    let value = encode(value, EncodeMode::Full)?;
    Ok(boolean(py, cache.0.add(k, value, t)))
}

fn delete<'py>(
    py: Attached<'py>,
    cache: &CacheBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [k] = args::exact(py, "delete", argv)?;
    Ok(boolean(py, cache.0.delete(&key(py, k)?)))
}

fn touch<'py>(
    py: Attached<'py>,
    cache: &CacheBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [k, t] = args::exact(py, "touch", argv)?;
    Ok(boolean(py, cache.0.touch(&key(py, k)?, ttl(py, t)?)))
}

fn incr<'py>(
    py: Attached<'py>,
    cache: &CacheBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [k, delta] = args::exact(py, "incr", argv)?;
    let k = key(py, k)?;
    let delta = args::int(py, "delta", delta)?;
    match cache.0.incr(&k, delta) {
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
    cache: &CacheBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "clear", argv, 0, 0)?;
    cache.0.clear();
    Ok(none(py))
}

fn stats<'py>(
    py: Attached<'py>,
    cache: &CacheBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "stats", argv, 0, 0)?;
    let s = cache.0.stats();
    new_tuple(
        py,
        vec![
            new_uint(py, s.entries as u64)?,
            new_uint(py, s.hits)?,
            new_uint(py, s.misses)?,
            new_uint(py, s.evictions)?,
            new_uint(py, cache.0.max_entries() as u64)?,
        ],
    )
}
