//! The process allocator: the system allocator, except that a request of 1 GiB or more
//! only reserves address space (an anonymous `mmap` with `MAP_NORESERVE`), which the
//! kernel backs with memory page by page as it is touched.
//!
//! Why: the Kafka codecs size collections from counts read off the wire before reading
//! the elements (`Vec::with_capacity(n)`), so a 30-byte request claiming two billion
//! topics asks for hundreds of GiB. The system allocator refuses, and Rust aborts the
//! process: one bad frame would take the broker down. Reserved address space is cheap;
//! the decoder then runs out of input after a few bytes, returns an error, and the
//! reservation is unmapped. No allocation Floe makes on purpose is that large (frames
//! are limited to `server.max_frame_bytes`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::null_mut;

/// Allocations at least this large are reservations.
const RESERVE_FROM: usize = 1 << 30;
const PAGE: usize = 4096;

/// See the module documentation.
#[derive(Debug)]
pub struct Allocator;

fn reserved(layout: Layout) -> bool {
    layout.size() >= RESERVE_FROM && layout.align() <= PAGE
}

#[allow(unsafe_code)] // A global allocator is unsafe by definition; this one is small.
// SAFETY: every pointer handed out comes from `System` or from `mmap` of at least the
// requested size with page alignment (which covers `align <= PAGE`), and is returned to
// the same source: `reserved(layout)` decides both ways, from the same layout.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !reserved(layout) {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: an anonymous private mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED { null_mut() } else { p.cast() }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if reserved(layout) {
            // SAFETY: anonymous mappings are zero-filled.
            unsafe { self.alloc(layout) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if reserved(layout) {
            // SAFETY: `ptr` came from the mmap above with this same size.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` and `layout.align()` form a layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !reserved(layout) && !reserved(new_layout) {
            // SAFETY: both sides are the system allocator's.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a fresh block, then a copy of the part both blocks have.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn reservations_are_far_larger_than_memory_and_free() {
        // 512 GiB: no machine here has it, and nothing is touched, so nothing is used.
        let layout = Layout::from_size_align(512 << 30, 8).unwrap();
        // SAFETY: a valid, non-zero layout; freed with the same layout.
        unsafe {
            let p = Allocator.alloc(layout);
            assert!(!p.is_null());
            p.write(7);
            assert_eq!(p.read(), 7);
            Allocator.dealloc(p, layout);
        }
    }
}
