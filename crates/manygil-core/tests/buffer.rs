//! Behaviour of `manygil_core::buffer`.

use manygil_core::buffer::{BufferError, SharedBuffer, SharedMemory, ALIGN};
use std::sync::Arc;
use std::thread;

#[test]
fn new_memory_is_zeroed_and_aligned() {
    for len in [1, 7, 8, 63, 64, 65, 1000, 1 << 20] {
        let mem = SharedMemory::new(len).unwrap();
        assert_eq!(mem.len(), len);
        assert_eq!(mem.as_ptr() as usize % ALIGN, 0, "len {len}");
        assert!(mem.to_vec().iter().all(|&b| b == 0));
    }
}

#[test]
fn empty_memory_allocates_nothing_and_rejects_any_access() {
    let mem = SharedMemory::new(0).unwrap();
    assert!(mem.is_empty());
    assert!(!mem.as_ptr().is_null());
    assert_eq!(mem.as_ptr() as usize % ALIGN, 0);
    assert_eq!(mem.to_vec(), Vec::<u8>::new());
    mem.read_into(0, &mut []).unwrap();
    assert_eq!(
        mem.write_from(0, b"x"),
        Err(BufferError::OutOfBounds {
            offset: 0,
            len: 1,
            size: 0
        })
    );
}

#[test]
fn from_bytes_copies_the_bytes() {
    let data: Vec<u8> = (0..=255).collect();
    let mem = SharedMemory::from_bytes(&data).unwrap();
    assert_eq!(mem.to_vec(), data);
}

#[test]
fn reads_and_writes_at_every_offset_and_length_round_trip() {
    // Covers partial head words, whole words and partial tail words.
    let len = 40;
    for offset in 0..len {
        for n in 0..=(len - offset) {
            let mem = SharedMemory::new(len).unwrap();
            let src: Vec<u8> = (0..n)
                .map(|i| (i as u8).wrapping_mul(7).wrapping_add(1))
                .collect();
            mem.write_from(offset, &src).unwrap();
            let mut expected = vec![0u8; len];
            expected[offset..offset + n].copy_from_slice(&src);
            assert_eq!(mem.to_vec(), expected, "offset {offset} n {n}");
            let mut back = vec![0u8; n];
            mem.read_into(offset, &mut back).unwrap();
            assert_eq!(back, src, "offset {offset} n {n}");
        }
    }
}

#[test]
fn out_of_bounds_access_is_an_error_and_changes_nothing() {
    let mem = SharedMemory::from_bytes(b"abcdef").unwrap();
    let err = BufferError::OutOfBounds {
        offset: 4,
        len: 3,
        size: 6,
    };
    assert_eq!(mem.write_from(4, b"xyz"), Err(err));
    let mut dst = [9u8; 3];
    assert_eq!(mem.read_into(4, &mut dst), Err(err));
    assert_eq!(dst, [9; 3]);
    assert_eq!(mem.to_vec(), b"abcdef");
    assert!(matches!(
        mem.read_into(usize::MAX, &mut [0]),
        Err(BufferError::OutOfBounds { .. })
    ));
    assert!(matches!(
        mem.write_from(7, b""),
        Err(BufferError::OutOfBounds { .. })
    ));
    mem.write_from(6, b"").unwrap();
}

#[test]
fn absurd_sizes_fail_instead_of_aborting() {
    assert_eq!(
        SharedMemory::new(usize::MAX).unwrap_err(),
        BufferError::AllocFailed { len: usize::MAX }
    );
    assert!(SharedMemory::new(isize::MAX as usize).is_err());
}

#[test]
fn memory_lives_while_any_arc_lives() {
    let mem = Arc::new(SharedMemory::from_bytes(b"shared!").unwrap());
    let addr = mem.as_ptr() as usize;
    let handle = SharedBuffer::new(Arc::clone(&mem));
    drop(mem);
    let reader = thread::spawn(move || {
        assert_eq!(handle.as_ptr() as usize, addr, "never moves");
        handle.to_vec()
    });
    assert_eq!(reader.join().unwrap(), b"shared!");
}

