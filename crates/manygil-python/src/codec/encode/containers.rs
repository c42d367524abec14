//! tuple, list, dict, set and frozenset: their items, encoded one level deeper.

use manygil_core::Value;

use crate::ffi::Borrowed;

use super::too_deep::key_subscript;
use super::{EncResult, Encoder};

impl<'py> Encoder<'py> {
    /// The items of an exact tuple.
    pub(super) fn tuple(&mut self, obj: Borrowed<'_, 'py>) -> EncResult<Vec<Value>> {
        let n = obj.tuple_len()?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            // Held with a strong reference like every item the encoder meets: the memo
            // counts on one reference besides the container's (see `encode_memo`).
            let item = obj.tuple_get(i)?.to_owned();
            let r = self.encode(item.borrow());
            out.push(self.at(r, |_| format!("[{i}]"))?);
        }
        Ok(out)
    }

    /// The items of an exact list.
    pub(super) fn list(&mut self, obj: Borrowed<'_, 'py>) -> EncResult<Vec<Value>> {
        let mut out = Vec::new();
        let mut i = 0;
        // The list may change while pickle runs user code: re-read its size every step and
        // hold each item with a strong reference.
        while i < obj.list_len()? {
            let item = obj.list_get(i)?;
            let r = self.encode(item.borrow());
            out.push(self.at(r, |_| format!("[{i}]"))?);
            i += 1;
        }
        Ok(out)
    }

    /// The (key, value) pairs of an exact dict.
    pub(super) fn dict(&mut self, obj: Borrowed<'_, 'py>) -> EncResult<Vec<(Value, Value)>> {
        // Snapshot the items first (a list of (key, value) tuples holding strong
        // references), so user code run by pickle cannot invalidate what we iterate.
        let items = obj.dict_items()?;
        let items = items.borrow();
        let n = items.list_len()?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let pair = items.list_get(i)?;
            let pair = pair.borrow();
            let (k, v) = (pair.tuple_get(0)?, pair.tuple_get(1)?);
            let key = self.encode(k);
            let key = self.at(key, |_| " (a dict key)".to_owned())?;
            let value = self.encode(v);
            let value = self.at(value, |_| key_subscript(k))?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// The elements of an iterable (a set or a frozenset).
    pub(super) fn iterable(&mut self, obj: Borrowed<'_, 'py>) -> EncResult<Vec<Value>> {
        let it = obj.iter()?;
        let mut out = Vec::new();
        while let Some(item) = it.borrow().next()? {
            let r = self.encode(item.borrow());
            out.push(self.at(r, |_| " (a set element)".to_owned())?);
        }
        Ok(out)
    }
}
