//! [`ExternalBytes`]: read-only bytes owned by someone else (e.g. a `bytes` object kept alive
//! by the sending interpreter), shared without copying.

use std::fmt;
use std::sync::Arc;

/// Owner of immutable bytes that stay valid, at a fixed address, while it lives.
///
/// Implementations must make dropping safe on any thread (the glue defers releasing a
/// Python object until its interpreter is attached).
pub trait ExternalSource: Send + Sync {
    /// The bytes; the same slice every time.
    fn bytes(&self) -> &[u8];
}

/// A shared reference to [`ExternalSource`] bytes. Cloning shares; nothing is copied.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use manygil_core::value::{ExternalBytes, ExternalSource};
///
/// struct Owned(Vec<u8>);
/// impl ExternalSource for Owned {
///     fn bytes(&self) -> &[u8] {
///         &self.0
///     }
/// }
/// let b = ExternalBytes::new(Arc::new(Owned(vec![1, 2, 3])));
/// assert_eq!(b.as_slice(), &[1, 2, 3]);
/// ```
#[derive(Clone)]
pub struct ExternalBytes(Arc<dyn ExternalSource>);

impl ExternalBytes {
    /// Share `source`'s bytes.
    pub fn new(source: Arc<dyn ExternalSource>) -> Self {
        ExternalBytes(source)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.0.bytes()
    }
}

impl fmt::Debug for ExternalBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalBytes({} bytes)", self.as_slice().len())
    }
}

impl PartialEq for ExternalBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
