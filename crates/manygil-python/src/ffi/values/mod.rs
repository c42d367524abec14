//! Values of the builtin types: telling them apart and reading them ([`read`]: methods on
//! `Borrowed`), and making them ([`make`]: free functions taking `Attached`). Each wrapper
//! is one C-API call (two for sizes-then-data) that checks the object's type itself, so a
//! wrong object raises `TypeError`/`SystemError` instead of being undefined behaviour;
//! NULL/-1 become `Err(PyErrSet)`.

pub(crate) mod make;
pub(crate) mod read;

pub(crate) use make::{
    boolean, int_from_le_bytes, marshal_loads, new_bytearray, new_bytes, new_complex, new_dict,
    new_float, new_frozenset, new_function, new_int, new_list, new_set, new_str, new_tuple,
    new_uint, none, str_from_latin1, str_from_surrogatepass,
};
pub(crate) use read::ExactType;
