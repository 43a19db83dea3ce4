//! Frame parsing allocates nothing: FrameIter / parse_frame / crc_ok / peek_header over a
//! buffer of many TLVs, counted with a global allocator that counts only on this thread
//! while armed (the test harness's own threads do not disturb it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use okclink_wire::frame::{parse_frame, peek_header, FrameIter};
use okclink_wire::message::{build_tlv, peek_data_tag};
use okclink_wire::pipeline::Key;

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // try_with: the allocator may run during thread-local teardown.
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        System.realloc(p, l, n)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (COUNT.with(|c| c.get()), r)
}

#[test]
fn frame_parsing_allocates_nothing() {
    let key = Key::DEFAULT;
    let mut buf = Vec::new();
    for i in 0..200u16 {
        let payload = vec![b'a' + (i % 26) as u8; (i as usize * 37) % 1500];
        buf.extend_from_slice(&build_tlv(&key, i % 12, &payload));
    }
    // A truncated TLV at the end: the error path must not allocate either.
    let tail = build_tlv(&key, 1, b"tail");
    buf.extend_from_slice(&tail[..tail.len() - 5]);

    let (n, (frames, ok, bytes, errors)) = allocations(|| {
        let (mut frames, mut ok, mut bytes, mut errors) = (0usize, 0usize, 0usize, 0usize);
        let mut it = FrameIter::new(&buf);
        for f in it.by_ref() {
            match f {
                Ok(f) => {
                    frames += 1;
                    ok += f.crc_ok() as usize;
                    bytes += f.cipher().len() + f.wire_len() + f.tag as usize;
                }
                Err(_) => errors += 1,
            }
        }
        bytes += it.remainder().len();
        let mut off = 0;
        while let Ok(f) = parse_frame(&buf[off..]) {
            off += f.wire_len();
            bytes += peek_header(&buf[off..]).map_or(0, |(t, _)| t as usize);
        }
        bytes += peek_data_tag(&buf).unwrap_or(0) as usize;
        (frames, ok, bytes, errors)
    });
    assert_eq!(n, 0, "frame parsing allocated {n} times");
    assert_eq!(frames, 200);
    assert_eq!(ok, 200);
    assert_eq!(errors, 1);
    assert!(bytes > 0);
}

#[test]
fn the_counter_counts() {
    // The harness can see allocations (so the zero above means something).
    let (n, v) = allocations(|| build_tlv(&Key::DEFAULT, 1, b"x"));
    assert!(n >= 1, "counted {n}");
    assert_eq!(v.len(), 24);
}
