//! The C heap (`malloc` and friends) of the static musl build.
//!
//! zig, which links our musl binaries, no longer ships musl's mallocng: its
//! libc exports `malloc` from Zig's `SmpAllocator` (weak symbols). That
//! allocator keeps one free list per CPU and size class, never returns a
//! slab to the kernel, and when the list of the CPU slot a thread is on is
//! empty and the other slot is busy, it maps a fresh 64 KiB slab instead of
//! waiting. picoclaw frees on one thread what it allocated on another
//! (tokio's blocking pool), so freed memory piles up on the "wrong" slot
//! and RSS grew ~13 MiB over 10,000 messages while the live heap stayed at
//! 2.5 MB (benches/results/rss-growth.md has the measurements).
//!
//! This module overrides those weak symbols with one dlmalloc arena behind
//! one lock: freed memory is reusable by every thread, neighbours coalesce,
//! and blocks of [`MMAP_THRESHOLD`] or more get their own mapping, returned
//! to the kernel on `free` (as musl's and glibc's allocators do), so a
//! large transient buffer leaves nothing behind. Rust's `System` allocator
//! calls `malloc`, so Rust and C (SQLite, libc) share the arena.
//!
//! Every block carries a 16-byte header just before the pointer returned,
//! holding where the block starts and its size, so `free`, `realloc` and
//! `malloc_usable_size` need nothing from dlmalloc's internals.
//!
//! The symbols are only exported on musl; the glibc build keeps glibc's
//! malloc. The functions themselves build everywhere, for the tests.

use std::cell::UnsafeCell;
use std::ptr;

use dlmalloc::Dlmalloc;

/// Requests of this size or more are mapped on their own (musl's
/// mallocng uses the same threshold, ~128 KiB).
pub const MMAP_THRESHOLD: usize = 128 * 1024;
/// A free of a block this large asks dlmalloc to give back the free top of
/// its arena beyond [`TRIM_PAD`]; dlmalloc's own threshold is 2 MiB, too
/// much on a 256 MB board that idles at under 4 MiB.
const TRIM_AFTER: usize = 32 * 1024;
const TRIM_PAD: usize = 128 * 1024;

const HEADER: usize = 16;
/// malloc's alignment on every Linux target we ship (max_align_t).
const MIN_ALIGN: usize = 16;
/// Set in [`Header::size`] for a block that is its own mapping.
const MAPPED: usize = 1 << (usize::BITS - 1);
const PAGE: usize = 4096;

#[repr(C)]
struct Header {
    /// What dlmalloc returned, or the start of the mapping.
    base: *mut u8,
    /// The size asked for, with [`MAPPED`] set for a mapping; a mapping's
    /// length is `round_up(HEADER + size, PAGE)` from the block's start.
    size: usize,
}

struct Heap {
    lock: UnsafeCell<libc::pthread_mutex_t>,
    arena: UnsafeCell<Dlmalloc>,
}

// SAFETY: `arena` is only touched with `lock` held (see `with_arena`).
unsafe impl Sync for Heap {}

static HEAP: Heap = Heap {
    lock: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
    arena: UnsafeCell::new(Dlmalloc::new()),
};

fn with_arena<T>(f: impl FnOnce(&mut Dlmalloc) -> T) -> T {
    // SAFETY: a statically initialised mutex; locking it cannot fail
    // except on deadlock, which the callers below cannot cause (nothing
    // inside allocates).
    unsafe {
        libc::pthread_mutex_lock(HEAP.lock.get());
        let r = f(&mut *HEAP.arena.get());
        libc::pthread_mutex_unlock(HEAP.lock.get());
        r
    }
}

/// Makes the heap usable in a forked child: the lock is taken around
/// `fork` so no other thread holds it at the moment of the copy. Call once
/// at start-up, before any thread is spawned.
#[cfg(target_env = "musl")]
pub fn init() {
    unsafe extern "C" fn lock() {
        // SAFETY: see `with_arena`.
        unsafe { libc::pthread_mutex_lock(HEAP.lock.get()) };
    }
    unsafe extern "C" fn unlock() {
        // SAFETY: the forking thread took the lock in `lock`; in the child
        // that thread is the only one left, and it owns the lock.
        unsafe { libc::pthread_mutex_unlock(HEAP.lock.get()) };
    }
    // SAFETY: registers plain functions; fails only on ENOMEM, in which
    // case a child that allocates could deadlock — picoclaw's children
    // (the sandbox) do not allocate between fork and exec.
    unsafe {
        libc::pthread_atfork(Some(lock), Some(unlock), Some(unlock));
    }
}

fn header(p: *mut u8) -> *mut Header {
    p.wrapping_sub(HEADER).cast()
}

