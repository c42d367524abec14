//! Who waits for whom: a synchronous call from one interpreter's worker thread into another
//! is refused if it would close a cycle (A waits for B while B waits for A). Each
//! interpreter has one worker thread, so such a cycle could never finish.

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// Waiting interpreter → the interpreter it waits for, for worker threads blocked in a
/// synchronous call. Plain Rust data.
static WAITS: Mutex<BTreeMap<i64, i64>> = Mutex::new(BTreeMap::new());

/// A recorded wait, removed on drop.
pub struct WaitEdge {
    /// The waiting interpreter, if the wait was recorded.
    from: Option<i64>,
}

impl WaitEdge {
    /// Record that `from` (an interpreter whose worker thread is the caller; `None` for any
    /// other thread, which cannot be part of a cycle) waits for `to`.
    ///
    /// # Errors
    ///
    /// The cycle (`[from, to, ..., from]`) the wait would close.
    pub fn enter(from: Option<i64>, to: i64) -> Result<WaitEdge, Vec<i64>> {
        let Some(from) = from else {
            return Ok(WaitEdge { from: None });
        };
        let mut waits = WAITS.lock();
        let mut path = vec![from, to];
        let mut at = to;
        while let Some(&next) = waits.get(&at) {
            path.push(next);
            if next == from {
                return Err(path);
            }
            if path.len() > waits.len() + 2 {
                break; // an older cycle not involving us (cannot happen, but never loop)
            }
            at = next;
        }
        waits.insert(from, to);
        Ok(WaitEdge { from: Some(from) })
    }
}

impl Drop for WaitEdge {
    fn drop(&mut self) {
        if let Some(from) = self.from {
            WAITS.lock().remove(&from);
        }
    }
}
