//! The file watcher of `--reload` on real directories (inotify).
//!
//! Nothing here waits for an absence: a change that must not count is followed by one that
//! must, and the batch reported has to be that one alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use manygil_serve::{Changes, Watch, WatchError};

/// A bound on every wait: a missed event fails the test instead of hanging.
const BOUND: Option<Duration> = Some(Duration::from_secs(30));

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "manygil-watch-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        // Canonical: the paths reported are under the root as given.
        TempDir(p.canonicalize().unwrap())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(p: &Path, text: &str) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

fn watch(root: &Path, include: &[&str]) -> Watch {
    let include: Vec<String> = include.iter().map(|s| (*s).to_owned()).collect();
    Watch::new(
        vec![root.to_path_buf()],
        &include,
        Duration::from_millis(50),
        Duration::from_millis(1600),
    )
    .unwrap()
}

fn changed(w: &Watch) -> Vec<PathBuf> {
    match w.next(BOUND) {
        Changes::Changed(p) => p,
        other => panic!("expected a change, got {other:?}"),
    }
}

#[test]
fn a_burst_of_writes_is_one_change() {
    let d = TempDir::new("burst");
    let app = d.0.join("app.py");
    write(&app, "A = 1\n");
    let w = watch(&d.0, &["*.py"]);
    // An editor's save: truncate, write in pieces, rename a backup away.
    for i in 0..5 {
        write(&app, &format!("A = {i}\n"));
    }
    assert_eq!(changed(&w), vec![app.clone()]);
    write(&app, "A = 9\n");
    assert_eq!(changed(&w), vec![app]);
}

#[test]
fn ignored_places_and_names_do_not_count() {
    let d = TempDir::new("ignored");
    for sub in ["__pycache__", ".git", "node_modules", "env1", "pkg"] {
        std::fs::create_dir_all(d.0.join(sub)).unwrap();
    }
    // A virtual environment, whatever its name.
    write(&d.0.join("env1/pyvenv.cfg"), "home = /usr\n");
    let w = watch(&d.0, &["*.py"]);
    write(&d.0.join("__pycache__/app.cpython-314.py"), "x");
    write(&d.0.join(".git/hook.py"), "x");
    write(&d.0.join("node_modules/x.py"), "x");
    write(&d.0.join("env1/site.py"), "x");
    write(&d.0.join(".#app.py"), "x");
    write(&d.0.join("app.py~"), "x");
    write(&d.0.join("app.py.swp"), "x");
    write(&d.0.join("notes.txt"), "x");
    write(&d.0.join("4913"), "x");
    // Reading a module is no change either.
    write(&d.0.join("pkg/read.py"), "x");
    assert_eq!(changed(&w), vec![d.0.join("pkg/read.py")]);
    let _ = std::fs::read(d.0.join("pkg/read.py")).unwrap();
    let real = d.0.join("pkg/mod.py");
    write(&real, "x");
    assert_eq!(changed(&w), vec![real]);
}

#[test]
fn new_directories_are_watched_and_their_modules_count() {
    let d = TempDir::new("newdir");
    let w = watch(&d.0, &["*.py"]);
    let module = d.0.join("newpkg/sub/__init__.py");
    write(&module, "x");
    // Found by the walk of the new directory, or by its own event once that is watched.
    assert_eq!(changed(&w), vec![module]);
    let later = d.0.join("newpkg/sub/later.py");
    write(&later, "y");
    assert_eq!(changed(&w), vec![later]);
}

#[test]
fn removing_and_renaming_modules_count() {
    let d = TempDir::new("rename");
    let a = d.0.join("a.py");
    write(&a, "x");
    let w = watch(&d.0, &["*.py"]);
    std::fs::remove_file(&a).unwrap();
    assert_eq!(changed(&w), vec![a.clone()]);
    let tmp = d.0.join("b.py.tmp");
    write(&tmp, "y");
    // An atomic save: a temporary renamed over the module.
    let b = d.0.join("b.py");
    std::fs::rename(&tmp, &b).unwrap();
    assert_eq!(changed(&w), vec![b]);
}

#[test]
fn include_patterns_choose_the_files() {
    let d = TempDir::new("include");
    let w = watch(&d.0, &["*.html", "settings.toml"]);
    write(&d.0.join("app.py"), "x");
    write(&d.0.join("other.toml"), "x");
    let page = d.0.join("templates/index.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    // The new directory is watched once its creation event is read (with the next
    // change, which is reported alone).
    let settings = d.0.join("settings.toml");
    write(&settings, "x");
    assert_eq!(changed(&w), vec![settings]);
    write(&page, "<p>");
    assert_eq!(changed(&w), vec![page]);
}

#[test]
fn close_ends_a_wait() {
    let d = TempDir::new("close");
    let w = std::sync::Arc::new(watch(&d.0, &["*.py"]));
    let w2 = w.clone();
    let waiter = std::thread::spawn(move || w2.next(None));
    w.close();
    assert_eq!(waiter.join().unwrap(), Changes::Closed);
    assert_eq!(w.next(BOUND), Changes::Closed);
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let missing = std::env::temp_dir().join("manygil-watch-no-such-dir");
    let err = Watch::new(
        vec![missing.clone()],
        &["*.py".to_owned()],
        Duration::from_millis(50),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(err, WatchError::NotADirectory(ref p) if p == &missing));
    assert!(err.to_string().contains("manygil-watch-no-such-dir"));
}

#[test]
fn nothing_changed_is_a_timeout() {
    let d = TempDir::new("timeout");
    let w = watch(&d.0, &["*.py"]);
    assert_eq!(w.next(Some(Duration::from_millis(10))), Changes::Timeout);
}
