//! Watching source files for `manygil serve --reload`: the directory trees to watch, which
//! names count, and a debounce that turns an editor's burst of events into one change.
//!
//! Built on the `notify` crate (inotify on Linux). The trees are walked here and each
//! directory gets its own non-recursive watch, so that the trees nobody edits (`.git`,
//! `__pycache__`, virtual environments, `node_modules`) cost no watch at all: a project
//! holding its `.venv` would otherwise spend thousands of the system's inotify watches on
//! it. Directories created later are walked and watched as their creation is seen.
//!
//! A file counts when its name matches one of the include patterns (`*.py` by default;
//! `*`, `?` and `[...]` as in `fnmatch`) and is not an editor's temporary or backup file
//! (see [`ignored_file`]). Reading a file is no change: only writes, creations, removals,
//! renames and metadata changes (`touch`) count.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use parking_lot::Mutex;

/// Events waiting for [`Watch::next`]; past this many, the ones that do not fit are
/// dropped and the next batch reports every root as changed (as for an inotify overflow).
const EVENT_BACKLOG: usize = 4096;

/// Why watching could not start.
#[derive(Debug)]
pub enum WatchError {
    /// A root is not a directory (or does not exist).
    NotADirectory(PathBuf),
    /// The system refused a watch (e.g. its limit of inotify watches was reached).
    Watch(PathBuf, String),
}

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchError::NotADirectory(p) => write!(f, "{} is not a directory", p.display()),
            WatchError::Watch(p, why) => write!(f, "cannot watch {}: {why}", p.display()),
        }
    }
}

impl std::error::Error for WatchError {}

/// What [`Watch::next`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Changes {
    /// These files changed (sorted, each once). After lost events, the roots themselves.
    Changed(Vec<PathBuf>),
    /// Nothing changed within the timeout.
    Timeout,
    /// [`Watch::close`] was called.
    Closed,
}

/// Which names count: include patterns, and the names always left out.
#[derive(Debug, Clone)]
struct Filter {
    /// `fnmatch` patterns a file name must match (one of them).
    include: Vec<Vec<char>>,
}

impl Filter {
    fn counts(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        if ignored_file(name) {
            return false;
        }
        let name: Vec<char> = name.chars().collect();
        self.include.iter().any(|p| fnmatch(p, &name))
    }
}

/// Whether a file named `name` is an editor's or a tool's temporary, never a source:
/// hidden files (`.app.py.swp`, emacs's `.#app.py` locks), emacs's `#app.py#`, backups
/// (`app.py~`, `.bak`, `.orig`), vim's swap files and its `4913` write test, JetBrains's
/// `___jb_tmp___` / `___jb_old___` safe-write files.
pub fn ignored_file(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name == "4913"
        || [".swp", ".swx", ".swo", ".bak", ".orig", ".tmp"]
            .iter()
            .any(|s| name.ends_with(s))
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
}

/// Whether directory `dir` (named `name`) is left unwatched: hidden (`.git`, `.venv`,
/// `.tox`, `.mypy_cache`...), `__pycache__`, `node_modules`, `site-packages`,
/// `dist-packages`, `venv`, or any virtual environment (it holds `pyvenv.cfg`).
pub fn ignored_dir(dir: &Path, name: &str) -> bool {
    name.starts_with('.')
        || matches!(
            name,
            "__pycache__" | "node_modules" | "site-packages" | "dist-packages" | "venv"
        )
        || dir.join("pyvenv.cfg").exists()
}

/// `fnmatch` of `name` against `pattern`: `*` any run of characters, `?` one, `[abc]`,
/// `[a-z]` and `[!abc]` (or `[^abc]`) one of (or none of) a set; anything else itself.
/// An unclosed `[` is matched literally.
pub fn fnmatch_str(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fnmatch(&p, &n)
}

fn fnmatch(p: &[char], n: &[char]) -> bool {
    // Iterative, with one backtrack point (the last `*`): linear in practice, never
    // exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, len)) = class(&p[pi..], n[ni]) {
                        if matched {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            // The last `*` takes one more character.
            Some((sp, sn)) => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether `c` is in the set `[...]` that `p` starts with, and the set's length in
/// pattern characters; `None` if the `[` is not closed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &x = p.get(i)?;
        if x == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let e = p[i + 2];
            matched |= x <= c && c <= e;
            i += 3;
        } else {
            matched |= x == c;
            i += 1;
        }
    }
}

/// The state [`Watch::next`] works on (one caller at a time).
struct State {
    /// The notify watcher; dropping it ends its thread.
    watcher: RecommendedWatcher,
    /// Directories watched (roots and the subdirectories walked).
    watched: BTreeSet<PathBuf>,
}