fn mapping_len(size: usize) -> Option<usize> {
    size.checked_add(HEADER + PAGE - 1).map(|n| n & !(PAGE - 1))
}

/// `malloc`/`memalign`: `size` bytes aligned to `align` (a power of two),
/// or null.
///
/// # Safety
/// `align` must be a power of two.
pub unsafe fn alloc(size: usize, align: usize) -> *mut u8 {
    let align = align.max(MIN_ALIGN);
    if align == MIN_ALIGN && size >= MMAP_THRESHOLD {
        let Some(len) = mapping_len(size) else {
            return ptr::null_mut();
        };
        // SAFETY: a fresh private anonymous mapping.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return ptr::null_mut();
        }
        let base = base.cast::<u8>();
        let p = base.wrapping_add(HEADER);
        // SAFETY: the header lies inside the mapping, 16-aligned.
        unsafe {
            header(p).write(Header {
                base,
                size: size | MAPPED,
            })
        };
        return p;
    }
    // The header sits just below the returned pointer; with a larger
    // alignment, `align` bytes in front leave room for it.
    let Some(total) = size.checked_add(if align == MIN_ALIGN { HEADER } else { align }) else {
        return ptr::null_mut();
    };
    if total & MAPPED != 0 {
        return ptr::null_mut();
    }
    let base = with_arena(|a| {
        // SAFETY: `align` is a power of two.
        unsafe { a.c_memalign(align, total) }
    });
    if base.is_null() {
        return base;
    }
    let p = base.wrapping_add(if align == MIN_ALIGN { HEADER } else { align });
    // SAFETY: `p - HEADER` is inside the block and 16-aligned.
    unsafe { header(p).write(Header { base, size }) };
    p
}

/// `free`.
///
/// # Safety
/// `p` is null or came from [`alloc`]/[`realloc`] and was not freed.
pub unsafe fn free(p: *mut u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: every block has its header.
    let h = unsafe { header(p).read() };
    if h.size & MAPPED != 0 {
        let size = h.size & !MAPPED;
        if let Some(len) = mapping_len(size) {
            // SAFETY: the mapping made in `alloc` (or `realloc`).
            unsafe { libc::munmap(h.base.cast(), len) };
        }
        return;
    }
    with_arena(|a| {
        // SAFETY: `base` is what dlmalloc returned for this block.
        unsafe { a.c_free(h.base) };
        if h.size >= TRIM_AFTER {
            // SAFETY: plain arena maintenance.
            unsafe { a.trim(TRIM_PAD) };
        }
    });
}

/// The size the block was asked for (what `malloc_usable_size` reports).
///
/// # Safety
/// As for [`free`]; `p` must not be null.
pub unsafe fn size_of(p: *mut u8) -> usize {
    // SAFETY: every block has its header.
    unsafe { header(p).read().size & !MAPPED }
}

/// Whether `p` is its own fresh mapping, i.e. already zeroed (for calloc:
/// clearing it would only fault in pages the caller may never touch).
///
/// # Safety
/// As for [`size_of`].
pub unsafe fn is_mapping(p: *mut u8) -> bool {
    // SAFETY: every block has its header.
    unsafe { header(p).read().size & MAPPED != 0 }
}

