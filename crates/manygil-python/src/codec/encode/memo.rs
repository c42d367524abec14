//! pickle's memo for the encoder: an object that may be met again is encoded once.

use manygil_core::Value;

use crate::ffi::values::ExactType;
use crate::ffi::{Borrowed, Owned};

use super::{EncResult, Encoder, Failure};

/// pickle's memo, for the exact container and bytes types: an object that may be met
/// again (it has other references) is encoded once, as a `Value::Memo` numbered in
/// pre-order; a later occurrence becomes `Value::Backref(number)`. This keeps identity
/// (`r[0] is r[1]`) and bounds the work by the input's size (a DAG whose expansion is
/// exponential stays linear).
#[derive(Default)]
pub(super) struct Memo<'py> {
    /// Object address → its number.
    seen: std::collections::HashMap<usize, usize, PtrHash>,
    /// Addresses of the numbered objects being encoded now (at most `MAX_DEPTH`): meeting
    /// one again means a reference cycle.
    open: Vec<usize>,
    /// Strong references to the numbered objects, so that no address is freed and reused
    /// by another object while encoding runs (user code may run, e.g. in pickle).
    keep: Vec<Owned<'py>>,
    /// Whether a `Backref` was emitted (the result is then wrapped in `Value::Graph`).
    pub(super) backrefs: bool,
}

/// Hashes object addresses (already unique; only their bits need spreading).
#[derive(Default, Clone, Copy)]
struct PtrHash;

impl std::hash::BuildHasher for PtrHash {
    type Hasher = PtrHasher;
    fn build_hasher(&self) -> PtrHasher {
        PtrHasher(0)
    }
}

struct PtrHasher(u64);

impl std::hash::Hasher for PtrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Whether objects of this exact type go through the memo: the containers and bytes types
/// (whose identity Python code can observe, and which can be large).
fn memoized(t: ExactType) -> bool {
    matches!(
        t,
        ExactType::Bytes
            | ExactType::ByteArray
            | ExactType::Tuple
            | ExactType::List
            | ExactType::Dict
            | ExactType::Set
            | ExactType::FrozenSet
    )
}

impl<'py> Encoder<'py> {
    /// [`Self::encode_one`] through the memo.
    pub(super) fn encode_memo(&mut self, obj: Borrowed<'_, 'py>) -> EncResult<Value> {
        // Only an object with other references than its container's (and ours, held
        // while we encode it) can be met again: the others, most objects of tree-shaped
        // data, cost nothing here.
        let t = obj.exact_type();
        if !memoized(t) || obj.refcnt() <= 2 {
            return self.encode_one(obj, t);
        }
        let key = obj.as_ptr() as usize;
        if let Some(&number) = self.memo.seen.get(&key) {
            if self.memo.open.contains(&key) {
                // A container that contains itself: the caller falls back to pickle.
                return Err(Failure::TooDeep);
            }
            self.memo.backrefs = true;
            return Ok(Value::Backref(number));
        }
        self.memo.seen.insert(key, self.memo.seen.len());
        // Kept alive for the whole encoding, so the address stays this object's.
        self.memo.keep.push(obj.to_owned());
        self.memo.open.push(key);
        let r = self.encode_one(obj, t);
        self.memo.open.pop();
        Ok(Value::Memo(Box::new(r?)))
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, Hasher};

    use super::*;

    #[test]
    fn only_containers_and_bytes_go_through_the_memo() {
        use ExactType::*;
        for t in [Bytes, ByteArray, Tuple, List, Dict, Set, FrozenSet] {
            assert!(memoized(t), "{t:?}");
        }
        for t in [None, Bool, Int, Float, Complex, Str, Function, Other] {
            assert!(!memoized(t), "{t:?}");
        }
    }

    #[test]
    fn neighbouring_addresses_hash_apart() {
        let hash = |addr: usize| {
            let mut h = PtrHash.build_hasher();
            h.write_usize(addr);
            h.finish()
        };
        // Objects are 16-byte aligned: the low bits alone would collide in a table.
        let hashes: std::collections::HashSet<u64> = (0..1000)
            .map(|i| hash(0x7f00_0000_0000 + 16 * i) & 0xfff)
            .collect();
        assert!(hashes.len() > 700, "{} distinct low 12 bits", hashes.len());
    }
}
