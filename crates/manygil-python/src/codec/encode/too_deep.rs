//! The report when nesting passes [`MAX_DEPTH`]: which object, how deep, and the path
//! (`x[0]['k']...`) to where it failed, or that it is a reference cycle.

use manygil_core::value::MAX_DEPTH;

use crate::ffi::err::{self, PyErrSet};
use crate::ffi::values::ExactType;
use crate::ffi::Borrowed;

use super::not_shareable;

/// Where nesting passed [`MAX_DEPTH`], recorded while the failure unwinds (leaf first).
#[derive(Default)]
pub(super) struct TooDeep {
    /// Addresses and type names of the objects on the failing path, innermost first.
    objs: Vec<(usize, String)>,
    /// Subscripts from each container to the next, innermost first (`[3]`, `['k']`).
    pub(super) subs: Vec<String>,
    /// Type name of the innermost object (the one that would start the next level).
    leaf_type: String,
}

impl TooDeep {
    /// Add `obj` to the failing path (called from the innermost object outwards).
    pub(super) fn record(&mut self, obj: Borrowed<'_, '_>) {
        let name = err::type_name(obj.py(), obj);
        if self.objs.is_empty() {
            self.leaf_type = name.clone();
        }
        self.objs.push((obj.as_ptr() as usize, name));
    }

    /// Whether the path meets an object twice: a reference cycle, not just depth.
    pub(super) fn is_cycle(&self) -> bool {
        let mut seen = std::collections::HashSet::new();
        self.objs.iter().any(|(o, _)| !seen.insert(*o))
    }

    /// The path from the object to where it failed, e.g. `x[0][0]...[0]['k']`, with
    /// long runs shortened.
    fn path(&self, skip: usize) -> String {
        let parts: Vec<&str> = self
            .subs
            .iter()
            .rev()
            .skip(skip)
            .map(String::as_str)
            .collect();
        let shown = |ps: &[&str]| ps.concat();
        if parts.len() <= 12 {
            return format!("x{}", shown(&parts));
        }
        format!(
            "x{}...({} more)...{}",
            shown(&parts[..6]),
            parts.len() - 12,
            shown(&parts[parts.len() - 6..])
        )
    }

    /// Raise `NotShareableError` for encoding `obj` (inside `wraps` wrapper levels).
    pub(super) fn raise(&self, obj: Borrowed<'_, '_>, wraps: usize) -> PyErrSet {
        let py = obj.py();
        let what = if self.is_cycle() {
            "contains a reference cycle".to_owned()
        } else {
            format!(
                "nests containers deeper than {MAX_DEPTH} levels (manygil's limit; a {} \
                 starts level {})",
                self.leaf_type,
                MAX_DEPTH + 1
            )
        };
        // Inside a wrapper (call arguments, a map chunk) name the value itself.
        let root = self
            .objs
            .len()
            .checked_sub(1 + wraps)
            .map_or_else(|| err::type_name(py, obj), |i| self.objs[i].1.clone());
        not_shareable(
            py,
            &format!(
                "{root} object {what} at {}; flatten it, or send pickle.dumps() of it as bytes",
                self.path(wraps)
            ),
        )
    }
}

/// `['key']` for a dict value whose key is a str or an int (their repr runs no user
/// code), `[<T key>]` otherwise.
pub(super) fn key_subscript(key: Borrowed<'_, '_>) -> String {
    let py = key.py();
    if matches!(key.exact_type(), ExactType::Str | ExactType::Int) {
        let text = key
            .repr()
            .and_then(|r| r.borrow().str_utf8().map(str::to_owned));
        match text {
            Ok(text) if text.len() <= 40 => return format!("[{text}]"),
            Ok(_) => {}
            Err(PyErrSet) => err::clear(py),
        }
    }
    format!("[<{} key>]", err::type_name(py, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(subs: &[&str]) -> TooDeep {
        TooDeep {
            // Innermost first, as they are recorded while the failure unwinds.
            subs: subs.iter().rev().map(|s| (*s).to_owned()).collect(),
            ..TooDeep::default()
        }
    }

    #[test]
    fn a_short_path_is_shown_whole() {
        assert_eq!(path_of(&["[0]", "['k']"]).path(0), "x[0]['k']");
        assert_eq!(path_of(&[]).path(0), "x");
    }

    #[test]
    fn a_long_path_keeps_its_ends() {
        let subs: Vec<String> = (0..20).map(|i| format!("[{i}]")).collect();
        let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
        assert_eq!(
            path_of(&subs).path(0),
            "x[0][1][2][3][4][5]...(8 more)...[14][15][16][17][18][19]"
        );
    }

    #[test]
    fn wrapper_levels_are_left_out_of_the_path() {
        // A call's argument tuple: the user's value starts one level down.
        assert_eq!(path_of(&["[1]", "[0]", "['k']"]).path(1), "x[0]['k']");
    }

    #[test]
    fn meeting_an_object_twice_on_the_path_is_a_cycle() {
        let at = |addrs: &[usize]| TooDeep {
            objs: addrs.iter().map(|&a| (a, "list".to_owned())).collect(),
            ..TooDeep::default()
        };
        assert!(at(&[1, 2, 1]).is_cycle());
        assert!(!at(&[1, 2, 3]).is_cycle());
    }
}