/// `realloc` (natural alignment, as C asks). Null `p` allocates; on failure
/// returns null and leaves `p` intact.
///
/// # Safety
/// As for [`free`].
pub unsafe fn realloc(p: *mut u8, new_size: usize) -> *mut u8 {
    if p.is_null() {
        // SAFETY: 16 is a power of two.
        return unsafe { alloc(new_size, MIN_ALIGN) };
    }
    // SAFETY: every block has its header.
    let h = unsafe { header(p).read() };
    let old_size = h.size & !MAPPED;
    let natural = h.base.wrapping_add(HEADER) == p;
    let mapped = h.size & MAPPED != 0;
    if mapped && new_size >= MMAP_THRESHOLD {
        if let (Some(old_len), Some(new_len)) = (mapping_len(old_size), mapping_len(new_size)) {
            // SAFETY: resizing our own mapping; the kernel copies the
            // pages if it has to move it.
            let base =
                unsafe { libc::mremap(h.base.cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
            if base == libc::MAP_FAILED {
                return ptr::null_mut();
            }
            let base = base.cast::<u8>();
            let q = base.wrapping_add(HEADER);
            // SAFETY: the header lies inside the (moved) mapping.
            unsafe {
                header(q).write(Header {
                    base,
                    size: new_size | MAPPED,
                })
            };
            return q;
        }
        return ptr::null_mut();
    }
    if !mapped && natural && new_size < MMAP_THRESHOLD {
        let Some(total) = new_size.checked_add(HEADER) else {
            return ptr::null_mut();
        };
        // dlmalloc grows or shrinks in place when it can.
        let base = with_arena(|a| {
            // SAFETY: `base` is what dlmalloc returned for this block.
            unsafe { a.c_realloc(h.base, total) }
        });
        if base.is_null() {
            return base;
        }
        let q = base.wrapping_add(HEADER);
        // SAFETY: the header lies inside the block (its bytes moved along).
        unsafe {
            header(q).write(Header {
                base,
                size: new_size,
            })
        };
        return q;
    }
    // Crossing the threshold, or an over-aligned block: move it.
    // SAFETY: 16 is a power of two.
    let q = unsafe { alloc(new_size, MIN_ALIGN) };
    if !q.is_null() {
        // SAFETY: both blocks hold at least this many bytes and are
        // distinct.
        unsafe {
            ptr::copy_nonoverlapping(p, q, old_size.min(new_size));
            free(p);
        }
    }
    q
}

/// The C entry points, replacing the weak ones in zig's libc.
#[cfg(target_env = "musl")]
mod exports {
    use super::{
        alloc, free as heap_free, is_mapping, realloc as heap_realloc, size_of, MIN_ALIGN, PAGE,
    };
    use libc::{c_int, c_void, size_t};

    fn enomem() -> *mut c_void {
        // SAFETY: errno is thread-local.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        std::ptr::null_mut()
    }

    fn checked(p: *mut u8) -> *mut c_void {
        if p.is_null() {
            enomem()
        } else {
            p.cast()
        }
    }

    #[no_mangle]
    pub unsafe extern "C" fn malloc(size: size_t) -> *mut c_void {
        // SAFETY: 16 is a power of two.
        checked(unsafe { alloc(size, MIN_ALIGN) })
    }

    #[no_mangle]
    pub unsafe extern "C" fn calloc(n: size_t, size: size_t) -> *mut c_void {
        let Some(total) = n.checked_mul(size) else {
            return enomem();
        };
        // SAFETY: 16 is a power of two; the block holds `total` bytes.
        unsafe {
            let p = alloc(total, MIN_ALIGN);
            if p.is_null() {
                return enomem();
            }
            // Reused arena memory is dirty; a fresh mapping is all zeros.
            if !is_mapping(p) {
                std::ptr::write_bytes(p, 0, total);
            }
            p.cast()
        }
    }

    #[no_mangle]
    pub unsafe extern "C" fn realloc(p: *mut c_void, size: size_t) -> *mut c_void {
        if size == 0 && !p.is_null() {
            // As glibc (and zig's libc before us): free, return null.
            // SAFETY: the caller's pointer came from this heap.
            unsafe { heap_free(p.cast()) };
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's pointer came from this heap.
        checked(unsafe { heap_realloc(p.cast(), size) })
    }

    #[no_mangle]
    pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: size_t, size: size_t) -> *mut c_void {
        match n.checked_mul(size) {
            // SAFETY: forwarded.
            Some(total) => unsafe { realloc(p, total) },
            None => enomem(),
        }
    }

    #[no_mangle]
    pub unsafe extern "C" fn free(p: *mut c_void) {
        // SAFETY: the caller's pointer came from this heap.
        unsafe { heap_free(p.cast()) }
    }

    #[no_mangle]
    pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> size_t {
        if p.is_null() {
            return 0;
        }
        // SAFETY: the caller's pointer came from this heap.
        unsafe { size_of(p.cast()) }
    }

    fn aligned(align: size_t, size: size_t) -> *mut u8 {
        if !align.is_power_of_two() {
            return std::ptr::null_mut();
        }
        // SAFETY: checked just above.
        unsafe { alloc(size, align) }
    }

    #[no_mangle]
    pub unsafe extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
        if !align.is_power_of_two() {
            // SAFETY: errno is thread-local.
            unsafe { *libc::__errno_location() = libc::EINVAL };
            return std::ptr::null_mut();
        }
        checked(aligned(align, size))
    }

    #[no_mangle]
    pub unsafe extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
        // SAFETY: forwarded.
        unsafe { aligned_alloc(align, size) }
    }

    #[no_mangle]
    pub unsafe extern "C" fn valloc(size: size_t) -> *mut c_void {
        checked(aligned(PAGE, size))
    }

    #[no_mangle]
    pub unsafe extern "C" fn posix_memalign(
        out: *mut *mut c_void,
        align: size_t,
        size: size_t,
    ) -> c_int {
        if !align.is_power_of_two() || align < std::mem::size_of::<*mut c_void>() {
            return libc::EINVAL;
        }
        let p = aligned(align, size);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller passes a valid out pointer.
        unsafe { *out = p.cast() };
        0
    }
}

#[cfg(test)]
#[path = "heap_tests.rs"]
mod tests;
