//! Opening a file beneath a mount's directory, symbolic links included, never outside it.
//!
//! The directory is opened once (`O_PATH`) when the server starts. Files are opened
//! relative to it with `openat2(RESOLVE_BENEATH)` (Linux 5.6+): the kernel resolves every
//! component, symbolic links too, and refuses (`EXDEV`) any that leads outside the
//! directory, in one system call and with no window for a link swapped meanwhile. Where
//! `openat2` is missing (an older kernel, or a sandbox that filters it) the path is
//! resolved with `realpath` and must stay under the directory's own resolved path, then
//! that path is opened without following a link in its last component.
//!
//! Files are opened with `O_NONBLOCK` (a FIFO placed in the directory would otherwise
//! block the I/O thread in `open`; it is then refused as not a regular file).

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// A mount's directory, open.
#[derive(Debug)]
pub(crate) struct Root {
    /// The directory (`O_PATH | O_DIRECTORY`).
    dir: OwnedFd,
    /// Its resolved path (for [`Resolve::Realpath`]).
    real: PathBuf,
    /// Whether `openat2` is to be used; cleared for good the first time the kernel
    /// refuses the call itself (then `realpath` and a check that the result is under the
    /// directory).
    beneath: AtomicBool,
}

/// The flags every served file is opened with.
const FLAGS: libc::c_int = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;

impl Root {
    /// Open the directory `path`.
    ///
    /// # Errors
    ///
    /// The OS error: `NotFound` if it does not exist, `ENOTDIR` if it is not a directory.
    pub(crate) fn new(path: &Path) -> io::Result<Root> {
        let c = cstring(path.as_os_str())?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call; the result is a new
        // descriptor we own, or -1.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Root {
            dir,
            real: std::fs::canonicalize(path)?,
            beneath: AtomicBool::new(true),
        })
    }

    /// Resolve with `realpath` from now on, as where `openat2` is missing.
    #[cfg(test)]
    pub(crate) fn use_realpath(&self) {
        self.beneath.store(false, Ordering::Relaxed);
    }

    /// Open `rel` (relative, `/`-separated, no NUL) for reading, beneath the directory.
    ///
    /// # Errors
    ///
    /// The OS error; a path that leads out of the directory (through a symbolic link) is
    /// `EXDEV` with `openat2`, `PermissionDenied` otherwise.
    pub(crate) fn open(&self, rel: &[u8]) -> io::Result<File> {
        let c = cstring(OsStr::from_bytes(rel))?;
        if self.beneath.load(Ordering::Relaxed) {
            match self.openat2(&c) {
                Err(e) if is_unsupported(&e) => self.beneath.store(false, Ordering::Relaxed),
                r => return r,
            }
        }
        self.open_realpath(rel)
    }

    fn openat2(&self, rel: &CString) -> io::Result<File> {
        // SAFETY: `open_how` is plain integers; all-zero is a valid value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = FLAGS as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: `self.dir` is an open directory descriptor; `rel` is a NUL-terminated
        // path and `how` an `open_how` of the size passed, both outliving the call; the
        // result is a new descriptor we own, or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.dir.as_raw_fd(),
                rel.as_ptr(),
                &raw const how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor just opened (it fits a c_int: the kernel returned it as
        // one), owned by nobody else.
        Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
    }

    fn open_realpath(&self, rel: &[u8]) -> io::Result<File> {
        let real = std::fs::canonicalize(self.real.join(OsStr::from_bytes(rel)))?;
        if !real.starts_with(&self.real) {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        let c = cstring(real.as_os_str())?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call; the result is a new
        // descriptor we own, or -1.
        let fd = unsafe { libc::open(c.as_ptr(), FLAGS | libc::O_NOFOLLOW) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor just opened, owned by nobody else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}

/// Whether `openat2` itself is unavailable (not that the file could not be opened).
fn is_unsupported(e: &io::Error) -> bool {
    // ENOSYS: an older kernel. EPERM: a seccomp filter (containers) refusing unknown
    // calls; a real open never gives EPERM for reading. E2BIG: a kernel that knows a
    // smaller `open_how`.
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EPERM | libc::E2BIG)
    )
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::static_files::tests::TempDir;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    fn read(root: &Root, rel: &str) -> io::Result<String> {
        let mut s = String::new();
        root.open(rel.as_bytes())?.read_to_string(&mut s)?;
        Ok(s)
    }

    fn check(realpath: bool) {
        let t = TempDir::new(&format!("realpath-{realpath}"));
        let root_dir = t.0.join("root");
        std::fs::create_dir_all(root_dir.join("sub")).unwrap();
        std::fs::write(root_dir.join("sub/a.txt"), "a").unwrap();
        std::fs::write(t.0.join("secret"), "secret").unwrap();
        symlink("sub/a.txt", root_dir.join("inside")).unwrap();
        symlink("../secret", root_dir.join("up")).unwrap();
        symlink(t.0.join("secret"), root_dir.join("absolute")).unwrap();
        symlink("..", root_dir.join("sub/parent")).unwrap();
        symlink("/", root_dir.join("slash")).unwrap();
        let root = Root::new(&root_dir).unwrap();
        if realpath {
            root.use_realpath();
        }
        assert_eq!(read(&root, "sub/a.txt").unwrap(), "a");
        assert_eq!(
            read(&root, "inside").unwrap(),
            "a",
            "a link within the root"
        );
        assert_eq!(read(&root, "sub/parent/sub/a.txt").unwrap(), "a");
        for escape in ["up", "absolute", "sub/parent/../secret", "slash/etc/passwd"] {
            let e = read(&root, escape).unwrap_err();
            if root.beneath.load(Ordering::Relaxed) {
                // openat2 is there (Linux 5.6+) and refused the way out itself.
                assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{escape}: {e}");
            } else {
                assert!(
                    e.kind() == io::ErrorKind::PermissionDenied
                        || e.kind() == io::ErrorKind::NotFound,
                    "{escape}: {e}"
                );
            }
        }
        assert_eq!(
            read(&root, "missing").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn links_inside_are_followed_and_links_outside_refused_with_openat2() {
        check(false);
    }

    #[test]
    fn links_inside_are_followed_and_links_outside_refused_with_realpath() {
        check(true);
    }

    #[test]
    fn a_missing_directory_or_a_file_is_refused() {
        let t = TempDir::new("missing");
        let e = Root::new(&t.0.join("nope")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        std::fs::write(t.0.join("file"), "").unwrap();
        let e = Root::new(&t.0.join("file")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
    }
}