/// Watches directory trees; [`Watch::next`] returns each burst of changes once.
pub struct Watch {
    /// The roots, as given.
    roots: Vec<PathBuf>,
    /// Which files count.
    filter: Filter,
    /// How long a burst must stay quiet before it is reported.
    quiet: Duration,
    /// A burst is reported after this long even if events keep coming.
    max_batch: Duration,
    /// Events from notify's thread (already filtered: relevant kinds only).
    events: Receiver<notify::Result<notify::Event>>,
    /// Set by notify's thread when an event did not fit in `events`.
    overflowed: Arc<AtomicBool>,
    /// The watcher and what it watches.
    state: Mutex<State>,
    /// Disconnected by [`Watch::close`].
    closed: Receiver<()>,
    /// Dropped by [`Watch::close`].
    close_tx: Mutex<Option<Sender<()>>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

/// Whether notify event `kind` may be a change (reads and opens are not).
fn may_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Other => false,
    }
}

impl Watch {
    /// Watch the trees under `roots` for files whose name matches one of `include`
    /// (`fnmatch` patterns). A burst of changes is reported once `quiet` passed without
    /// another one, or `max_batch` after it began.
    ///
    /// # Errors
    ///
    /// [`WatchError::NotADirectory`] if a root is not a directory; [`WatchError::Watch`]
    /// if the system refuses to watch one (e.g. its inotify watch limit is reached).
    pub fn new(
        roots: Vec<PathBuf>,
        include: &[String],
        quiet: Duration,
        max_batch: Duration,
    ) -> Result<Watch, WatchError> {
        for r in &roots {
            if !r.is_dir() {
                return Err(WatchError::NotADirectory(r.clone()));
            }
        }
        let (tx, events) = crossbeam_channel::bounded(EVENT_BACKLOG);
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = overflowed.clone();
        let handler = move |ev: notify::Result<notify::Event>| {
            let keep = match &ev {
                Ok(e) => e.need_rescan() || may_change(&e.kind),
                Err(_) => true,
            };
            if keep {
                if let Err(TrySendError::Full(_)) = tx.try_send(ev) {
                    flag.store(true, Ordering::Release);
                }
            }
        };
        let watcher = notify::recommended_watcher(handler).map_err(|e| {
            WatchError::Watch(roots.first().cloned().unwrap_or_default(), e.to_string())
        })?;
        let (close_tx, closed) = crossbeam_channel::bounded(0);
        let w = Watch {
            roots,
            filter: Filter {
                include: include.iter().map(|p| p.chars().collect()).collect(),
            },
            quiet,
            max_batch,
            events,
            overflowed,
            state: Mutex::new(State {
                watcher,
                watched: BTreeSet::new(),
            }),
            closed,
            close_tx: Mutex::new(Some(close_tx)),
        };
        {
            let mut st = w.state.lock();
            for r in &w.roots {
                w.add_tree(&mut st, r, true, &mut Vec::new())?;
            }
        }
        Ok(w)
    }

