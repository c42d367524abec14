//! The value codec: Python objects of one interpreter to [`Value`]s and back.
//!
//! - `encode`: objects → `Value` (native types natively, functions/classes by reference,
//!   closure-free functions as code, everything else by pickle protocol 5).
//! - `decode`: `Value` → fresh objects of the attached interpreter.
//! - `borrowed`: large `bytes` of the main interpreter shared without a copy.
//! - `refs`: finding module-level objects by (module, qualname), with `__main__` mapped to
//!   the user's main script in every interpreter.
//!
//! Both directions run only while the interpreter that owns the objects is attached.

mod borrowed;
mod decode;
mod encode;
mod refs;

pub(crate) use decode::decode;
pub(crate) use encode::{encode, encode_wrapper, EncodeMode};

#[allow(unused_imports)]
pub(crate) use manygil_core::Value;