#[test]
fn readonly_handles_refuse_writes_but_see_them() {
    let writable = SharedBuffer::new(Arc::new(SharedMemory::new(4).unwrap()));
    let readonly = writable.to_readonly();
    assert!(readonly.is_readonly() && !writable.is_readonly());
    assert_eq!(readonly.write_from(0, b"x"), Err(BufferError::ReadOnly));
    assert_eq!(readonly.as_mut_ptr(), Err(BufferError::ReadOnly));
    assert_eq!(
        writable.as_mut_ptr().unwrap().cast_const(),
        readonly.as_ptr()
    );
    writable.write_from(1, b"ok").unwrap();
    let mut out = [0; 2];
    readonly.read_into(1, &mut out).unwrap();
    assert_eq!(&out, b"ok");
    assert_eq!(readonly.len(), 4);
    assert!(Arc::ptr_eq(readonly.memory(), writable.memory()));
}

#[test]
fn concurrent_writers_to_disjoint_ranges_do_not_disturb_each_other() {
    // Ranges share words at their edges, exercising the partial-word updates.
    let mem = Arc::new(SharedMemory::new(4 * 1001).unwrap());
    let writers: Vec<_> = (0..4u8)
        .map(|t| {
            let mem = Arc::clone(&mem);
            thread::spawn(move || {
                let start = t as usize * 1001;
                for round in 0..200u8 {
                    for i in 0..1001 {
                        mem.write_from(start + i, &[round ^ t]).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let bytes = mem.to_vec();
    for t in 0..4u8 {
        let range = t as usize * 1001..(t as usize + 1) * 1001;
        assert!(bytes[range].iter().all(|&b| b == 199 ^ t), "writer {t}");
    }
}

#[test]
fn a_second_mapping_of_the_fd_shares_the_bytes_and_outlives_the_first() {
    let first = SharedMemory::new(100).unwrap();
    let second = SharedMemory::from_fd(first.fd().try_clone_to_owned().unwrap(), 100).unwrap();
    assert_ne!(first.as_ptr(), second.as_ptr(), "two mappings");
    first.write_from(10, b"shared").unwrap();
    let mut out = [0; 6];
    second.read_into(10, &mut out).unwrap();
    assert_eq!(&out, b"shared");
    second.write_from(0, b"back").unwrap();
    drop(first);
    // The bytes live while any mapping or descriptor of the file does.
    assert_eq!(&second.to_vec()[..4], b"back");
    assert_eq!(&second.to_vec()[10..16], b"shared");
}

#[test]
fn from_fd_refuses_a_file_smaller_than_the_region() {
    let small = SharedMemory::new(8).unwrap();
    let err = SharedMemory::from_fd(small.fd().try_clone_to_owned().unwrap(), 4096).unwrap_err();
    assert_eq!(
        err,
        BufferError::TooSmall {
            len: 4096,
            actual: 8
        }
    );
    let empty = SharedMemory::new(0).unwrap();
    let again = SharedMemory::from_fd(empty.fd().try_clone_to_owned().unwrap(), 0).unwrap();
    assert!(again.is_empty());
}

#[test]
fn the_memory_file_cannot_be_resized_by_anyone_holding_it() {
    use std::os::fd::AsRawFd;
    let mem = SharedMemory::from_bytes(b"sealed").unwrap();
    // Another process holding the descriptor could do this: it must fail, not leave every
    // other mapping to fault on its next access.
    // SAFETY: a valid descriptor of our memory file.
    let shrunk = unsafe { libc::ftruncate(mem.fd().as_raw_fd(), 0) };
    assert_eq!(shrunk, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
    assert_eq!(&mem.to_vec(), b"sealed");
}

#[test]
fn a_read_only_descriptor_maps_read_only_and_refuses_writes() {
    let mem = SharedMemory::from_bytes(b"abc").unwrap();
    let ro = SharedMemory::from_fd(mem.read_only_fd().unwrap(), 3).unwrap();
    assert!(ro.is_read_only() && !mem.is_read_only());
    assert_eq!(ro.write_from(0, b"x"), Err(BufferError::ReadOnly));
    assert!(SharedBuffer::new(std::sync::Arc::new(ro)).is_readonly());
    mem.write_from(0, b"z").unwrap(); // the writer's changes are seen through it
    let again = SharedMemory::from_fd(mem.read_only_fd().unwrap(), 3).unwrap();
    assert_eq!(&again.to_vec(), b"zbc");
}