    /// The roots watched.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Watch `dir` and the directories under it that are not ignored (`root`: watched
    /// whatever its name); the files under it that count go to `found`.
    fn add_tree(
        &self,
        st: &mut State,
        dir: &Path,
        root: bool,
        found: &mut Vec<PathBuf>,
    ) -> Result<(), WatchError> {
        let mut stack = vec![(dir.to_path_buf(), root)];
        while let Some((d, is_root)) = stack.pop() {
            if !is_root {
                let name = d.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if ignored_dir(&d, name) {
                    continue;
                }
            }
            if st.watched.contains(&d) {
                continue;
            }
            match st.watcher.watch(&d, RecursiveMode::NonRecursive) {
                Ok(()) => {}
                // Gone meanwhile (a temporary directory): nothing to watch.
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => continue,
                Err(e) if is_root => return Err(WatchError::Watch(d, describe(&e))),
                Err(e) => {
                    eprintln!(
                        "manygil serve: --reload: cannot watch {}: {}",
                        d.display(),
                        describe(&e)
                    );
                    continue;
                }
            }
            st.watched.insert(d.clone());
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                // Not followed: a symbolic link to a directory is not walked (no cycles).
                let Ok(ft) = entry.file_type() else { continue };
                let path = entry.path();
                if ft.is_dir() {
                    stack.push((path, false));
                } else if self.filter.counts(&path) {
                    found.push(path);
                }
            }
        }
        Ok(())
    }

    /// Wait up to `timeout` (`None`: no limit) for a change, then until it is followed by
    /// `quiet` without another one (at most `max_batch` after it): the files changed in
    /// that burst. Blocks the calling thread; one caller at a time (others wait).
    pub fn next(&self, timeout: Option<Duration>) -> Changes {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.state.lock();
        let mut changed = BTreeSet::new();
        // Until something counts.
        while changed.is_empty() {
            if self.overflowed.swap(false, Ordering::AcqRel) {
                self.lost(&mut st, &mut changed);
                break;
            }
            let got = match deadline {
                None => crossbeam_channel::select! {
                    recv(self.events) -> ev => ev.ok(),
                    recv(self.closed) -> _ => return Changes::Closed,
                },
                Some(d) => crossbeam_channel::select! {
                    recv(self.events) -> ev => ev.ok(),
                    recv(self.closed) -> _ => return Changes::Closed,
                    default(d.saturating_duration_since(Instant::now())) => return Changes::Timeout,
                },
            };
            let Some(ev) = got else {
                return Changes::Closed;
            };
            self.take(&mut st, ev, &mut changed);
        }
        // Then until the burst is over.
        let end = Instant::now() + self.max_batch;
        loop {
            if self.overflowed.swap(false, Ordering::AcqRel) {
                self.lost(&mut st, &mut changed);
            }
            let wait = self
                .quiet
                .min(end.saturating_duration_since(Instant::now()));
            crossbeam_channel::select! {
                recv(self.events) -> ev => match ev {
                    Ok(ev) => self.take(&mut st, ev, &mut changed),
                    Err(_) => break,
                },
                recv(self.closed) -> _ => return Changes::Closed,
                default(wait) => break,
            }
            if Instant::now() >= end {
                break;
            }
        }
        Changes::Changed(changed.into_iter().collect())
    }

    /// Events were lost: report the roots, and watch what may have appeared meanwhile.
    fn lost(&self, st: &mut State, changed: &mut BTreeSet<PathBuf>) {
        for r in &self.roots {
            changed.insert(r.clone());
            let _ = self.add_tree(st, r, true, &mut Vec::new());
        }
    }

    /// Add what event `ev` changed to `changed`; watch directories it created.
    fn take(
        &self,
        st: &mut State,
        ev: notify::Result<notify::Event>,
        changed: &mut BTreeSet<PathBuf>,
    ) {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                eprintln!("manygil serve: --reload: watching failed: {}", describe(&e));
                return;
            }
        };
        if ev.need_rescan() {
            self.lost(st, changed);
            return;
        }
        let created = matches!(
            ev.kind,
            EventKind::Create(CreateKind::Folder | CreateKind::Any)
                | EventKind::Modify(ModifyKind::Name(_))
        );
        let dir_gone = matches!(
            ev.kind,
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
        );
        for path in &ev.paths {
            if created && path.is_dir() {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !ignored_dir(path, name) {
                    let mut found = Vec::new();
                    let _ = self.add_tree(st, path, false, &mut found);
                    changed.extend(found);
                }
            } else if dir_gone && !path.exists() && st.watched.contains(path) {
                // A directory moved away or removed: its modules are gone.
                let under: Vec<PathBuf> = st
                    .watched
                    .range(path.clone()..)
                    .take_while(|d| d.starts_with(path))
                    .cloned()
                    .collect();
                for d in under {
                    st.watched.remove(&d);
                }
                changed.insert(path.clone());
            } else if matches!(ev.kind, EventKind::Remove(RemoveKind::Folder)) {
                // An unwatched (ignored) directory removed.
            } else if self.filter.counts(path) {
                changed.insert(path.clone());
            }
        }
    }

    /// Make [`Self::next`] return [`Changes::Closed`] (now, and from then on).
    pub fn close(&self) {
        self.close_tx.lock().take();
    }
}

/// A notify error in words, with the fix for the watch limit.
fn describe(e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => "the system's limit of inotify watches is reached \
             (fs.inotify.max_user_watches): watch a smaller tree with --reload-dir, or raise \
             the limit"
            .to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_matches_as_pythons_fnmatchcase() {
        let yes = [
            ("*.py", "app.py"),
            ("*.py", ".py"),
            ("*", ""),
            ("a?c", "abc"),
            ("[ab]x", "bx"),
            ("[a-c]x", "cx"),
            ("[!a-c]x", "dx"),
            ("[^a]x", "bx"),
            ("[]]", "]"),
            ("[!]]", "a"),
            ("*.[ch]", "x.h"),
            ("**x", "abx"),
            ("a*b*c", "aXbYbZc"),
            ("[", "["),
            ("a[", "a["),
        ];
        for (p, n) in yes {
            assert!(fnmatch_str(p, n), "{p:?} should match {n:?}");
        }
        let no = [
            ("*.py", "app.pyc"),
            ("*.py", "app.py~"),
            ("a?c", "ac"),
            ("[ab]x", "cx"),
            ("[!a-c]x", "bx"),
            ("a*b*c", "aXbYbZ"),
            ("*.html", "x.htm"),
            ("[", "a"),
        ];
        for (p, n) in no {
            assert!(!fnmatch_str(p, n), "{p:?} should not match {n:?}");
        }
    }

    #[test]
    fn editor_temporaries_are_ignored() {
        for name in [
            ".app.py.swp",
            ".#app.py",
            "#app.py#",
            "app.py~",
            "4913",
            "app.py.swx",
            "app.py___jb_tmp___",
            "app.py.orig",
        ] {
            assert!(ignored_file(name), "{name}");
        }
        for name in ["app.py", "views.html", "__init__.py"] {
            assert!(!ignored_file(name), "{name}");
        }
    }
}
