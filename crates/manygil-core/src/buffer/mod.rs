//! Fixed-size byte memory shared by every interpreter.
//!
//! [`SharedMemory`] owns the bytes; [`SharedBuffer`] is the handle the glue wraps, an
//! `Arc<SharedMemory>` plus a read-only flag.

mod error;
mod memory;
mod view;

pub use error::BufferError;
pub use memory::{SharedMemory, ALIGN};
pub use view::SharedBuffer;
