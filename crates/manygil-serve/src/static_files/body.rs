//! A file's bytes streamed in chunks read on tokio's blocking threads: a large file is
//! never in memory at once (at most two chunks per response: the one being written and
//! the next, read ahead), and a slow disk never stalls an I/O thread.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::task::JoinHandle;

/// Bytes read per chunk.
pub(crate) const CHUNK: u64 = 256 * 1024;

/// Why a file body stopped before its end (the connection is then cut: the client sees
/// an incomplete response, never a short one passing as complete).
pub(crate) const SHRANK: &str = "the file became shorter while it was sent";
/// A read failed.
pub(crate) const READ_FAILED: &str = "reading the file failed";

/// `len` bytes of a file from `offset`, read chunk by chunk.
#[derive(Debug)]
pub(crate) struct FileBody {
    /// The file (shared with the read in progress; read with `pread`, at most one read
    /// at a time).
    file: Arc<File>,
    /// Where the next chunk to request starts.
    offset: u64,
    /// Bytes not yet requested from a read.
    unread: u64,
    /// Bytes not yet returned (requested or not).
    remaining: u64,
    /// The read in progress, if any (dropped with the body, it finishes on its own: it
    /// holds its own reference to the file).
    reading: Option<JoinHandle<io::Result<Vec<u8>>>>,
}

impl FileBody {
    /// The body of bytes `offset..offset + len` of `file`.
    pub(crate) fn new(file: File, offset: u64, len: u64) -> FileBody {
        FileBody {
            file: Arc::new(file),
            offset,
            unread: len,
            remaining: len,
            reading: None,
        }
    }

    /// Bytes still to come.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Start reading the next chunk, if any is left. Must be called from the runtime.
    fn read_ahead(&mut self) {
        if self.unread == 0 || self.reading.is_some() {
            return;
        }
        let n = self.unread.min(CHUNK);
        let (file, offset) = (self.file.clone(), self.offset);
        self.offset += n;
        self.unread -= n;
        // `n` <= CHUNK: a small, fixed size.
        let n = n as usize;
        self.reading = Some(tokio::task::spawn_blocking(move || {
            read_exact_at(&file, n, offset)
        }));
    }

    /// The next chunk: `None` at the end; an error (see [`SHRANK`], [`READ_FAILED`])
    /// ends the body.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, &'static str>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        self.read_ahead();
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let done = match Pin::new(reading).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(done) => done,
        };
        self.reading = None;
        let chunk = match done {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.remaining = 0;
                return Poll::Ready(Some(Err(SHRANK)));
            }
            Ok(Err(_)) | Err(_) => {
                self.remaining = 0;
                return Poll::Ready(Some(Err(READ_FAILED)));
            }
        };
        self.remaining -= chunk.len() as u64;
        // The next chunk is read while this one is written.
        self.read_ahead();
        Poll::Ready(Some(Ok(Bytes::from(chunk))))
    }
}

/// Read exactly `n` bytes at `offset` (`UnexpectedEof` if the file ends first) with
/// `pread`, straight into a buffer that is neither zeroed first nor grown step by step
/// (one system call for a file in the page cache; `read_to_end` makes four for 100 KiB).
pub(crate) fn read_exact_at(file: &File, n: usize, offset: u64) -> io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(n)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    while buf.len() < n {
        let at = libc::off_t::try_from(offset + buf.len() as u64)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let want = n - buf.len();
        let spare = &mut buf.spare_capacity_mut()[..want];
        // SAFETY: `spare` is memory owned by `buf`, valid for writes of `spare.len()`
        // bytes; `pread` writes at most that many into it and reads none of it; the
        // descriptor is open for as long as `file` is borrowed.
        let got =
            unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), at) };
        match got {
            0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            got if got < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            // SAFETY: `pread` initialised the first `got` (> 0, <= spare.len()) bytes
            // past `len`, all within the capacity.
            got => unsafe { buf.set_len(buf.len() + got as usize) },
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::io::Write;

    fn collect(body: &mut FileBody) -> Result<Vec<u8>, &'static str> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut out = Vec::new();
            while let Some(chunk) = poll_fn(|cx| body.poll_chunk(cx)).await {
                let chunk = chunk?;
                assert!(chunk.len() as u64 <= CHUNK);
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        })
    }

    fn temp_file(name: &str, data: &[u8]) -> (std::path::PathBuf, File) {
        let p = std::env::temp_dir().join(format!("manygil-body-{name}-{}", std::process::id()));
        std::fs::File::create(&p).unwrap().write_all(data).unwrap();
        let f = File::open(&p).unwrap();
        (p, f)
    }

    #[test]
    fn streams_a_file_larger_than_a_chunk_and_parts_of_it() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let (p, f) = temp_file("large", &data);
        let mut body = FileBody::new(f, 0, data.len() as u64);
        assert_eq!(collect(&mut body).unwrap(), data);
        assert_eq!(body.remaining(), 0);
        let f = File::open(&p).unwrap();
        let mut part = FileBody::new(f, CHUNK - 3, CHUNK + 10);
        let want = &data[(CHUNK - 3) as usize..(2 * CHUNK + 7) as usize];
        assert_eq!(collect(&mut part).unwrap(), want);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn a_file_that_shrank_ends_the_body_in_error() {
        let (p, f) = temp_file("shrank", &[7; 1000]);
        let mut body = FileBody::new(f, 0, 5000);
        assert_eq!(collect(&mut body), Err(SHRANK));
        std::fs::remove_file(p).unwrap();
    }
}
